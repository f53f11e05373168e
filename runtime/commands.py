"""The command bus: idempotency, load (snapshot + newer events), decide, append, reply.

Handlers are application code:

    async def enroll_member(cmd: EnrollMember, ctx: CommandContext, uow: UnitOfWork):
        member = await uow.load(MEMBER, member_id)
        return await uow.record(member, members.decide_enroll(member.state, cmd, ...))
"""

from __future__ import annotations

import asyncio
import os
import uuid
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from contracts.calendar import CENTER_TZ
from contracts.canonical import GENESIS_HASH, sha256_hex
from contracts.envelope import DomainEvent, EventEnvelope
from contracts.registry import registry
from contracts.replies import Command, CommandAccepted
from contracts.subjects import event_subject, parse_event_subject
from runtime.domain import AggregateKind, DomainError
from runtime.eventstore import ConcurrencyConflict, EventStore, StoredEvent
from runtime.statestore import SnapshotRow, StateStore

S = TypeVar("S", bound=BaseModel)
C = TypeVar("C", bound=Command)

MAX_CONFLICT_RETRIES = 8

FAULT_CRASH_AFTER_APPEND = "crash_after_append"
"""``BRIEFINGS_FAULT`` value for tests/reliability only: the process dies (exit 137, as if
killed) right after an append is acknowledged, before the snapshot, the outcome and the reply."""


@dataclass(frozen=True)
class CommandContext:
    command: Command
    now: datetime

    @property
    def today(self) -> date:
        return self.now.astimezone(CENTER_TZ).date()

    @property
    def correlation_id(self) -> str:
        return self.command.correlation_id or self.command.command_id

    def effective(self, day: date | None) -> date:
        return day if day is not None else self.today


@dataclass
class Loaded(Generic[S]):
    kind: AggregateKind[S]
    aggregate_id: str
    subject: str
    state: S | None
    version: int
    last_seq: int
    last_hash: str
    existed: bool
    caught_up: bool = False
    """True when newer events than the snapshot were read: they may carry this command's id."""

    @property
    def exists(self) -> bool:
        return self.state is not None


class AlreadyHandled(Exception):
    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__("command already handled")
        self.reply = reply


def outcome_of(
    command_id: str, kind_type: str, aggregate_id: str, version: int, event_ids: Sequence[str]
) -> dict[str, Any]:
    return CommandAccepted(
        command_id=command_id,
        aggregate_type=kind_type,
        aggregate_id=aggregate_id,
        version=version,
        event_ids=[uuid.UUID(e) for e in event_ids],
    ).model_dump(mode="json")


StateHook = Callable[[Any, str, str, BaseModel | None], None]
"""``(connection, aggregate_type, aggregate_id, state)``: keep a query table in step."""


