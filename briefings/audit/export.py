"""``briefings audit export``: the whole history as canonical JSON lines plus a manifest.

Memory stays constant: each event is written as soon as it is read, the digest is updated
incrementally, and the manifest keeps only counters per stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, Callable
from datetime import datetime
from typing import Any, BinaryIO

from nats.aio.client import Client

from briefings.audit.records import EXPORT_FORMAT, AuditRecord, manifest_line
from briefings.audit.source import STREAMS, live_history, stream_ends
from contracts.canonical import format_datetime


class ManifestBuilder:
    """Counts per stream and the running SHA-256 over every exported line + ``\\n``."""

    def __init__(
        self, streams: tuple[str, ...], since: datetime | None = None, until: datetime | None = None
    ) -> None:
        self.digest = hashlib.sha256()
        self.streams: dict[str, dict[str, int]] = {}
        self.selected = streams
        self.since = since
        self.until = until
        self.events = 0

    def add(self, record: AuditRecord, line: bytes) -> None:
        self.digest.update(line)
        self.digest.update(b"\n")
        self.events += 1
        entry = self.streams.setdefault(
            record.stream, {"events": 0, "first_seq": record.seq, "last_seq": 0}
        )
        entry["events"] += 1
        entry["last_seq"] = record.seq

    def manifest(self) -> dict[str, Any]:
        streams = {
            name: self.streams.get(name, {"events": 0, "first_seq": 0, "last_seq": 0})
            for name in self.selected
        }
        return {
            "format": EXPORT_FORMAT,
            "hash": "sha256",
            "streams": streams,
            "events": self.events,
            "digest": self.digest.hexdigest(),
            # Without a time window every chain is exported from its first event.
            "complete": self.since is None and self.until is None,
            "since": format_datetime(self.since) if self.since else None,
            "until": format_datetime(self.until) if self.until else None,
        }


async def write_export(
    records: AsyncIterable[AuditRecord],
    out: BinaryIO,
    builder: ManifestBuilder,
    on_record: Callable[[AuditRecord], None] | None = None,
) -> dict[str, Any]:
    async for record in records:
        line = record.to_line()
        out.write(line)
        out.write(b"\n")
        builder.add(record, line)
        if on_record is not None:
            on_record(record)
    manifest = builder.manifest()
    out.write(manifest_line(manifest))
    out.write(b"\n")
    return manifest


async def export_live(
    nc: Client,
    out: BinaryIO,
    streams: tuple[str, ...] = STREAMS,
    since: datetime | None = None,
    until: datetime | None = None,
    on_total: Callable[[int], None] | None = None,
    on_record: Callable[[AuditRecord], None] | None = None,
) -> dict[str, Any]:
    """Export ``streams`` (in that order, each in stream order) as they stand now."""
    ends = await stream_ends(nc, streams)
    if on_total is not None:
        on_total(sum(ends.values()))
    return await write_export(
        live_history(nc, ends, since, until), out, ManifestBuilder(streams, since, until), on_record
    )
