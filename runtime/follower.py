"""Follow a stream into SQL: each batch's rows and the stream position in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from nats.aio.msg import Msg
from nats.js import api as js_api

from runtime.deadletter import DeadLetter, classify, ensure_dlq_stream, set_aside
from runtime.eventstore import EventStore, StoredEvent
from runtime.logging import get_logger
from runtime.statestore import StateStore

ApplyBatch = Callable[[Any, Sequence[StoredEvent]], None]
"""``(connection, events)``: apply events newer than the stored position, in the transaction."""

Relevant = Callable[[Sequence[StoredEvent]], list[StoredEvent]]
"""Which of a batch's events still need applying (e.g. not already in a cached snapshot)."""

POSITION_FLUSH_SECONDS = 1.0
MAX_BATCH_FAILURES = 3
"""A batch that failed this many times in a row is applied message by message to find and
set aside the message that cannot be applied (see ``_set_aside_poison``)."""

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
        self._failures = 0
        # Dead letters of this follower are "<service>.<follower name>" (tables prefix).
        self._service = store.tables.positions.name.removesuffix("_stream_positions")

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
                self._failures = 0
            except Exception:
                self._failures += 1
                log.exception(
                    "follower batch failed; retrying", follower=self.name, failures=self._failures
                )
                if self._failures >= MAX_BATCH_FAILURES and await self._set_aside_poison(batch):
                    self._failures = 0
                else:
                    await asyncio.sleep(min(2 ** (self._failures - 1), 30))
                # Re-read from the stored position: nothing in the failed batch was kept.
                await self._resubscribe()

    async def _set_aside_poison(self, batch: list[Msg]) -> bool:
        """After bounded retries: apply the batch one message at a time; the first message
        whose data cannot be applied (a ValueError/LookupError: malformed, unknown type,
        newer version, invalid payload) goes to the DLQ and the position moves past it, so
        later messages flow. Infrastructure errors (database, NATS) are never set aside."""
        for msg in batch:
            seq = msg.metadata.sequence.stream
            if seq <= self.position:
                continue
            try:
                await self._apply_batch([msg])
            except (ValueError, LookupError) as exc:
                letter = DeadLetter(
                    consumer=f"{self._service}.{self.name}",
                    error=str(exc)[:1000],
                    reason=classify(msg.data),
                    data=msg.data,
                    stream=self.stream,
                    sequence=seq,
                    subject=msg.subject,
                    deliveries=self._failures,
                    headers={k: str(v) for k, v in (msg.headers or {}).items()},
                    dead_letter_id=str(
                        uuid.uuid5(uuid.NAMESPACE_URL, f"{self._service}.{self.name}/{seq}")
                    ),
                )
                try:
                    await ensure_dlq_stream(self.es.js)
                    await set_aside(self.es.js, letter)
                except Exception:
                    log.exception("could not set a message aside", follower=self.name, seq=seq)
                    return False
                with self.store.engine.begin() as conn:
                    self.store.save_position(conn, self.name, seq)
                self._stored_position = seq
                async with self._advanced:
                    self.position = seq
                    self._advanced.notify_all()
                return True
            except Exception:
                return False  # not the data: keep retrying the batch
        return False

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
