"""Where audited events come from: the live streams (direct get only) or an export file.

Live reads use ``$JS.API.DIRECT.GET.<stream>`` batches and ``$JS.API.STREAM.INFO.<stream>``:
no consumer is created and nothing is written, so read-only credentials are enough.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.js.errors import NotFoundError

from briefings.audit.records import AuditRecord, server_time
from contracts.canonical import format_datetime
from contracts.subjects import event_streams

STREAMS: tuple[str, ...] = tuple(spec.name for spec in event_streams())


@dataclass(frozen=True)
class StreamBounds:
    stream: str
    first_seq: int
    last_seq: int
    messages: int


async def stream_bounds(nc: Client, stream: str, wait: float = 10.0) -> StreamBounds | None:
    """The stream's sequence range now; None when the stream does not exist."""
    try:
        info = await nc.jetstream(timeout=wait).stream_info(stream)
    except NotFoundError:
        return None
    state = info.state
    return StreamBounds(stream, int(state.first_seq), int(state.last_seq), int(state.messages))


async def live_records(
    nc: Client,
    stream: str,
    start: int = 1,
    end: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    batch: int = 1000,
    wait: float = 10.0,
) -> AsyncIterator[AuditRecord]:
    """Every stored event of ``stream`` from ``start`` to ``end`` (default: the last now), in
    stream order. ``since`` / ``until`` bound the server timestamp (inclusive)."""
    if end is None:
        bounds = await stream_bounds(nc, stream, wait)
        if bounds is None:
            return
        end = bounds.last_seq
    if end < start:
        return
    until_text = format_datetime(until) if until is not None else None
    api = f"$JS.API.DIRECT.GET.{stream}"
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    next_seq = start
    first_request = True
    try:
        while next_seq <= end:
            request: dict[str, Any] = {"batch": min(batch, end - next_seq + 1)}
            if first_request and since is not None:
                request["start_time"] = format_datetime(since)
            else:
                request["seq"] = next_seq
            first_request = False
            await nc.publish(api, json.dumps(request).encode(), reply=inbox)
            got = 0
            while True:
                msg = await sub.next_msg(timeout=wait)
                headers = msg.headers or {}
                if "Nats-Sequence" not in headers:
                    break  # 204 end of batch, 404 nothing at or after that point
                seq = int(headers["Nats-Sequence"])
                got += 1
                next_seq = seq + 1
                if seq > end:
                    continue
                time = server_time(headers["Nats-Time-Stamp"])
                if until_text is not None and time > until_text:
                    return  # timestamps do not go back within a stream
                yield AuditRecord.from_stored(
                    stream, seq, headers.get("Nats-Subject", ""), time, msg.data
                )
            if got == 0:
                return
    finally:
        await sub.unsubscribe()


async def stream_ends(nc: Client, streams: tuple[str, ...]) -> dict[str, int]:
    """Each stream's last sequence now (0 for a missing or empty one), in ``streams`` order."""
    ends: dict[str, int] = {}
    for stream in streams:
        bounds = await stream_bounds(nc, stream)
        ends[stream] = bounds.last_seq if bounds else 0
    return ends


async def live_history(
    nc: Client,
    ends: dict[str, int],
    since: datetime | None = None,
    until: datetime | None = None,
) -> AsyncIterator[AuditRecord]:
    """Every stream of ``ends`` in that order, each from sequence 1 to its end (events
    appended meanwhile are left out)."""
    for stream, end in ends.items():
        if end:
            async for record in live_records(nc, stream, 1, end, since, until):
                yield record


def read_export(path: Path) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """``(line bytes without newline, parsed object)`` for every line of an export, lazily."""
    with path.open("rb") as handle:
        for raw in handle:
            line = raw.rstrip(b"\n")
            if not line:
                continue
            yield line, json.loads(line)


def export_records(path: Path, streams: tuple[str, ...] | None = None) -> Iterator[AuditRecord]:
    """The event records of an export (the manifest skipped), optionally of some streams."""
    for _line, obj in read_export(path):
        if "manifest" in obj:
            continue
        record = AuditRecord.from_line_object(obj)
        if streams is None or record.stream in streams:
            yield record


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest: the last line of the export (read from the end, constant memory)."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        chunk = 4096
        while True:
            start = max(0, size - chunk)
            handle.seek(start)
            tail = handle.read(size - start).rstrip(b"\n")
            cut = tail.rfind(b"\n")
            if cut >= 0 or start == 0:
                last = tail[cut + 1 :]
                break
            chunk *= 2
    if not last:
        return None
    try:
        obj = json.loads(last)
    except ValueError:
        return None
    manifest = obj.get("manifest") if isinstance(obj, dict) else None
    return manifest if isinstance(manifest, dict) else None
