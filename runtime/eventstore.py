"""JetStream as the event store: one stream per context, one subject per aggregate.

Appends carry ``Nats-Expected-Last-Subject-Sequence`` (optimistic concurrency) and
``Nats-Msg-Id`` = event id (a retried publish is stored once), and the event's type and
schema version as headers (contracts/headers.py) for subscribers that filter without decoding.
Implements ``runtime.eventport.EventStorePort``; NATS errors become the port's errors.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import BadRequestError, NoStreamResponseError, NotFoundError

from contracts.envelope import EventEnvelope
from contracts.headers import event_headers
from contracts.subjects import StreamSpec
from runtime.eventport import (
    DUPLICATE_WINDOW_SECONDS,
    MAX_MESSAGE_BYTES,
    ConcurrencyConflict,
    MessageTooLarge,
    StoredEvent,
    StreamNotFound,
    WrongStream,
)

__all__ = ["ConcurrencyConflict", "EventStore", "StoredEvent", "stream_config"]

WRONG_LAST_SEQUENCE = 10071
STREAM_MISMATCH = 10060
MESSAGE_TOO_LARGE = 10054


class JetStreamStreamNotFound(StreamNotFound, NotFoundError):
    """The port's error, still a nats ``NotFoundError`` for callers written against nats-py."""

    def __init__(self, stream: str) -> None:
        StreamNotFound.__init__(self, stream)
        self.code = 404
        self.err_code = 10059
        self.description = f"stream {stream} not found"


def stream_config(spec: StreamSpec, replicas: int = 1) -> js_api.StreamConfig:
    return js_api.StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        storage=js_api.StorageType.FILE,
        retention=js_api.RetentionPolicy.LIMITS,
        discard=js_api.DiscardPolicy.NEW,
        max_age=0,
        max_bytes=-1,
        max_msgs=-1,
        max_msg_size=MAX_MESSAGE_BYTES,
        num_replicas=replicas,
        deny_delete=True,
        deny_purge=True,
        allow_direct=True,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    )