class Aggregates:
    """Loading and folding aggregates through snapshots; shared by the bus and the follower."""

    def __init__(
        self,
        es: EventStore,
        store: StateStore,
        kinds: Sequence[AggregateKind[Any]],
        hooks: Sequence[StateHook] = (),
    ) -> None:
        self.es = es
        self.store = store
        self.kinds = {k.type: k for k in kinds}
        self.hooks = list(hooks)
        # Parsed states by subject, valid for the sequence they were parsed at.
        self._states: dict[str, tuple[int, Any]] = {}
        # Event ids appended by this process whose snapshot is not saved yet.
        self.in_flight: set[str] = set()

    def kind(self, aggregate_type: str) -> AggregateKind[Any]:
        return self.kinds[aggregate_type]

    def apply_stored(
        self,
        conn: Any,
        kind: AggregateKind[Any],
        aggregate_id: str,
        stored: Sequence[StoredEvent],
        snapshot: SnapshotRow | None,
    ) -> SnapshotRow:
        """Fold ``stored`` (newer than ``snapshot``) into a new snapshot, within ``conn``."""
        state = (
            kind.state_type.model_validate_json(snapshot.state)
            if snapshot and snapshot.state != "null"
            else None
        )
        version = snapshot.version if snapshot else 0
        last_seq = snapshot.last_seq if snapshot else 0
        last_hash = snapshot.last_hash if snapshot else GENESIS_HASH
        for event in stored:
            if event.sequence <= last_seq:
                continue
            envelope = event.envelope()
            state = kind.evolve(state, registry.decode(envelope))
            version = envelope.aggregate_version
            last_seq = event.sequence
            last_hash = envelope.hash()
            if envelope.command_id:
                self.store.save_outcome(
                    conn,
                    envelope.command_id,
                    outcome_of(
                        envelope.command_id,
                        kind.type,
                        aggregate_id,
                        version,
                        [str(envelope.event_id)],
                    ),
                )
        row = SnapshotRow(
            subject=event_subject(kind.context, kind.type, aggregate_id),
            aggregate_type=kind.type,
            aggregate_id=aggregate_id,
            version=version,
            last_seq=last_seq,
            last_hash=last_hash,
            state=state.model_dump_json() if state is not None else "null",
        )
        self.store.save_snapshot(conn, row, existed=snapshot is not None)
        for hook in self.hooks:
            hook(conn, kind.type, aggregate_id, state)
        return row

    def not_yet_applied(self, events: Sequence[StoredEvent]) -> list[StoredEvent]:
        """The events no cached snapshot already covers (a follower's ``relevant``)."""
        todo = []
        for event in events:
            if event.msg_id in self.in_flight:
                continue  # the bus that appended it is about to save it
            cached = self.store.cached_snapshot(event.subject)
            if cached is None or cached.last_seq < event.sequence:
                todo.append(event)
        return todo

    def apply_stream_batch(self, conn: Any, events: Sequence[StoredEvent]) -> None:
        """Bring snapshots up to date with events read from the stream (a follower's apply)."""
        for event in events:
            _, aggregate_type, aggregate_id = parse_event_subject(event.subject)
            kind = self.kinds.get(aggregate_type)
            if kind is None:
                continue
            snapshot = self.store.snapshot(event.subject, conn)
            if snapshot is not None and snapshot.last_seq >= event.sequence:
                continue
            self.apply_stored(conn, kind, aggregate_id, [event], snapshot)

    async def load(
        self, kind: AggregateKind[S], aggregate_id: str, verify: bool = True
    ) -> Loaded[S]:
        """The aggregate from its snapshot, brought up to the subject's last sequence. With
        ``verify=False`` the snapshot is taken as it is (no round trip): the caller must check
        the subject's last sequence before it acts on the state (see ``UnitOfWork``)."""
        subject = event_subject(kind.context, kind.type, aggregate_id)
        snapshot = self.store.snapshot(subject)
        if not verify:
            if snapshot is None:
                return Loaded(kind, aggregate_id, subject, None, 0, 0, GENESIS_HASH, existed=False)
            return Loaded(
                kind,
                aggregate_id,
                subject,
                self.state_of(kind, snapshot),
                snapshot.version,
                snapshot.last_seq,
                snapshot.last_hash,
                existed=True,
            )
        current = await self.es.last_sequence(kind.stream, subject)
        caught_up = False
        if current > (snapshot.last_seq if snapshot else 0):
            newer = await self.es.read_subject(
                kind.stream, subject, after=snapshot.last_seq if snapshot else 0
            )
            if newer:
                caught_up = True
                with self.store.engine.begin() as conn:
                    fresh = self.store.snapshot(subject, conn)
                    snapshot = self.apply_stored(conn, kind, aggregate_id, newer, fresh)
        if snapshot is None:
            return Loaded(kind, aggregate_id, subject, None, 0, 0, GENESIS_HASH, existed=False)
        return Loaded(
            kind,
            aggregate_id,
            subject,
            self.state_of(kind, snapshot),
            snapshot.version,
            snapshot.last_seq,
            snapshot.last_hash,
            existed=True,
            caught_up=caught_up,
        )

    def state_of(self, kind: AggregateKind[S], snapshot: SnapshotRow) -> S | None:
        cached = self._states.get(snapshot.subject)
        if cached is not None and cached[0] == snapshot.last_seq:
            return cached[1]
        state = (
            kind.state_type.model_validate_json(snapshot.state)
            if snapshot.state != "null"
            else None
        )
        self._states[snapshot.subject] = (snapshot.last_seq, state)
        if len(self._states) > StateStore.CACHE_SIZE:
            self._states.pop(next(iter(self._states)))
        return state

    def save_state(
        self,
        conn: Any,
        loaded: Loaded[S],
        state: S | None,
        version: int,
        last_seq: int,
        last_hash: str,
        outcome: dict[str, Any] | None,
    ) -> None:
        """Persist a state the caller already folded (the bus's own write: nothing to re-read)."""
        row = SnapshotRow(
            subject=loaded.subject,
            aggregate_type=loaded.kind.type,
            aggregate_id=loaded.aggregate_id,
            version=version,
            last_seq=last_seq,
            last_hash=last_hash,
            state=state.model_dump_json() if state is not None else "null",
        )
        self.store.save_snapshot(conn, row, existed=loaded.existed)
        self._states[loaded.subject] = (last_seq, state)
        if outcome is not None:
            self.store.save_outcome(conn, outcome["command_id"], outcome, known_new=True)
        for hook in self.hooks:
            hook(conn, loaded.kind.type, loaded.aggregate_id, state)


