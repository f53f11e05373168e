"""Stream → read model: one durable pull consumer per stream and generation (plain nats-py).

Each fetched batch is decoded, its unappliable messages are set aside in the DLQ, then the
batch is applied in ONE SQL transaction with the stream's position, and only then acked
(AckPolicy.ALL: the last ack covers the batch). A crash anywhere replays from the stored
position; messages at or below it are skipped. The durable consumer is only a cursor: it is
recreated at start from the SQL position, so a restart never waits for ack timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import NotFoundError

from runtime.deadletter import DeadLetter, set_aside
from runtime.eventstore import StoredEvent
from runtime.logging import get_logger
from services.reporting.adapters.projection import Decoded, Projection, Unappliable, decode

log = get_logger(__name__)
SERVICE = "reporting"


ISOLATE_AFTER = 3
"""Failed attempts of a batch, with the database answering, before events are tried alone."""


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:500]


def tune_gc() -> None:
    """Catch-up allocates many short-lived models; the default collector thresholds made
    garbage collection a third of the decode time. Collect young objects less often and
    leave what exists at start-up (modules, schemas) out of every scan."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def consumer_name(stream: str) -> str:
    """The dead-letter consumer name (``reporting.<STREAM>``)."""
    return f"{SERVICE}.{stream}"


def durable_name(generation: int, stream: str) -> str:
    return f"{SERVICE}_g{generation}_{stream}"


def letter_for(u: Unappliable) -> DeadLetter:
    # The same message gets the same letter id, so a crash before the SQL commit followed by
    # redelivery is deduplicated by the DLQ stream (Nats-Msg-Id).
    ident = uuid.uuid5(uuid.NAMESPACE_URL, f"{consumer_name(u.stored.stream)}/{u.stored.sequence}")
    return DeadLetter(
        consumer=consumer_name(u.stored.stream),
        error=u.error,
        reason=u.reason,
        data=u.stored.data,
        stream=u.stored.stream,
        sequence=u.stored.sequence,
        subject=u.stored.subject,
        dead_letter_id=str(ident),
    )


