"""``briefings audit verify``: recompute every aggregate's hash chain and an export's digest.

A break is reported with the stream, sequence, aggregate, and the expected and found values.
Memory grows with the number of aggregates (one hash and version each), not with events.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from pydantic import ValidationError, create_model

from briefings.audit.records import EXPORT_FORMAT, AuditRecord
from briefings.audit.source import (
    STREAMS,
    live_history,
    read_export,
    read_manifest,
    stream_ends,
)
from contracts import awards, events, roster  # noqa: F401  (registers every event type)
from contracts.canonical import GENESIS_HASH, TIMESTAMP_PATTERN
from contracts.envelope import EventEnvelope
from contracts.registry import NewerSchemaVersion, UnknownEventType, registry
from contracts.subjects import parse_event_subject, stream_name

MAX_KEPT_BREAKS = 10_000
_UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)


_TYPED: dict[str, type[EventEnvelope] | None] = {}


def _typed_envelope(envelope: dict[str, Any]) -> type[EventEnvelope] | None:
    """``EventEnvelope`` with ``payload`` typed as the current version of its event, or None
    (unknown type, or another version: checked the long way, upcasters included)."""
    name = envelope.get("type")
    if not isinstance(name, str):
        return None
    if name not in _TYPED:
        try:
            event = registry.event_class(name)
        except UnknownEventType:
            _TYPED[name] = None
        else:
            _TYPED[name] = create_model(
                f"{name}Envelope", __base__=EventEnvelope, payload=(event, ...)
            )
    typed = _TYPED[name]
    if typed is None or envelope.get("schema_version") != registry.event_class(name).schema_version:
        return None
    return typed


def _same_json(data: bytes, envelope: dict[str, Any]) -> bool:
    try:
        return bool(json.loads(data) == envelope)
    except ValueError:
        return False


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '-'}: {err['msg']}"
        for err in exc.errors(include_url=False)[:5]
    )


@dataclass(frozen=True)
class Break:
    """One place where the history is not what the chain or the manifest says it must be."""

    kind: str
    stream: str | None = None
    seq: int | None = None
    aggregate: str | None = None
    expected: str | None = None
    found: str | None = None
    detail: str = ""

    def text(self) -> str:
        where = f"{self.stream or '-'}:{self.seq if self.seq is not None else '-'}"
        parts = [f"{self.kind:<20} {where:<16} {self.aggregate or '-'}"]
        if self.expected is not None or self.found is not None:
            parts.append(f"expected {self.expected} found {self.found}")
        if self.detail:
            parts.append(self.detail)
        return "  ".join(parts)


@dataclass
class _Link:
    hash: bytes
    version: int
    seq: int


@dataclass
class VerifyReport:
    events: int = 0
    aggregates: int = 0
    unanchored: int = 0
    streams: dict[str, dict[str, int]] = field(default_factory=dict)
    breaks: list[Break] = field(default_factory=list)
    break_count: int = 0
    digest: str | None = None

    @property
    def ok(self) -> bool:
        return self.break_count == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "aggregates": self.aggregates,
            "unanchored_aggregates": self.unanchored,
            "streams": self.streams,
            "digest": self.digest,
            "break_count": self.break_count,
            "breaks": [asdict(b) for b in self.breaks],
        }


class ChainVerifier:
    """Feed records in stream order; every check of contracts/HASHING.md is applied.

    ``complete``: every stream is expected from sequence 1 and every chain from its first
    event. A time-windowed export is not complete: an aggregate's first event in it is
    taken as the anchor of its chain (counted as ``unanchored``), not checked against genesis.
    """

    def __init__(self, complete: bool = True) -> None:
        self.complete = complete
        self.report = VerifyReport()
        self._links: dict[str, _Link] = {}
        self._last_seq: dict[str, int] = {}

    def flag(self, brk: Break) -> None:
        self.report.break_count += 1
        if len(self.report.breaks) < MAX_KEPT_BREAKS:
            self.report.breaks.append(brk)

    def feed(self, record: AuditRecord) -> None:
        report = self.report
        report.events += 1
        entry = report.streams.setdefault(record.stream, {"events": 0, "last_seq": 0})
        entry["events"] += 1
        entry["last_seq"] = max(entry["last_seq"], record.seq)
        self._check_sequence(record)
        envelope = record.envelope
        if envelope is None:
            self.flag(
                Break(
                    "unreadable",
                    record.stream,
                    record.seq,
                    record.subject,
                    detail="stored bytes are not a JSON envelope",
                )
            )
            return
        if not record.canonical:
            self.flag(
                Break(
                    "not_canonical",
                    record.stream,
                    record.seq,
                    record.subject,
                    detail="stored bytes differ from their canonical form",
                )
            )
        if record.raw is not None and not _same_json(record.raw, envelope):
            self.flag(
                Break(
                    "unreadable",
                    record.stream,
                    record.seq,
                    record.subject,
                    detail="the stored bytes (data_b64) are not the envelope the line shows",
                )
            )
        aggregate = f"{envelope.get('aggregate_type')}/{envelope.get('aggregate_id')}"
        self._check_forms(record, envelope, aggregate)
        self._check_schemas(record, aggregate)
        self._check_subject(record, envelope, aggregate)
        key = record.subject
        # The link is over the bytes as stored: a non-canonical event is reported above, at
        # itself, and the next event of its aggregate (which names those bytes) is intact.
        event_hash = bytes.fromhex(record.chain_hash())
        version = envelope.get("aggregate_version")
        prev_hash = envelope.get("prev_hash")
        link = self._links.get(key)
        if link is None:
            report.aggregates += 1
            if not self.complete and (version != 1 or prev_hash != GENESIS_HASH):
                report.unanchored += 1  # its earlier events lie before the window
            else:
                if prev_hash != GENESIS_HASH:
                    self.flag(
                        Break(
                            "not_genesis",
                            record.stream,
                            record.seq,
                            aggregate,
                            GENESIS_HASH,
                            str(prev_hash),
                            "an aggregate's first event must have the genesis prev_hash",
                        )
                    )
                if version != 1:
                    self.flag(
                        Break(
                            "version_gap",
                            record.stream,
                            record.seq,
                            aggregate,
                            "1",
                            str(version),
                            "an aggregate's first event must be version 1",
                        )
                    )
        else:
            if prev_hash != link.hash.hex():
                self.flag(
                    Break(
                        "prev_hash_mismatch",
                        record.stream,
                        record.seq,
                        aggregate,
                        link.hash.hex(),
                        str(prev_hash),
                        f"the aggregate's previous event is seq {link.seq}",
                    )
                )
            if version != link.version + 1:
                self.flag(
                    Break(
                        "version_gap",
                        record.stream,
                        record.seq,
                        aggregate,
                        str(link.version + 1),
                        str(version),
                        f"the aggregate's previous event is seq {link.seq}",
                    )
                )
        self._links[key] = _Link(
            event_hash, version if isinstance(version, int) else -1, record.seq
        )

    def _check_forms(self, record: AuditRecord, envelope: dict[str, Any], aggregate: str) -> None:
        """Fields in the one text form the services write (an old writer's unpadded year
        ``202-04-30T…`` is read, but named here)."""
        for name, pattern, form in (
            ("event_id", _UUID_TEXT, "a lower-case UUID"),
            ("occurred_at", _TIMESTAMP, "YYYY-MM-DDTHH:MM:SS.ffffffZ"),
            ("recorded_at", _TIMESTAMP, "YYYY-MM-DDTHH:MM:SS.ffffffZ"),
        ):
            value = envelope.get(name)
            if isinstance(value, str) and not pattern.match(value):
                self.flag(
                    Break(
                        "not_canonical",
                        record.stream,
                        record.seq,
                        aggregate,
                        form,
                        value,
                        f"{name} is not in its canonical form",
                    )
                )

    def _check_schemas(self, record: AuditRecord, aggregate: str) -> None:
        """The envelope and its payload against their schemas, strictly (no "1" for 1)."""
        typed = _typed_envelope(record.envelope or {})
        if typed is not None:
            # The usual case, in one pass: an envelope whose payload is typed by its event.
            try:
                typed.model_validate_json(record.stored_bytes(), strict=True)
                return
            except ValidationError:
                pass  # said below, envelope and payload apart
        try:
            envelope = EventEnvelope.from_bytes(record.stored_bytes())
        except ValidationError as exc:
            self.flag(
                Break(
                    "invalid_envelope",
                    record.stream,
                    record.seq,
                    aggregate,
                    detail=_errors(exc),
                )
            )
            return
        try:
            registry.decode(envelope)
        except NewerSchemaVersion:
            return  # written by newer code: its schema is not known here
        except UnknownEventType as exc:
            self.flag(
                Break("invalid_payload", record.stream, record.seq, aggregate, detail=str(exc))
            )
        except ValidationError as exc:
            self.flag(
                Break(
                    "invalid_payload",
                    record.stream,
                    record.seq,
                    aggregate,
                    detail=f"{envelope.type} v{envelope.schema_version}: {_errors(exc)}",
                )
            )

    def _check_sequence(self, record: AuditRecord) -> None:
        last = self._last_seq.get(record.stream)
        if last is None:
            expected = 1 if self.complete else None
        else:
            expected = last + 1
        if expected is not None and record.seq != expected:
            kind = "out_of_order" if last is not None and record.seq <= last else "sequence_gap"
            self.flag(
                Break(
                    kind,
                    record.stream,
                    record.seq,
                    record.subject,
                    str(expected),
                    str(record.seq),
                    "stream sequences must follow one another",
                )
            )
        self._last_seq[record.stream] = max(last or 0, record.seq)

    def _check_subject(self, record: AuditRecord, envelope: dict[str, Any], aggregate: str) -> None:
        try:
            context, aggregate_type, aggregate_id = parse_event_subject(record.subject)
        except ValueError:
            self.flag(
                Break(
                    "subject_mismatch",
                    record.stream,
                    record.seq,
                    aggregate,
                    "ev.<context>.<type>.<id>",
                    record.subject,
                )
            )
            return
        if (aggregate_type, aggregate_id) != (
            envelope.get("aggregate_type"),
            envelope.get("aggregate_id"),
        ) or stream_name(context) != record.stream:
            self.flag(
                Break(
                    "subject_mismatch",
                    record.stream,
                    record.seq,
                    aggregate,
                    f"ev.{context}.{envelope.get('aggregate_type')}."
                    f"{envelope.get('aggregate_id')} in {stream_name(context)}",
                    record.subject,
                )
            )

    def finish_stream(self, stream: str, last_seq: int) -> None:
        """Events missing at the end of a stream (the live last sequence is known)."""
        seen = self._last_seq.get(stream, 0)
        if seen < last_seq:
            self.flag(
                Break(
                    "sequence_gap",
                    stream,
                    seen + 1,
                    None,
                    str(last_seq),
                    str(seen),
                    "events missing at the end of the stream",
                )
            )


async def verify_live(
    nc: Client,
    streams: tuple[str, ...] = STREAMS,
    on_total: Callable[[int], None] | None = None,
    on_record: Callable[[AuditRecord], None] | None = None,
) -> VerifyReport:
    """Verify the streams as they stand now, from their first sequence."""
    verifier = ChainVerifier(complete=True)
    ends = await stream_ends(nc, streams)
    if on_total is not None:
        on_total(sum(ends.values()))
    async for record in live_history(nc, ends):
        verifier.feed(record)
        if on_record is not None:
            on_record(record)
    for stream, end in ends.items():
        verifier.finish_stream(stream, end)
    return verifier.report


def verify_export(
    path: Path,
    expect_digest: str | None = None,
    on_record: Callable[[AuditRecord], None] | None = None,
) -> VerifyReport:
    """Verify an export file: its chains, its sequences, and its manifest (digest, counts)."""
    digest = hashlib.sha256()
    manifest: dict[str, Any] | None = None
    after_manifest = 0
    # The manifest says whether the export is complete; it is the last line, read first.
    declared = read_manifest(path)
    verifier = ChainVerifier(complete=bool(declared.get("complete", True)) if declared else True)
    for line, obj in read_export(path):
        if isinstance(obj, dict) and "manifest" in obj:
            if manifest is not None:
                verifier.flag(Break("manifest", detail="more than one manifest line"))
            manifest = obj["manifest"]
            continue
        if manifest is not None:
            after_manifest += 1
        digest.update(line)
        digest.update(b"\n")
        try:
            record = AuditRecord.from_line_object(obj)
        except (KeyError, TypeError, ValueError) as exc:
            verifier.flag(Break("unreadable", detail=f"line is not an export record: {exc}"))
            continue
        verifier.feed(record)
        if on_record is not None:
            on_record(record)
    report = verifier.report
    report.digest = digest.hexdigest()
    if manifest is None:
        verifier.flag(Break("manifest", detail="no manifest line: the export is truncated"))
        return report
    if after_manifest:
        verifier.flag(
            Break(
                "manifest",
                expected="0",
                found=str(after_manifest),
                detail="lines after the manifest",
            )
        )
    if manifest.get("format") != EXPORT_FORMAT:
        verifier.flag(
            Break(
                "manifest",
                expected=EXPORT_FORMAT,
                found=str(manifest.get("format")),
                detail="unknown export format",
            )
        )
    if manifest.get("digest") != report.digest:
        verifier.flag(
            Break(
                "digest_mismatch",
                expected=str(manifest.get("digest")),
                found=report.digest,
                detail="the lines are not those the manifest was computed over",
            )
        )
    if manifest.get("events") != report.events:
        verifier.flag(
            Break(
                "count_mismatch",
                expected=str(manifest.get("events")),
                found=str(report.events),
                detail="events in the export",
            )
        )
    for stream, declared_stream in (manifest.get("streams") or {}).items():
        seen = report.streams.get(stream, {"events": 0, "last_seq": 0})
        for key in ("events", "last_seq"):
            if declared_stream.get(key) != seen[key]:
                verifier.flag(
                    Break(
                        "count_mismatch",
                        stream,
                        expected=str(declared_stream.get(key)),
                        found=str(seen[key]),
                        detail=f"{key} of the stream",
                    )
                )
    if expect_digest is not None and expect_digest != report.digest:
        verifier.flag(
            Break(
                "digest_mismatch",
                expected=expect_digest,
                found=report.digest,
                detail="not the export whose digest was recorded",
            )
        )
    return report
