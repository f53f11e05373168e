"""Report receipts: what a summary was computed from, so anyone can recompute it later.

The reporting service's replies carry the receipt's basis (``reply["data"]["receipt"]``: the
cut it read in one snapshot, per-stream running digests, the projection version, the query);
whoever renders the summary adds the rendering (``complete``). A replay issues the same.

A receipt names the cut (each stream's last sequence, and the as-of / occurred-until filters),
the digest of the events read, the projection code version, the query, the rendering, and the
digest of the rendered output. ``check`` replays exactly that cut and compares.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from briefings.audit.records import parse_time
from briefings.audit.replay import Cut, Replay
from briefings.report import document
from briefings.report.formats import render_summary
from contracts.canonical import sha256_hex
from contracts.reporting import RECEIPT_FORMAT, AnnualSummaryQuery
from services.reporting import read_model as reporting

OLD_FORMATS = ("briefings-report-receipt/1",)


def render(replay: Replay, query: AnnualSummaryQuery, fmt: str = "text", lang: str = "en") -> str:
    return render_summary(replay.summary(query), fmt, lang)


def output_digest(output: str) -> str:
    return sha256_hex(output.encode("utf-8"))


def basis(replay: Replay, query: AnnualSummaryQuery) -> dict[str, Any]:
    """Everything but the rendering: what the reporting service's reply carries."""
    out: dict[str, Any] = {
        "receipt": RECEIPT_FORMAT,
        "cut": dict(sorted(replay.cut_vector.items())),
        "streams": {s: dict(e) for s, e in sorted(replay.digest.streams.items())},
        "events": replay.digest.count,
        "events_digest": replay.digest.hexdigest(),
        "projection_version": reporting.PROJECTION_VERSION,
        "query": query.model_dump(mode="json", exclude_none=True),
    }
    occurred = replay.cut.describe()["occurred_until"]
    if occurred is not None:
        out["occurred_until"] = occurred
    return out


def complete(basis: dict[str, Any], output: str, fmt: str, lang: str) -> dict[str, Any]:
    """A receipt: a basis (the service's or a replay's) and the rendered output's digest."""
    return {**basis, "format": fmt, "lang": lang, "output_digest": output_digest(output)}


def issue(
    replay: Replay, query: AnnualSummaryQuery, output: str, fmt: str, lang: str
) -> dict[str, Any]:
    return complete(basis(replay, query), output, fmt, lang)


@dataclass
class Reissued:
    """An issued report's documents written again from a replay of its receipt's cut."""

    documents: dict[str, bytes]
    findings: list[str]

    @property
    def identical(self) -> bool:
        return not self.findings


def reissue(issued: dict[str, Any], replay: Replay) -> Reissued:
    """The documents of a recorded ``ReportIssued``: the figures from ``replay`` (which read
    its ``summary_receipt``'s cut), the words and layout from the event and the template.
    ``findings`` says what differs from what was issued (nothing, when it is the same)."""
    recorded = issued["summary_receipt"]
    query = AnnualSummaryQuery.model_validate(issued["query"])
    findings = []
    if document.template_digest() != issued["template_digest"]:
        findings.append(
            "the template (briefings/report/templates) changed since the report was issued: "
            f"issued with {issued['template_digest'][:16]}, now {document.template_digest()[:16]}"
        )
    again = basis(replay, query)
    for key in ("events", "events_digest", "projection_version"):
        if recorded.get(key) != again.get(key):
            findings.append(f"{key} differ: issued {recorded.get(key)} replayed {again.get(key)}")
    documents = document.render_documents(
        replay.summary(query), document.issue_of(issued), recorded
    )
    for ext, digest in sorted(document.digests(documents).items()):
        if issued["documents"].get(ext) != digest:
            findings.append(f".{ext} differs from the issued document")
    return Reissued(documents, findings)


def write(receipt: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(receipt, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def load(path: Path) -> dict[str, Any]:
    """A receipt file, or (``-``) the receipt on standard input, such as the text a QR code
    on an issued report reads as."""
    return loads(sys.stdin.read() if str(path) == "-" else path.read_text())


def loads(text: str) -> dict[str, Any]:
    receipt: dict[str, Any] = json.loads(text)
    if receipt.get("receipt") in OLD_FORMATS:
        raise ValueError(
            f"a {receipt['receipt']} receipt (digest of export lines, before "
            f"{RECEIPT_FORMAT}): replay its cut with `briefings audit replay "
            "--until-seq` and compare the output digest by hand"
        )
    if receipt.get("receipt") != RECEIPT_FORMAT:
        raise ValueError(f"not a {RECEIPT_FORMAT} receipt")
    return receipt


def query_of(receipt: dict[str, Any]) -> AnnualSummaryQuery:
    return AnnualSummaryQuery.model_validate(receipt["query"])


def cut_of(receipt: dict[str, Any]) -> Cut:
    query = query_of(receipt)
    occurred = receipt.get("occurred_until")
    return Cut(
        until_seq={k: int(v) for k, v in receipt["cut"].items()},
        as_of=query.as_of,
        occurred_until=parse_time(occurred) if occurred else None,
    )


@dataclass
class Check:
    confirmed: bool
    findings: list[str]
    recomputed: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "confirmed": self.confirmed,
            "findings": self.findings,
            "recomputed": self.recomputed,
        }


def check(receipt: dict[str, Any], replay: Replay) -> Check:
    """Compare a receipt with the replay of its cut."""
    query = query_of(receipt)
    output = render(replay, query, receipt.get("format", "text"), receipt.get("lang", "en"))
    again = issue(replay, query, output, receipt.get("format", "text"), receipt.get("lang", "en"))
    findings = []
    for key, meaning in (
        ("events", "number of events read"),
        ("events_digest", "events of the cut"),
        ("projection_version", "projection code version"),
        ("output_digest", "report output"),
    ):
        if receipt.get(key) != again.get(key):
            findings.append(
                f"{meaning} differ: receipt {receipt.get(key)} recomputed {again.get(key)}"
            )
    # Which stream's events differ, when the receipt names per-stream digests.
    for stream, entry in sorted((receipt.get("streams") or {}).items()):
        found = again["streams"].get(stream)
        if found != entry:
            findings.append(f"events of {stream} differ: receipt {entry} recomputed {found}")
    return Check(not findings, findings, again)
