"""contracts/HASHING.md's worked example is recomputed from the page itself, both with our
code and with a from-scratch canonicaliser written from the page's rules."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from contracts.canonical import GENESIS_HASH, canonical_json

pytestmark = pytest.mark.fast

PAGE = Path(__file__).resolve().parents[2] / "contracts" / "HASHING.md"


def _example() -> tuple[list[bytes], list[str]]:
    text = PAGE.read_text(encoding="utf-8")
    lines = [b.encode("utf-8") for b in re.findall(r"^e\d = (\{.*\})$", text, re.M)]
    hashes = re.findall(r"^hash\(e\d\) = ([0-9a-f]{64})$", text, re.M)
    return lines, hashes


def _by_the_rules(value: Any) -> str:
    """Section 2, written independently of json.dumps."""
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{_by_the_rules(k)}:{_by_the_rules(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_by_the_rules(v) for v in value) + "]"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    short = {
        '"': '\\"',
        "\\": "\\\\",
        "\b": "\\b",
        "\f": "\\f",
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
    }
    out = []
    for ch in value:
        if ch in short:
            out.append(short[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def test_worked_example_hashes_and_chain() -> None:
    lines, hashes = _example()
    assert len(lines) == len(hashes) == 2
    previous = GENESIS_HASH
    for line, expected in zip(lines, hashes, strict=True):
        envelope = json.loads(line)
        assert canonical_json(envelope) == line
        assert _by_the_rules(envelope).encode("utf-8") == line
        assert hashlib.sha256(line).hexdigest() == expected
        assert envelope["prev_hash"] == previous
        previous = expected


def test_rules_agree_with_the_code_on_awkward_strings() -> None:
    value = {
        "é": "\u007f\u2028/\U0001f600",
        "a": ["\x00\x1f", -5, 0, True, None],
        "Z": {"y": 'Cấp thành phố "x" \\ \n'},
    }
    assert _by_the_rules(value).encode("utf-8") == canonical_json(value)


def test_worked_example_of_receipt_digests() -> None:
    """Section 6: running digests and events_digest, from the page's own numbers, and as the
    read model keeps them."""
    from contracts.reporting import AnnualSummaryQuery
    from runtime.eventstore import StoredEvent
    from services.reporting.read_model import ReadModel, memory_engine, receipt_basis

    text = PAGE.read_text(encoding="utf-8")
    lines, hashes = _example()
    d1, d2 = re.findall(r"^d\d\(ROSTER\) = ([0-9a-f]{64})$", text, re.M)
    digests = re.search(r"^digests = (\{.*\})$", text, re.M).group(1).encode("utf-8")
    expected = re.search(r"^events_digest = ([0-9a-f]{64})$", text, re.M).group(1)
    assert hashlib.sha256((GENESIS_HASH + hashes[0]).encode("ascii")).hexdigest() == d1
    assert hashlib.sha256((d1 + hashes[1]).encode("ascii")).hexdigest() == d2
    assert canonical_json(json.loads(digests)) == digests and json.loads(digests)["ROSTER"] == d2
    assert hashlib.sha256(digests).hexdigest() == expected

    model = ReadModel(memory_engine())
    model.apply(
        [StoredEvent("ROSTER", i + 1, "ev.roster.unit.city", line) for i, line in enumerate(lines)]
    )
    basis = receipt_basis(AnnualSummaryQuery(year=2022), model.cut())
    assert basis["events_digest"] == expected and basis["events"] == 2
    assert basis["streams"]["ROSTER"] == {"events": 2, "digest": d2}


def test_worked_example_of_an_event_stored_in_another_form() -> None:
    """§4's ``s3``: hashed over its bytes as stored, named ``not_canonical`` at itself by the
    verifier, and the next link (``s4``) intact."""
    from briefings.audit.records import AuditRecord
    from briefings.audit.verify import ChainVerifier

    text = PAGE.read_text(encoding="utf-8")
    first, _ = _example()
    stored = [b.encode("utf-8") for b in re.findall(r"^s\d = (\{.*\})$", text, re.M)]
    hashes = re.findall(r"^hash\(s\d\) = ([0-9a-f]{64})$", text, re.M)
    assert len(stored) == len(hashes) == 2
    s3, s4 = stored
    assert canonical_json(json.loads(s3)) != s3 and canonical_json(json.loads(s4)) == s4
    assert [hashlib.sha256(s).hexdigest() for s in stored] == hashes
    assert json.loads(s4)["prev_hash"] == hashes[0]
    assert json.loads(s3)["prev_hash"] == hashlib.sha256(first[1]).hexdigest()
    records = [
        AuditRecord.from_stored(
            "ROSTER", seq, "ev.roster.unit.city", "2022-10-01T01:00:00.000000Z", data
        )
        for seq, data in enumerate([*first, *stored], start=1)
    ]
    verifier = ChainVerifier(complete=True)
    for record in records:
        verifier.feed(record)
    breaks = verifier.report.breaks
    assert {(b.kind, b.seq) for b in breaks if b.seq in (3, 4)} == {("not_canonical", 3)}
    named = {b.detail.split(" ")[0] for b in breaks if b.seq == 3}
    assert {"event_id", "occurred_at", "recorded_at"} <= named