class EventStore:
    def __init__(self, nc: Client, js: JetStreamContext | None = None, timeout: float = 5.0):
        self.nc = nc
        self.js = js or nc.jetstream(timeout=timeout)
        self.timeout = timeout

    # ----------------------------------------------------------------- streams

    async def ensure_stream(self, spec: StreamSpec, replicas: int = 1) -> None:
        config = stream_config(spec, replicas)
        try:
            info = await self.js.stream_info(spec.name)
        except NotFoundError:
            await self.js.add_stream(config)
            return
        have = set(info.config.subjects or [])
        if not set(spec.subjects) <= have:
            info.config.subjects = sorted(have | set(spec.subjects))
            await self.js.update_stream(info.config)

    async def ensure_streams(self, specs: Sequence[StreamSpec], replicas: int = 1) -> None:
        for spec in specs:
            await self.ensure_stream(spec, replicas)

    async def stream_last_sequence(self, stream: str) -> int:
        try:
            info = await self.js.stream_info(stream)
        except NotFoundError as exc:
            raise JetStreamStreamNotFound(stream) from exc
        return int(info.state.last_seq)

    # ---------------------------------------------------------------- subjects

    async def last_sequence(self, stream: str, subject: str) -> int:
        """The subject's last sequence (0 if empty): an indexed lookup, ~0.2 ms."""
        try:
            msg = await self.js.get_last_msg(stream, subject, direct=True)
        except NotFoundError:
            return 0
        except NoRespondersError as exc:  # no stream answers direct gets under that name
            raise JetStreamStreamNotFound(stream) from exc
        return int(msg.seq or 0)

    async def last_event(self, stream: str, subject: str) -> StoredEvent | None:
        try:
            msg = await self.js.get_last_msg(stream, subject, direct=True)
        except NotFoundError:
            return None
        except NoRespondersError as exc:
            raise JetStreamStreamNotFound(stream) from exc
        headers = msg.headers or {}
        return StoredEvent(
            stream,
            int(msg.seq or 0),
            msg.subject or subject,
            msg.data or b"",
            headers.get("Nats-Msg-Id"),
            msg.time,
            dict(headers),
        )

    async def read_subject(
        self, stream: str, subject: str, after: int = 0, batch: int = 1000
    ) -> list[StoredEvent]:
        """Every event of ``subject`` with sequence > ``after``, in order (batched direct get)."""
        events: list[StoredEvent] = []
        start = after + 1
        api_subject = f"$JS.API.DIRECT.GET.{stream}"
        while True:
            inbox = self.nc.new_inbox()
            sub = await self.nc.subscribe(inbox)
            try:
                request = json.dumps({"seq": start, "next_by_subj": subject, "batch": batch})
                await self.nc.publish(api_subject, request.encode(), reply=inbox)
                got = 0
                while True:
                    msg = await sub.next_msg(timeout=self.timeout)
                    status = _status(msg)
                    if status == "503":
                        raise JetStreamStreamNotFound(stream)  # no responders: no such stream
                    if status is not None:
                        break  # 204: end of batch; 404: nothing (more) for that subject
                    headers = msg.headers or {}
                    events.append(
                        StoredEvent(
                            stream,
                            int(headers["Nats-Sequence"]),
                            headers.get("Nats-Subject", subject),
                            msg.data,
                            headers.get("Nats-Msg-Id"),
                            headers=dict(headers),
                        )
                    )
                    got += 1
            finally:
                await sub.unsubscribe()
            if got < batch:
                return events
            start = events[-1].sequence + 1

    async def append(
        self, stream: str, subject: str, envelopes: Sequence[EventEnvelope], expected_last: int
    ) -> list[int]:
        """Append ``envelopes`` in order, each expecting the sequence the previous one got.

        Raises ConcurrencyConflict when the subject moved on since ``expected_last``.
        """
        return await self.append_encoded(
            stream, subject, [(str(e.event_id), e.to_canonical()) for e in envelopes], expected_last
        )

    async def append_encoded(
        self, stream: str, subject: str, items: Sequence[tuple[str, bytes]], expected_last: int
    ) -> list[int]:
        """``append`` for events already in canonical bytes: ``(event_id, data)`` pairs."""
        sequences: list[int] = []
        expected = expected_last
        for msg_id, data in items:
            expected = await self._append_one(stream, subject, msg_id, data, expected)
            sequences.append(expected)
        return sequences

    async def _append_one(
        self, stream: str, subject: str, msg_id: str, data: bytes, expected: int
    ) -> int:
        headers = {
            **event_headers(data),
            "Nats-Msg-Id": msg_id,
            "Nats-Expected-Last-Subject-Sequence": str(expected),
        }
        for attempt in range(3):
            try:
                ack = await self.js.publish(
                    subject, data, timeout=self.timeout, stream=stream, headers=headers
                )
                return int(ack.seq)
            except NoStreamResponseError as exc:
                raise WrongStream(stream, subject) from exc
            except BadRequestError as exc:
                if exc.err_code == MESSAGE_TOO_LARGE:
                    raise MessageTooLarge(subject, len(data)) from exc
                if exc.err_code == STREAM_MISMATCH:
                    await self.stream_last_sequence(stream)  # StreamNotFound if it is that
                    raise WrongStream(stream, subject) from exc
                if exc.err_code != WRONG_LAST_SEQUENCE:
                    raise
                # The retry trap: our own earlier attempt may have landed.
                landed = await self._landed(stream, subject, msg_id)
                if landed is not None:
                    return landed
                raise ConcurrencyConflict(subject, expected, str(exc.description)) from exc
            except (TimeoutError, NatsTimeoutError):
                landed = await self._landed(stream, subject, msg_id)
                if landed is not None:
                    return landed
                if attempt == 2:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _landed(self, stream: str, subject: str, msg_id: str) -> int | None:
        try:
            last = await self.last_event(stream, subject)
        except (TimeoutError, NatsTimeoutError):
            return None
        if last is not None and last.msg_id == msg_id:
            return last.sequence
        return None

    # ------------------------------------------------------------------- bulk

    async def iterate(
        self,
        stream: str,
        start: int = 1,
        until: int | None = None,
        subject: str | None = None,
        batch: int = 1000,
    ) -> AsyncIterator[StoredEvent]:
        """Stream order from ``start`` to ``until`` (default: the last sequence now).

        Batched direct gets, no consumer: readers need no consumer rights
        (runtime/streamreader.py says why).
        """
        end = until if until is not None else await self.stream_last_sequence(stream)
        if subject is not None:
            # Filtered: stop at the subject's last message rather than read past it.
            end = min(end, await self.last_sequence(stream, subject))
        next_seq = start
        while next_seq <= end:
            inbox = self.nc.new_inbox()
            sub = await self.nc.subscribe(inbox)
            got = 0
            try:
                # max_bytes: messages may be up to 256 KiB each; the next request goes on
                request: dict[str, object] = {
                    "seq": next_seq,
                    "batch": batch,
                    "max_bytes": 4 * 1024 * 1024,
                }
                if subject:
                    request["next_by_subj"] = subject
                await self.nc.publish(
                    f"$JS.API.DIRECT.GET.{stream}", json.dumps(request).encode(), reply=inbox
                )
                while True:
                    msg = await sub.next_msg(timeout=self.timeout)
                    if _status(msg) is not None:
                        break  # 204: end of batch; 404: nothing at or after next_seq
                    headers = msg.headers or {}
                    seq = int(headers["Nats-Sequence"])
                    got += 1
                    next_seq = seq + 1
                    if seq > end:
                        continue
                    yield StoredEvent(
                        stream,
                        seq,
                        headers.get("Nats-Subject", subject or ""),
                        msg.data,
                        headers.get("Nats-Msg-Id"),
                        server_timestamp(headers.get("Nats-Time-Stamp")),
                        stored_headers(headers),
                    )
            finally:
                await sub.unsubscribe()
            if got == 0:
                return


DIRECT_GET_HEADERS = frozenset(
    {
        "Nats-Stream",
        "Nats-Subject",
        "Nats-Sequence",
        "Nats-Time-Stamp",
        "Nats-Num-Pending",
        "Nats-Last-Sequence",
    }
)
"""What a direct get adds to a stored message's own headers."""


def stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers the message was stored with (a direct get's own removed)."""
    return {str(k): str(v) for k, v in headers.items() if k not in DIRECT_GET_HEADERS}


def server_timestamp(text: str | None) -> datetime | None:
    """``Nats-Time-Stamp`` (RFC 3339, nanoseconds) as an aware datetime (microseconds)."""
    if not text:
        return None
    head, _, rest = text.rstrip("Z").partition(".")
    micros = (rest + "000000")[:6] if rest else "000000"
    return datetime.fromisoformat(f"{head}.{micros}").replace(tzinfo=UTC)


def _status(msg: Msg) -> str | None:
    headers = msg.headers or {}
    status = headers.get("Status")
    if status:
        return str(status)
    if not msg.data and "Nats-Sequence" not in headers:
        return "204"
    return None
