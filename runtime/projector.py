"""One projector: a stream into SQL, the rows and the stream position in one transaction.

Used by the command services' followers (their own stream into snapshots, ROSTER into the
events and awards copies of the roster) and by reporting (every stream into its read
models). What differs between them is only the *sink* (what a batch writes) and the
*source* (direct gets of the stream, or reporting's durable pull cursor); the loop is this one:

1. a batch of messages arrives; those at or below the position are skipped (redelivery and
   replay have exactly-once effect);
2. each event the sink wants is decoded once (envelope and payload); one that cannot be
   decoded is a *data error*: set aside as a dead letter (``runtime/deadletter.py``, one
   letter per message however often it is met) and passed over;
3. the sink writes the decoded events and the position of the batch's last message in ONE
   transaction; catching up, the batches are large;
4. a failed write is classified: an outage (database or NATS unreachable, locked, full,
   refusing writes) is *transient* — retried with backoff for ever, never dead-lettered,
   shown in health; a data error (a value the database refuses: integrity or data errors,
   a ``ValueError`` of an applier) is *permanent* — after bounded retries the batch is
   applied one event at a time and the event that still fails is set aside;
5. waiters (``wait_for``) are woken.

``health`` says whether the projector is behind and not advancing, cannot write its dead
letters, or cannot write to its store.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from contracts.envelope import DomainEvent, EventEnvelope
from contracts.registry import NewerSchemaVersion, UnknownEventType, registry
from contracts.replies import FollowerHealth
from runtime.deadletter import LetterBox
from runtime.eventport import EventStorePort
from runtime.eventstore import EventStore, StoredEvent
from runtime.logging import get_logger
from runtime.statestore import StateStore
from runtime.streamreader import ReadMsg, StreamTail

log = get_logger(__name__)

MAX_ATTEMPTS = 3
"""Failed writes of a batch (a data error, not an outage) before its events are tried alone."""
MAX_BACKOFF_S = 30.0
POSITION_FLUSH_SECONDS = 1.0
DEFAULT_STALL_S = 30.0


# ------------------------------------------------------------------------- decoding


@dataclass(frozen=True, slots=True)
class Decoded:
    """An event decoded once: its bytes, envelope and typed payload travel together."""

    stored: StoredEvent
    envelope: EventEnvelope
    event: DomainEvent


@dataclass(frozen=True, slots=True)
class Unappliable:
    """A message that cannot be applied, with a short reason word and the error."""

    stored: StoredEvent
    reason: str  # malformed | unknown_type | newer_version | invalid_payload | handler_failed
    error: str


Item = Decoded | Unappliable


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:500]


def decode(stored: StoredEvent, only: frozenset[str] | None = None) -> Item | None:
    """Decode ``stored``; ``None`` when its type is not in ``only`` (passed over unread)."""
    try:
        envelope = stored.envelope()
    except (ValidationError, ValueError) as exc:
        return Unappliable(stored, "malformed", first_line(exc))
    if only is not None and envelope.type not in only:
        return None
    try:
        event = registry.decode(envelope)
    except UnknownEventType as exc:
        return Unappliable(stored, "unknown_type", str(exc))
    except NewerSchemaVersion as exc:
        return Unappliable(stored, "newer_version", str(exc))
    except (ValidationError, ValueError) as exc:
        return Unappliable(stored, "invalid_payload", first_line(exc))
    return Decoded(stored, envelope, event)


def is_outage(exc: BaseException) -> bool:
    """True for trouble of the infrastructure (retry for ever), False for a data error.

    Unknown exceptions count as outages: a bug must stop the projector visibly (health),
    never make it throw events away.
    """
    if isinstance(exc, (sa_exc.IntegrityError, sa_exc.DataError)):
        return False
    if isinstance(exc, sa_exc.DBAPIError):
        return True  # operational, interface, programming (e.g. permission denied), ...
    if isinstance(exc, sa_exc.SQLAlchemyError):
        return True
    return not isinstance(exc, (ValueError, LookupError, TypeError, AttributeError))


# ---------------------------------------------------------------------------- sinks


class Sink(Protocol):
    """Where a projector writes. ``write`` runs inside the projector's transaction."""

    engine: Engine
    only: frozenset[str] | None
    """Event types this sink reads; ``None``: all (unknown types are then data errors)."""
    threaded: bool
    """Write in a worker thread (a read model nothing else writes) or on the event loop (a
    command service's store, which its command bus writes on the loop too)."""

    def position(self) -> int:
        """The stored position (last sequence written), read at start and after a failure."""
        ...

    def pending(self, events: Sequence[StoredEvent]) -> Sequence[StoredEvent]:
        """Which of the fresh events still need writing (e.g. not already in a snapshot)."""
        ...

    def write(self, conn: Connection, items: Sequence[Item], through: int) -> None:
        """Apply ``items`` (``Unappliable`` ones are passed over) and store ``through`` as the
        position, in ``conn``'s transaction."""
        ...