class StaleRead(ConcurrencyConflict):
    """An aggregate a command decided on moved on before the command's append: run again."""


@dataclass
class UnitOfWork:
    """One attempt of one command.

    The first attempt reads aggregates from their snapshots without asking the stream
    (``optimistic``): the written aggregate is guarded by the append's expected last subject
    sequence, and every other aggregate read is checked once, all together, just before the
    append (``verify``), or before a refusal or "nothing to change" goes out. Anything that
    moved on makes the attempt a conflict, and the bus's next attempt loads as before: each
    aggregate brought up to the stream's last sequence as it is read. The decision is then
    taken on states that were current when it was checked, as with checking at load, and a
    command that reads one aggregate and writes another costs one round trip, not two.
    """

    bus: CommandBus
    ctx: CommandContext
    recorded: list[dict[str, Any]] = field(default_factory=list)
    optimistic: bool = False
    unverified: list[Loaded[Any]] = field(default_factory=list)

    async def verify(self, written: str | None = None) -> None:
        """Raise StaleRead when an aggregate read without a check has moved on (``written``:
        the subject the coming append guards itself)."""
        todo = [x for x in self.unverified if x.subject != written]
        self.unverified = [x for x in self.unverified if x.subject == written]
        if not todo:
            return
        es = self.bus.es
        currents = await asyncio.gather(*(es.last_sequence(x.kind.stream, x.subject) for x in todo))
        for loaded, current in zip(todo, currents, strict=True):
            if current != loaded.last_seq:
                raise StaleRead(loaded.subject, loaded.last_seq, "moved on since its snapshot")

    async def load(self, kind: AggregateKind[S], aggregate_id: str) -> Loaded[S]:
        if self.optimistic and not self.recorded:
            loaded = await self.bus.aggregates.load(kind, aggregate_id, verify=False)
            self.unverified.append(loaded)
            return loaded
        loaded = await self.bus.aggregates.load(kind, aggregate_id)
        if loaded.caught_up and not self.recorded:
            known = self.bus.store.outcome(self.ctx.command.command_id)
            if known is not None:
                raise AlreadyHandled(known)
        return loaded

    async def record(
        self,
        loaded: Loaded[S],
        events: Sequence[DomainEvent],
        occurred_at: datetime | None = None,
        message: str = "",
    ) -> CommandAccepted:
        """Append ``events`` to ``loaded``'s subject and bring the snapshot up to date."""
        command = self.ctx.command
        if not events:
            await self.verify()  # "nothing to change" must be said of current states
            return CommandAccepted(
                command_id=command.command_id,
                aggregate_type=loaded.kind.type,
                aggregate_id=loaded.aggregate_id,
                version=loaded.version,
                event_ids=[],
                unchanged=True,
                message=message or "nothing to change",
            )
        when = command.occurred_at or occurred_at or self.ctx.now
        envelopes: list[EventEnvelope] = []
        encoded: list[tuple[str, bytes]] = []
        prev_hash = loaded.last_hash
        for offset, event in enumerate(events, start=1):
            envelope = EventEnvelope(
                event_id=uuid.uuid4(),
                type=event.event_type,
                schema_version=event.schema_version,
                aggregate_type=loaded.kind.type,
                aggregate_id=loaded.aggregate_id,
                aggregate_version=loaded.version + offset,
                occurred_at=when,
                recorded_at=self.ctx.now,
                correlation_id=self.ctx.correlation_id,
                causation_id=command.command_id,
                command_id=command.command_id,
                actor=command.actor,
                prev_hash=prev_hash,
                payload=event.model_dump(mode="json"),
            )
            data = envelope.to_canonical()
            prev_hash = sha256_hex(data)
            envelopes.append(envelope)
            encoded.append((str(envelope.event_id), data))
        event_ids = [event_id for event_id, _ in encoded]
        in_flight = self.bus.aggregates.in_flight
        in_flight.update(event_ids)
        try:
            return await self._append_and_save(
                loaded, events, envelopes, encoded, prev_hash, message
            )
        finally:
            in_flight.difference_update(event_ids)

    async def _append_and_save(
        self,
        loaded: Loaded[S],
        events: Sequence[DomainEvent],
        envelopes: list[EventEnvelope],
        encoded: list[tuple[str, bytes]],
        prev_hash: str,
        message: str,
    ) -> CommandAccepted:
        command = self.ctx.command
        await self.verify(written=loaded.subject)
        self.unverified.clear()
        sequences = await self.bus.es.append_encoded(
            loaded.kind.stream, loaded.subject, encoded, loaded.last_seq
        )
        if self.bus.fault == FAULT_CRASH_AFTER_APPEND:
            os._exit(137)  # the crash test: appended, no snapshot, no outcome, no reply
        state = loaded.kind.fold(loaded.state, list(events))
        reply = CommandAccepted(
            command_id=command.command_id,
            aggregate_type=loaded.kind.type,
            aggregate_id=loaded.aggregate_id,
            version=envelopes[-1].aggregate_version,
            event_ids=[e.event_id for e in envelopes],
            message=message,
        )
        outcome = reply.model_dump(mode="json")
        with self.bus.store.engine.begin() as conn:
            current = self.bus.store.cached_snapshot(loaded.subject)
            # The service's own follower may have applied this very event while the append's
            # ack was on its way; then the snapshot and the outcome are saved already.
            if current is None or current.last_seq < sequences[-1]:
                loaded.existed = current is not None
                self.bus.aggregates.save_state(
                    conn,
                    loaded,
                    state,
                    envelopes[-1].aggregate_version,
                    sequences[-1],
                    prev_hash,
                    None if self.recorded else outcome,
                )
                if self.recorded:  # a second aggregate for the same command: merge outcomes
                    self.bus.store.save_outcome(conn, command.command_id, outcome)
        self.recorded.append(outcome)
        return reply