class StreamConsumer:
    def __init__(
        self,
        js: JetStreamContext,
        projection: Projection,
        stream: str,
        batch: int = 1000,
        on_set_aside: Callable[[Unappliable], None] | None = None,
    ) -> None:
        self.js = js
        self.projection = projection
        self.stream = stream
        self.batch = batch
        self.durable = durable_name(projection.generation, stream)
        self.position = 0
        self.applied = 0
        self.on_set_aside = on_set_aside
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None
        self._stopping = False

    async def start(self) -> None:
        self.position = (await asyncio.to_thread(self.projection.positions))[self.stream]
        with contextlib.suppress(NotFoundError):
            await self.js.delete_consumer(self.stream, self.durable)
        start = (
            dict(
                deliver_policy=js_api.DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=self.position + 1,
            )
            if self.position
            else dict(deliver_policy=js_api.DeliverPolicy.ALL)
        )
        await self.js.add_consumer(
            self.stream,
            js_api.ConsumerConfig(
                durable_name=self.durable,
                ack_policy=js_api.AckPolicy.ALL,
                ack_wait=120,
                max_ack_pending=self.batch * 4,
                max_deliver=-1,
                **start,
            ),
        )
        self._sub = await self.js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
        self._task = asyncio.create_task(self._run(), name=f"reporting-{self.durable}")

    async def stop(self, delete: bool = False) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            try:
                await asyncio.wait_for(self._task, 10)
            except (asyncio.CancelledError, TimeoutError):
                pass
            except Exception:
                log.exception("consumer ended with an error", stream=self.stream)
            self._task = None
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        if delete:
            with contextlib.suppress(Exception):
                await self.js.delete_consumer(self.stream, self.durable)

    def _cancelled(self) -> bool:
        task = asyncio.current_task()
        return self._stopping or (task is not None and task.cancelling() > 0)

    async def _fetch(self, out: asyncio.Queue[list[Any]]) -> None:
        """Fetch ahead (two batches at most) so the network overlaps the SQL work."""
        while not self._cancelled():
            try:
                msgs = await self._sub.fetch(self.batch, timeout=1.0)
            except (TimeoutError, NatsTimeoutError):
                continue  # a fetch may turn a cancellation into a timeout: checked above
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("fetch failed; retrying", stream=self.stream, error=str(exc))
                await asyncio.sleep(0.5)
                continue
            if msgs:
                await out.put(msgs)

    async def _run(self) -> None:
        queue: asyncio.Queue[list[Any]] = asyncio.Queue(maxsize=2)
        fetcher = asyncio.create_task(self._fetch(queue), name=f"fetch-{self.durable}")
        try:
            while not self._cancelled():
                msgs = await queue.get()
                try:
                    events = [
                        StoredEvent(
                            self.stream,
                            m.metadata.sequence.stream,
                            m.subject,
                            m.data,
                            (m.headers or {}).get("Nats-Msg-Id"),
                            m.metadata.timestamp,
                        )
                        for m in msgs
                    ]
                    await self.apply(events, wait=lambda: asyncio.sleep(1))
                    await msgs[-1].ack()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # Applied batches are in SQL with their position; a lost ack only means a
                    # redelivery, which is skipped. Keep consuming.
                    log.exception("batch handling failed; continuing", stream=self.stream)
                    await asyncio.sleep(0.5)
        finally:
            fetcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(fetcher, 5)

    def _write(
        self, fresh: list[StoredEvent], decoded: dict[tuple[str, int], Decoded | Unappliable]
    ) -> None:
        with self.projection.engine.begin() as conn:
            self.projection.apply(conn, fresh, decoded)

    def _decode_and_write(
        self, fresh: list[StoredEvent]
    ) -> tuple[dict[tuple[str, int], Decoded | Unappliable], bool, Exception | None]:
        """One thread hop for the usual batch: (decoded, written, error). A batch with
        unappliable messages is not written here: its dead letters must be stored first."""
        decoded = {(s.stream, s.sequence): decode(s) for s in fresh}
        if any(isinstance(d, Unappliable) for d in decoded.values()):
            return decoded, False, None
        try:
            self._write(fresh, decoded)
        except Exception as exc:
            return decoded, False, exc
        return decoded, True, None

    async def apply(self, events: list[StoredEvent], wait: Callable[[], Awaitable[object]]) -> None:
        """Apply a batch; database trouble is retried (nothing of a failed batch is kept)."""
        fresh = [s for s in events if s.sequence > self.position]
        if not fresh:
            return
        decoded: dict[tuple[str, int], Decoded | Unappliable] | None = None
        letters_stored = False
        failures = 0
        while True:
            try:
                if decoded is None:
                    decoded, written, error = await asyncio.to_thread(self._decode_and_write, fresh)
                    if written:
                        break
                    if error is not None:
                        letters_stored = True  # no letters: every message decoded
                        raise error
                assert decoded is not None
                if not letters_stored:
                    bad = [d for d in decoded.values() if isinstance(d, Unappliable)]
                    for result in bad:
                        await set_aside(self.js, letter_for(result))
                    letters_stored = True
                    for result in bad:
                        if self.on_set_aside is not None:
                            self.on_set_aside(result)
                await asyncio.to_thread(self._write, fresh, decoded)
                break
            except Exception:
                log.exception(
                    "applying a batch failed; retrying",
                    stream=self.stream,
                    first=fresh[0].sequence,
                    last=fresh[-1].sequence,
                )
                failures += 1
                if (
                    decoded is not None
                    and failures >= ISOLATE_AFTER
                    and await asyncio.to_thread(self._database_answers)
                ):
                    # The database is fine, so some event fails by itself: find it rather
                    # than block the stream forever.
                    await self._one_by_one(fresh, decoded)
                    break
                await wait()
        async with self._advanced:
            self.applied += len(fresh)
            self.position = fresh[-1].sequence
            self._advanced.notify_all()

    def _database_answers(self) -> bool:
        try:
            with self.projection.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    async def _one_by_one(
        self, fresh: list[StoredEvent], decoded: dict[tuple[str, int], Decoded | Unappliable]
    ) -> None:
        """Apply each event in its own transaction; one that still fails while the database
        answers is set aside as ``handler_failed`` and passed (its position is recorded)."""
        for stored in fresh:
            key = (stored.stream, stored.sequence)
            while True:
                try:
                    await asyncio.to_thread(self._write, [stored], decoded)
                    break
                except Exception as exc:
                    if not await asyncio.to_thread(self._database_answers):
                        await asyncio.sleep(1)
                        continue
                    failed = Unappliable(stored, "handler_failed", _first_line(exc))
                    await set_aside(self.js, letter_for(failed))
                    if self.on_set_aside is not None:
                        self.on_set_aside(failed)
                    decoded = {**decoded, key: failed}  # now passed over, position kept
                    await asyncio.to_thread(self._write, [stored], decoded)
                    break

    async def wait_for(self, sequence: int, within: float) -> bool:
        async def reached() -> None:
            async with self._advanced:
                await self._advanced.wait_for(lambda: self.position >= sequence)

        try:
            await asyncio.wait_for(reached(), within)
        except TimeoutError:
            return False
        return True


class Generation:
    """One generation's projection fed by a consumer per stream."""

    def __init__(
        self,
        js: JetStreamContext,
        projection: Projection,
        streams: tuple[str, ...],
        on_set_aside: Callable[[Unappliable], None] | None = None,
    ) -> None:
        self.projection = projection
        self.consumers = {
            s: StreamConsumer(js, projection, s, on_set_aside=on_set_aside) for s in streams
        }
        self.started_at = time.monotonic()
        self.start_positions: dict[str, int] = {}

    @property
    def number(self) -> int:
        return self.projection.generation

    async def start(self) -> None:
        for c in self.consumers.values():
            await c.start()
        self.start_positions = {s: c.position for s, c in self.consumers.items()}
        self.started_at = time.monotonic()

    async def stop(self, delete: bool = False) -> None:
        for c in self.consumers.values():
            try:
                await c.stop(delete)
            except Exception:  # stop the others all the same
                log.exception("stopping a consumer failed", stream=c.stream)

    def positions(self) -> dict[str, int]:
        return {s: c.position for s, c in self.consumers.items()}

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started_at
        done = sum(c.applied for c in self.consumers.values())
        return round(done / elapsed, 1) if elapsed > 0 else 0.0