# -------------------------------------------------------------------------- sources


class Source(ABC):
    """Delivers a stream's messages in order from a given sequence."""

    @abstractmethod
    async def open(self, start: int) -> None: ...

    @abstractmethod
    async def next_batch(self, size: int) -> list[StoredEvent]: ...

    @abstractmethod
    async def done(self) -> None:
        """The last batch is written (acks, for sources that need them)."""

    @abstractmethod
    async def close(self, delete: bool = False) -> None: ...

    def wake(self) -> None:
        """Someone waits for a sequence not yet delivered: read now (where that helps)."""
        return None


class DirectSource(Source):
    """Reads the stream by direct get: no consumer at all, so the reader needs no consumer
    rights (runtime/streamreader.py says why). Woken by the stream's own subjects when
    ``wake_subjects`` are given, by ``wake()`` and every idle interval otherwise."""

    def __init__(self, es: EventStore, stream: str, own: bool = False) -> None:
        self.es = es
        self.stream = stream
        self.own = own
        self._queue: asyncio.Queue[ReadMsg] = asyncio.Queue(maxsize=10_000)
        self._tail: StreamTail | None = None

    async def open(self, start: int) -> None:
        queue: asyncio.Queue[ReadMsg] = asyncio.Queue(maxsize=10_000)
        self._queue = queue

        async def on_batch(msgs: list[ReadMsg]) -> None:
            for msg in msgs:
                await queue.put(msg)

        # Wake-ups from the own context's stream only: a service may not subscribe to
        # another context's event subjects (allow_responses would let it answer their
        # PubAcks); those are read when asked (wake) and every idle interval.
        subjects: list[str] = []
        if self.own:
            info = await self.es.js.stream_info(self.stream)
            subjects = list(info.config.subjects or [])
        self._tail = await StreamTail(self.es.nc, self.stream, subjects, start, on_batch).start()

    def wake(self) -> None:
        if self._tail is not None:
            self._tail.wake()

    async def next_batch(self, size: int) -> list[StoredEvent]:
        batch = [await self._queue.get()]
        while len(batch) < size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return [m.stored() for m in batch]

    async def done(self) -> None:
        return None  # direct gets take no acks

    async def close(self, delete: bool = False) -> None:
        if self._tail is not None:
            with contextlib.suppress(Exception):
                await self._tail.stop()
            self._tail = None