Handler = Callable[[Any, CommandContext, UnitOfWork], Awaitable[CommandAccepted]]


class CommandBus:
    def __init__(
        self,
        es: EventStore,
        store: StateStore,
        aggregates: Aggregates,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.es = es
        self.store = store
        self.aggregates = aggregates
        self.clock = clock
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # Fault injection for the crash tests, read once here (never per command).
        self.fault = os.environ.get("BRIEFINGS_FAULT", "")

    async def handle(self, command: Command, handler: Handler) -> CommandAccepted:
        known = self.store.outcome(command.command_id)
        if known is not None:
            return CommandAccepted.model_validate({**known, "replayed": True})
        # One command per command id at a time in this process: a concurrent retry waits.
        lock = self._locks.get(command.command_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[command.command_id] = lock
        waited = lock.locked()  # an uncontended acquire does not yield: nothing changed
        async with lock:
            # A copy that waited on the lock: the first may have recorded the outcome meanwhile
            # (load only re-checks outcomes when it read newer events).
            known = self.store.outcome(command.command_id) if waited else None
            if known is not None:
                return CommandAccepted.model_validate({**known, "replayed": True})
            for attempt in range(MAX_CONFLICT_RETRIES):
                uow = UnitOfWork(
                    self, CommandContext(command, self.clock()), optimistic=attempt == 0
                )
                try:
                    try:
                        return await handler(command, uow.ctx, uow)
                    except DomainError:
                        await uow.verify()  # a refusal must be of current states
                        raise
                except AlreadyHandled as done:
                    return CommandAccepted.model_validate({**done.reply, "replayed": True})
                except ConcurrencyConflict:
                    if attempt == MAX_CONFLICT_RETRIES - 1:
                        raise
                    await asyncio.sleep(0.002 * (attempt + 1))
        raise AssertionError("unreachable")
