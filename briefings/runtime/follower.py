"""Follow a stream into SQL: each batch's rows and the stream position in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from nats.aio.msg import Msg
from nats.js import api as js_api

from briefings.runtime.eventstore import EventStore, StoredEvent
from briefings.runtime.logging import get_logger
from briefings.runtime.statestore import StateStore

ApplyBatch = Callable[[Any, Sequence[StoredEvent]], None]
"""``(connection, events)``: apply events newer than the stored position, in the transaction."""

Relevant = Callable[[Sequence[StoredEvent]], list[StoredEvent]]
"""Which of a batch's events still need applying (e.g. not already in a cached snapshot)."""

POSITION_FLUSH_SECONDS = 1.0

log = get_logger(__name__)


class StreamFollower:
    """Tails ``stream`` with an ordered consumer from the stored position.

    Redelivered or replayed messages at or below the position are skipped, so the effect is
    exactly once on at-least-once delivery.
    """

    def __init__(
        self,
        es: EventStore,
        store: StateStore,
        stream: str,
        name: str,
        apply: ApplyBatch,
        batch_size: int = 500,
        relevant: Relevant | None = None,
    ) -> None:
        self.es = es
        self.relevant = relevant
        self._stored_position = 0
        self._flushed_at = 0.0
        self.store = store
        self.stream = stream
        self.name = name
        self.apply = apply
        self.batch_size = batch_size
        self.position = store.position(name)
        self._queue: asyncio.Queue[Msg] = asyncio.Queue(maxsize=10_000)
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None

    async def start(self) -> None:
        await self._subscribe()
        self._task = asyncio.create_task(self._run(), name=f"follow-{self.name}")

    async def _subscribe(self) -> None:
        async def on_message(msg: Msg) -> None:
            await self._queue.put(msg)

        info = await self.es.js.stream_info(self.stream)
        subjects = info.config.subjects or [">"]
        self._sub = await self.es.js.subscribe(
            subjects[0] if len(subjects) == 1 else ">",
            stream=self.stream,
            cb=on_message,
            ordered_consumer=True,
            deliver_policy=js_api.DeliverPolicy.BY_START_SEQUENCE,
            config=js_api.ConsumerConfig(opt_start_seq=self.position + 1),
            pending_msgs_limit=50_000,
        )

    async def stop(self) -> None:
        if self.position > self._stored_position:
            with contextlib.suppress(Exception), self.store.engine.begin() as conn:
                self.store.save_position(conn, self.name, self.position)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._apply_batch(batch)
            except Exception:
                log.exception("follower batch failed; retrying", follower=self.name)
                await asyncio.sleep(1)
                # Re-read from the stored position: nothing in the failed batch was kept.
                await self._resubscribe()

    async def _resubscribe(self) -> None:
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()
        self._queue = asyncio.Queue(maxsize=10_000)
        self.position = self.store.position(self.name)
        await self._subscribe()

    async def _apply_batch(self, batch: list[Msg]) -> None:
        events: list[StoredEvent] = []
        for msg in batch:
            seq = msg.metadata.sequence.stream
            if seq <= self.position:
                continue
            events.append(
                StoredEvent(
                    self.stream,
                    seq,
                    msg.subject,
                    msg.data,
                    (msg.headers or {}).get("Nats-Msg-Id"),
                    msg.metadata.timestamp,
                )
            )
        if not events:
            return
        todo = self.relevant(events) if self.relevant is not None else events
        now = time.monotonic()
        if todo or now - self._flushed_at >= POSITION_FLUSH_SECONDS:
            with self.store.engine.begin() as conn:
                if todo:
                    self.apply(conn, todo)
                self.store.save_position(conn, self.name, events[-1].sequence)
            self._flushed_at = now
            self._stored_position = events[-1].sequence
        # else: nothing to write; the position is stored at the next write or flush, and a
        # restart from an older position re-reads events that are then skipped.
        async with self._advanced:
            self.position = events[-1].sequence
            self._advanced.notify_all()

    async def wait_for(self, sequence: int, timeout: float = 5.0) -> bool:
        """Wait until everything up to ``sequence`` is applied; False on timeout."""

        async def reached() -> None:
            async with self._advanced:
                await self._advanced.wait_for(lambda: self.position >= sequence)

        try:
            await asyncio.wait_for(reached(), timeout)
        except TimeoutError:
            return False
        return True

    async def catch_up(self, timeout: float = 30.0) -> bool:
        """Wait until the stream's current last sequence is applied."""
        return await self.wait_for(await self.es.stream_last_sequence(self.stream), timeout)