class DurableSource(Source):
    """A named durable pull consumer used only as a cursor: recreated at every open from the
    SQL position (a restart never waits for ack timeouts); one ack covers a batch."""

    def __init__(self, js: JetStreamContext, stream: str, durable: str, batch: int = 1000):
        self.js = js
        self.stream = stream
        self.durable = durable
        self.batch = batch
        self._sub: Any = None
        self._ahead: asyncio.Queue[list[Msg]] = asyncio.Queue(maxsize=2)
        self._fetcher: asyncio.Task[None] | None = None
        self._last: Msg | None = None

    async def open(self, start: int) -> None:
        await self.close()
        with contextlib.suppress(NotFoundError):
            await self.js.delete_consumer(self.stream, self.durable)
        where: dict[str, Any] = (
            {"deliver_policy": js_api.DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": start}
            if start > 1
            else {"deliver_policy": js_api.DeliverPolicy.ALL}
        )
        await self.js.add_consumer(
            self.stream,
            js_api.ConsumerConfig(
                durable_name=self.durable,
                ack_policy=js_api.AckPolicy.ALL,
                ack_wait=120,
                max_ack_pending=self.batch * 4,
                max_deliver=-1,
                **where,
            ),
        )
        self._sub = await self.js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
        self._ahead = asyncio.Queue(maxsize=2)
        self._fetcher = asyncio.create_task(self._fetch(), name=f"fetch-{self.durable}")

    async def _fetch(self) -> None:
        """Fetch ahead (two batches at most) so the network overlaps the SQL work."""
        while True:
            try:
                msgs = await self._sub.fetch(self.batch, timeout=1.0)
            except (TimeoutError, NatsTimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("fetch failed; retrying", stream=self.stream, error=first_line(exc))
                await asyncio.sleep(0.5)
                continue
            if msgs:
                await self._ahead.put(msgs)

    async def next_batch(self, size: int) -> list[StoredEvent]:
        msgs = await self._ahead.get()
        self._last = msgs[-1]
        return [_stored(self.stream, m) for m in msgs]

    async def done(self) -> None:
        # One ack covers the batch (AckPolicy.ALL); a lost one only means a redelivery,
        # which is skipped.
        if self._last is not None:
            with contextlib.suppress(Exception):
                await self._last.ack()

    async def close(self, delete: bool = False) -> None:
        if self._fetcher is not None:
            self._fetcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._fetcher, 5)
            self._fetcher = None
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        if delete:
            with contextlib.suppress(Exception):
                await self.js.delete_consumer(self.stream, self.durable)


class Wakes(Protocol):
    """An in-process store that can wake a reader when a stream grows."""

    def iterate(
        self, stream: str, start: int = 1, until: int | None = None, subject: str | None = None
    ) -> AsyncIterator[StoredEvent]: ...

    async def wait_beyond(self, stream: str, sequence: int) -> None: ...


class MemorySource(Source):
    """Reads an in-process event store (``runtime/memory_store.py``) as it grows."""

    def __init__(self, es: Wakes, stream: str) -> None:
        self.es = es
        self.stream = stream
        self._next = 1

    async def open(self, start: int) -> None:
        self._next = start

    async def next_batch(self, size: int) -> list[StoredEvent]:
        while True:
            until = self._next + size - 1
            batch = [e async for e in self.es.iterate(self.stream, self._next, until)]
            if batch:
                self._next = batch[-1].sequence + 1
                return batch
            await self.es.wait_beyond(self.stream, self._next - 1)

    async def done(self) -> None:
        return None

    async def close(self, delete: bool = False) -> None:
        return None


# ------------------------------------------------------------------------ projector


class Projector:
    """Tails ``stream`` from the sink's stored position into the sink.

    ``name`` is the dead-letter consumer (``<service>.<what>``, e.g. ``events.roster``).
    """

    def __init__(
        self,
        es: EventStorePort,
        stream: str,
        sink: Sink,
        name: str,
        source: Source | None = None,
        batch_size: int = 500,
        stall_after: float = DEFAULT_STALL_S,
    ) -> None:
        self.es = es
        self.stream = stream
        self.sink = sink
        self.name = name
        own = stream.lower() == name.split(".", 1)[0]  # a service's own context's stream
        self.source = source or default_source(es, stream, own)
        self.batch_size = batch_size
        self.stall_after = stall_after
        # Letters go to the DLQ stream of JetStream; an in-process store has none.
        self.letters = LetterBox(es if isinstance(es, EventStore) else None, name)
        self.position = 0
        self.applied = 0
        self.set_aside: Counter[str] = Counter()
        self.problem: str | None = None
        """What stops the projector now (an outage, dead letters that cannot be written)."""
        self._stored_position = 0
        self._flushed_at = 0.0
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._seen: tuple[int, float] | None = None  # (position, when health saw it behind)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.position = await asyncio.to_thread(self.sink.position)
        self._stored_position = self.position
        await self.source.open(self.position + 1)
        self._task = asyncio.create_task(self._run(), name=f"project-{self.name}")

    async def stop(self, delete: bool = False) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 10)
            self._task = None
        if self.position > self._stored_position:
            with contextlib.suppress(Exception):
                await self._in_sink([], self.position)
        await self.source.close(delete)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                batch = await self.source.next_batch(self.batch_size)
                await self._handle(batch)
                await self.source.done()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # NATS trouble while reading or setting aside: start again from the stored
                # position (nothing of the failed batch was kept).
                failures += 1
                self.problem = f"cannot read {self.stream}: {first_line(exc)}"
                log.warning("projector restarting", projector=self.name, error=self.problem)
                await asyncio.sleep(_backoff(failures))
                with contextlib.suppress(Exception):
                    await self.source.close()
                    self.position = await asyncio.to_thread(self.sink.position)
                    self._stored_position = self.position
                    await self.source.open(self.position + 1)

    # -------------------------------------------------------------- a batch

    async def _handle(self, batch: Sequence[StoredEvent]) -> None:
        fresh = [e for e in batch if e.sequence > self.position]
        if not fresh:
            return
        through = fresh[-1].sequence
        todo = self.sink.pending(fresh)
        now = time.monotonic()
        if not todo and now - self._flushed_at < POSITION_FLUSH_SECONDS:
            # Nothing to write: the position is stored at the next write or flush; a restart
            # from an older position re-reads events that are then skipped.
            await self._advance(through, 0)
            return
        if getattr(self.sink, "threaded", False) and len(todo) > 1:
            # catching up: decoding is most of the CPU; let the loop keep fetching meanwhile
            items = await asyncio.to_thread(self._decode_all, todo)
        else:
            items = self._decode_all(todo)
        bad = [i for i in items if isinstance(i, Unappliable)]
        if bad:
            items = await self._retry_decoding(items)
        await self._write_batch(items, through)
        await self._advance(through, len(items))

    def _decode_all(self, todo: Sequence[StoredEvent]) -> list[Item]:
        return [d for d in (decode(s, self.sink.only) for s in todo) if d is not None]

    async def _retry_decoding(self, items: list[Item]) -> list[Item]:
        """Decode the undecodable again (bounded, with backoff), then set them aside."""
        for attempt in range(1, MAX_ATTEMPTS):
            await asyncio.sleep(_backoff(attempt) / 4)
            items = [
                i if isinstance(i, Decoded) else (decode(i.stored, self.sink.only) or i)
                for i in items
            ]
            if not any(isinstance(i, Unappliable) for i in items):
                return items
        await self._set_aside([i for i in items if isinstance(i, Unappliable)], MAX_ATTEMPTS)
        return items

    async def _write_batch(self, items: list[Item], through: int) -> None:
        attempts = 0
        outages = 0
        while True:
            try:
                await self._in_sink(items, through)
                self.problem = None
                return
            except Exception as exc:
                if is_outage(exc):
                    outages += 1
                    self._outage(exc, outages)
                    await asyncio.sleep(_backoff(outages))
                    continue
                attempts += 1
                log.warning(
                    "batch refused by the store; retrying",
                    projector=self.name,
                    attempt=attempts,
                    error=first_line(exc),
                )
                if attempts >= MAX_ATTEMPTS:
                    await self._one_by_one(items, through)
                    return
                await asyncio.sleep(_backoff(attempts) / 4)

    async def _one_by_one(self, items: list[Item], through: int) -> None:
        """Each event in its own transaction: the one that still fails (a data error, the
        store answering) is set aside and passed over."""
        for item in items:
            seq = item.stored.sequence
            attempts = outages = 0
            while True:
                try:
                    await self._in_sink([item], seq)
                    self.problem = None
                    break
                except Exception as exc:
                    if is_outage(exc):
                        outages += 1
                        self._outage(exc, outages)
                        await asyncio.sleep(_backoff(outages))
                        continue
                    attempts += 1
                    if attempts < MAX_ATTEMPTS:
                        await asyncio.sleep(_backoff(attempts) / 4)
                        continue
                    failed = Unappliable(item.stored, "handler_failed", first_line(exc))
                    await self._set_aside([failed], deliveries=attempts)
                    item = failed  # now passed over; its position is kept like any other
        await self._write_batch([], through)

    def _outage(self, exc: BaseException, count: int) -> None:
        self.problem = f"store refuses writes: {first_line(exc)}"
        log.warning(
            "store unavailable; retrying",
            projector=self.name,
            error=self.problem,
            retry_in_s=_backoff(count),
        )

    async def _set_aside(self, bad: list[Unappliable], deliveries: int) -> None:
        """Store the letters (retrying while the DLQ refuses); only then may they be passed."""
        failures = 0
        while True:
            try:
                for u in bad:
                    written = await self.letters.put(
                        u.stored, u.reason, u.error, deliveries=deliveries
                    )
                    if written:
                        self.set_aside[u.reason] += 1
                return
            except Exception as exc:  # NATS down, the DLQ refusing: never pass the message
                failures += 1
                self.problem = f"dead letters cannot be written: {first_line(exc)}"
                log.error("cannot set a message aside", projector=self.name, error=self.problem)
                await asyncio.sleep(_backoff(failures))

    async def _in_sink(self, items: Sequence[Item], through: int) -> None:
        if getattr(self.sink, "threaded", False):
            await asyncio.to_thread(self._write, items, through)
        else:
            # On the event loop, as the command bus writes the same store: the two never
            # interleave inside one transaction's reads and writes.
            self._write(items, through)

    def _write(self, items: Sequence[Item], through: int) -> None:
        with self.sink.engine.begin() as conn:
            self.sink.write(conn, items, through)
        self._stored_position = through
        self._flushed_at = time.monotonic()

    async def _advance(self, through: int, applied: int) -> None:
        async with self._advanced:
            self.position = max(self.position, through)
            self.applied += applied
            self._advanced.notify_all()

    # ---------------------------------------------------------------- waiting

    async def wait_for(self, sequence: int, timeout: float = 5.0) -> bool:
        """Wait until everything up to ``sequence`` is applied; False on timeout."""
        if self.position < sequence:
            self.source.wake()

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

    # ----------------------------------------------------------------- health

    def health(self, last: int) -> FollowerHealth:
        """How this projector stands against the stream's ``last`` sequence."""
        lag = max(0, last - self.position)
        now = time.monotonic()
        state, problem = "following", self.problem
        if lag:
            if self._seen is None or self._seen[0] != self.position:
                self._seen = (self.position, now)
            stuck_for = now - self._seen[1]
            state = "catching_up"
            if stuck_for >= self.stall_after:
                state = "stalled"
                problem = problem or (
                    f"behind at {self.position} of {last} and not advancing for {stuck_for:.0f} s"
                )
        else:
            self._seen = None
        if self.problem is not None:
            state = "failing"
        return FollowerHealth(
            name=self.name,
            stream=self.stream,
            applied=self.position,
            last=last,
            lag=lag,
            state=state,
            problem=problem,
            set_aside=dict(self.set_aside),
        )


