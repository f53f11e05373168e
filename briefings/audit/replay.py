"""Replay a cut of the history into a fresh temporary read model (never the live one).

A cut is: for each stream, the last sequence included; optionally only the events recorded
by an instant (``as_of``: what the system knew then) and/or that occurred by an instant
(``occurred_until``). The same cut gives the same events, so the same summary bytes, whether
it is read from the live streams or from an export file.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from sqlalchemy import Engine

from briefings.audit.records import AuditRecord
from briefings.audit.source import STREAMS, export_records, live_records, stream_bounds
from contracts.canonical import format_datetime, sha256_hex
from contracts.reporting import AnnualSummaryQuery
from runtime.eventstore import StoredEvent
from runtime.sql import make_engine
from services.reporting import read_model as reporting
from services.reporting.domain import digest

BATCH = 2000


@dataclass(frozen=True)
class Cut:
    """Which events a replay reads. ``until_seq`` missing a stream: all of that stream."""

    until_seq: dict[str, int] = field(default_factory=dict)
    as_of: datetime | None = None
    occurred_until: datetime | None = None

    def admits(self, record: AuditRecord) -> bool:
        limit = self.until_seq.get(record.stream)
        if limit is not None and record.seq > limit:
            return False
        # The reporting service's as-of rule too: unreadable times are kept (the read model
        # reports such events as unappliable).
        return digest.admitted(record.envelope, self.as_of, self.occurred_until)

    def describe(self) -> dict[str, Any]:
        return {
            "until_seq": dict(sorted(self.until_seq.items())),
            "as_of": format_datetime(self.as_of) if self.as_of else None,
            "occurred_until": format_datetime(self.occurred_until) if self.occurred_until else None,
        }


class EventsDigest:
    """Per stream, the running digest of the events a replay read (the read model's own
    rule, recomputed here from the records: services/reporting/domain/digest.py,
    contracts/HASHING.md §6), and ``hexdigest`` over them: a receipt's ``events_digest``."""

    def __init__(self, streams: tuple[str, ...] = STREAMS) -> None:
        self.count = 0
        self.last_seq: dict[str, int] = {}
        self.streams: dict[str, dict[str, Any]] = {
            s: {"events": 0, "digest": digest.GENESIS} for s in streams
        }

    def add(self, record: AuditRecord) -> None:
        item = record.event_hash() or sha256_hex(record.raw or b"")
        entry = self.streams.setdefault(record.stream, {"events": 0, "digest": digest.GENESIS})
        entry["events"] += 1
        entry["digest"] = digest.chain(entry["digest"], item)
        self.count += 1
        self.last_seq[record.stream] = record.seq

    def hexdigest(self) -> str:
        return digest.events_digest({s: e["digest"] for s, e in self.streams.items()})


@dataclass
class Replay:
    """A read model built from a cut, in a temporary database removed by ``close``."""

    model: reporting.ReadModel
    engine: Engine
    digest: EventsDigest
    cut_vector: dict[str, int]
    cut: Cut
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def summary(self, query: AnnualSummaryQuery) -> dict[str, Any]:
        return self.model.annual_summary(query)

    def close(self) -> None:
        self.engine.dispose()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReplayBuilder:
    """Feeds admitted records to a fresh model in batches, digesting them as it goes."""

    def __init__(self, cut: Cut, also: Callable[[AuditRecord], None] | None = None) -> None:
        self.cut = cut
        self.also = also
        self._tmp = tempfile.TemporaryDirectory(prefix="briefings-audit-")
        self.engine = make_engine(f"sqlite:///{Path(self._tmp.name) / 'replay.db'}")
        self.model = reporting.ReadModel(self.engine)
        self.digest = EventsDigest()
        self.batch: list[StoredEvent] = []

    def add(self, record: AuditRecord) -> None:
        if not self.cut.admits(record):
            return
        self.digest.add(record)
        if self.also is not None:
            self.also(record)
        self.batch.append(record.to_stored_event())
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            self.model.apply(self.batch)
            self.batch = []

    def finish(self, cut_vector: dict[str, int]) -> Replay:
        self.flush()
        return Replay(self.model, self.engine, self.digest, cut_vector, self.cut, self._tmp)


def replay_records(
    records: Iterable[AuditRecord],
    cut: Cut,
    streams: tuple[str, ...] = STREAMS,
    also: Callable[[AuditRecord], None] | None = None,
) -> Replay:
    """Replay from records in stream order (an export file). ``also`` sees each admitted
    record too (lineage is folded in the same pass)."""
    builder = ReplayBuilder(cut, also)
    seen: dict[str, int] = {}
    for record in records:
        if record.stream not in streams:
            continue
        limit = cut.until_seq.get(record.stream)
        if limit is not None and record.seq > limit:
            continue
        seen[record.stream] = record.seq
        builder.add(record)
    vector = {s: cut.until_seq.get(s, seen.get(s, 0)) for s in streams}
    return builder.finish(vector)


def replay_export(
    path: Path, cut: Cut, also: Callable[[AuditRecord], None] | None = None
) -> Replay:
    return replay_records(export_records(path), cut, also=also)


async def replay_live(
    nc: Client,
    cut: Cut,
    streams: tuple[str, ...] = STREAMS,
    also: Callable[[AuditRecord], None] | None = None,
) -> Replay:
    """Replay from the live streams (direct gets), up to each stream's cut or its last now."""
    builder = ReplayBuilder(cut, also)
    vector: dict[str, int] = {}
    for stream in streams:
        bounds = await stream_bounds(nc, stream)
        last = bounds.last_seq if bounds else 0
        end = min(last, cut.until_seq[stream]) if stream in cut.until_seq else last
        vector[stream] = cut.until_seq.get(stream, end)
        if end:
            records: AsyncIterable[AuditRecord] = live_records(nc, stream, 1, end)
            async for record in records:
                builder.add(record)
    return builder.finish(vector)
