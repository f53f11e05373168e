"""Reading a stream without a consumer: batched direct gets (``$JS.API.DIRECT.GET.<stream>``).

Why no consumer: a consumer create request carries the consumer's name as one subject token,
and NATS permissions match whole tokens only, so "consumers whose names start with roster_"
cannot be granted. Whoever may create consumers with any name may also update (or hijack)
anyone's consumer. The command services and the auditors only need to read, so they read by
direct get and hold no consumer rights at all; only reporting and the subscribers have
consumers, each under names listed one by one in the permissions (deploy/nats/permissions.conf).

A ``StreamTail`` learns that something new may be stored from a plain subscription to the
stream's subjects (a wake-up only: what it applies is what the direct get returns, in stream
order) and polls every ``idle`` seconds as well, so a missed wake-up costs at most that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from runtime.eventstore import StoredEvent, server_timestamp, stored_headers
from runtime.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ReadMsg:
    """One stored message as a direct get returns it."""

    stream: str
    sequence: int
    subject: str
    data: bytes
    headers: dict[str, str] = field(default_factory=dict)
    time: datetime | None = None

    def stored(self) -> StoredEvent:
        return StoredEvent(
            self.stream,
            self.sequence,
            self.subject,
            self.data,
            self.headers.get("Nats-Msg-Id"),
            self.time,
            stored_headers(self.headers),
        )


def _read_msg(stream: str, msg: Msg) -> ReadMsg | None:
    headers = {str(k): str(v) for k, v in (msg.headers or {}).items()}
    if "Nats-Sequence" not in headers:
        return None  # 204 end of batch, 404 nothing at or after that sequence
    return ReadMsg(
        stream,
        int(headers["Nats-Sequence"]),
        headers.get("Nats-Subject", ""),
        msg.data,
        headers,
        server_timestamp(headers.get("Nats-Time-Stamp")),
    )


MAX_BATCH_BYTES = 4 * 1024 * 1024
"""A batch's reply stops at this many bytes (messages may be up to 256 KiB each)."""


async def read_batch(
    nc: Client, stream: str, start: int, batch: int = 500, timeout: float = 5.0
) -> tuple[list[ReadMsg], int]:
    """Up to ``batch`` stored messages from sequence ``start`` on, in stream order, and how
    many more are stored after them (the end-of-batch's ``Nats-Num-Pending``)."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    out: list[ReadMsg] = []
    try:
        request = {"seq": max(1, start), "batch": batch, "max_bytes": MAX_BATCH_BYTES}
        await nc.publish(f"$JS.API.DIRECT.GET.{stream}", json.dumps(request).encode(), reply=inbox)
        while True:
            msg = await sub.next_msg(timeout=timeout)
            got = _read_msg(stream, msg)
            if got is None:
                pending = (msg.headers or {}).get("Nats-Num-Pending") or 0
                return out, int(pending)
            out.append(got)
    finally:
        await sub.unsubscribe()


class StreamTail:
    """Hands every stored message of ``stream`` from ``start`` on to ``on_batch``, in order,
    one batch at a time, then keeps following. ``on_batch`` is awaited before the next read,
    so a slow receiver slows the reading (no unbounded buffer)."""

    def __init__(
        self,
        nc: Client,
        stream: str,
        subjects: Sequence[str],
        start: int,
        on_batch: Callable[[list[ReadMsg]], Awaitable[None]],
        batch: int = 500,
        idle: float = 0.25,
        timeout: float = 5.0,
    ) -> None:
        self.nc = nc
        self.stream = stream
        self.subjects = tuple(subjects)
        self.next_seq = max(1, start)
        self.on_batch = on_batch
        self.batch = batch
        self.idle = idle
        self.timeout = timeout
        self._wake = asyncio.Event()
        self._subs: list[Subscription] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> StreamTail:
        async def wake(_msg: Msg) -> None:
            self._wake.set()

        for subject in self.subjects:
            self._subs.append(await self.nc.subscribe(subject, cb=wake))
        self._task = asyncio.create_task(self._run(), name=f"tail-{self.stream}")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs = []

    def wake(self) -> None:
        """Read now (someone waits for a sequence the tail has not reached)."""
        self._wake.set()

    async def unsubscribe(self) -> None:
        await self.stop()

    async def _run(self) -> None:
        failures = 0
        woken = 0  # reads left after a wake-up found nothing: the store may lag the wake-up
        while True:
            self._wake.clear()
            try:
                got, pending = await read_batch(
                    self.nc, self.stream, self.next_seq, self.batch, self.timeout
                )
                failures = 0
            except Exception as exc:  # NATS away or slow: read again after a pause
                failures += 1
                log.warning("stream read failed", stream=self.stream, error=str(exc))
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
                continue
            if got:
                woken = 0
                await self.on_batch(got)
                self.next_seq = got[-1].sequence + 1
                if pending or len(got) == self.batch:
                    continue  # catching up: read on at once
            elif woken:
                woken -= 1
                await asyncio.sleep(0.005 * (4 - woken))
                continue
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that
            # lands as the wake-up fires, and this loop would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.idle):
                    await self._wake.wait()
            if self._wake.is_set():
                woken = 3