def _stored(stream: str, msg: Msg) -> StoredEvent:
    meta = msg.metadata
    return StoredEvent(
        stream,
        meta.sequence.stream,
        msg.subject,
        msg.data,
        (msg.headers or {}).get("Nats-Msg-Id"),
        meta.timestamp,
    )


def default_source(es: EventStorePort, stream: str, own: bool = False) -> Source:
    """Direct gets on JetStream (no consumer); on an in-process store, its own wake-ups."""
    if isinstance(es, EventStore):
        return DirectSource(es, stream, own)
    if hasattr(es, "wait_beyond"):
        return MemorySource(cast(Wakes, es), stream)
    raise TypeError(f"no source for {type(es).__name__}: pass one")


def _backoff(failures: int) -> float:
    return float(min(0.25 * 2 ** max(failures - 1, 0), MAX_BACKOFF_S))


async def health_detail(es: EventStorePort, projectors: Sequence[Projector]) -> dict[str, Any]:
    """The one health detail of every service: each follower, and one line per problem."""
    followers: dict[str, Any] = {}
    problems: list[str] = []
    for p in projectors:
        try:
            last = await es.stream_last_sequence(p.stream)
        except Exception as exc:
            problems.append(f"{p.name}: cannot read {p.stream}'s last sequence: {first_line(exc)}")
            last = p.position
        h = p.health(last)
        # keyed without the service's prefix: ``own:EVENTS``, ``roster-lookup:ROSTER``
        followers[p.name.split(".", 1)[-1]] = h.model_dump()
        if h.problem:
            problems.append(f"{p.name}: {h.problem}")
    return {"healthy": not problems, "followers": followers, "problems": problems}


def decoded(stored: StoredEvent) -> Decoded:
    """Decode ``stored`` or raise (for readers of an aggregate's own, checked history)."""
    envelope = stored.envelope()
    return Decoded(stored, envelope, registry.decode(envelope))


class StateSink:
    """A sink whose position is a row of a command service's state store (``positions``)."""

    def __init__(
        self,
        store: StateStore,
        key: str,
        apply: Callable[[Connection, Sequence[Decoded]], None],
        only: frozenset[str] | None = None,
        pending: Callable[[Sequence[StoredEvent]], Sequence[StoredEvent]] | None = None,
        threaded: bool = False,
    ) -> None:
        self.store = store
        self.key = key
        self.engine = store.engine
        self.only = only
        self.threaded = threaded
        self._apply = apply
        self._pending = pending

    def position(self) -> int:
        return self.store.position(self.key)

    def pending(self, events: Sequence[StoredEvent]) -> Sequence[StoredEvent]:
        return self._pending(events) if self._pending is not None else events

    def write(self, conn: Connection, items: Sequence[Item], through: int) -> None:
        good = [i for i in items if isinstance(i, Decoded)]
        if good:
            self._apply(conn, good)
        self.store.save_position(conn, self.key, through)


def state_projector(
    es: EventStorePort,
    store: StateStore,
    stream: str,
    key: str,
    apply: Callable[[Connection, Sequence[Decoded]], None],
    only: frozenset[str] | None = None,
    pending: Callable[[Sequence[StoredEvent]], Sequence[StoredEvent]] | None = None,
    stall_after: float = DEFAULT_STALL_S,
    threaded: bool = False,
) -> Projector:
    """A command service's follower: ``key`` names its position row; its dead letters are
    ``<service>.<key>`` (the state store's prefix is the service's name). ``threaded``
    only for tables the command bus never writes (a copy of another context's stream)."""
    service = store.tables.positions.name.removesuffix("_stream_positions")
    sink = StateSink(store, key, apply, only, pending, threaded)
    return Projector(es, stream, sink, f"{service}.{key}", stall_after=stall_after)
