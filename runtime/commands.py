"""The command bus: idempotency, load (``runtime.aggregates``), decide, append, reply.

Handlers are application code:

    async def enroll_member(cmd: EnrollMember, ctx: CommandContext, uow: UnitOfWork):
        member = await uow.load(MEMBER, member_id)
        return await uow.record(member, members.decide_enroll(member.state, cmd, ...))

An idempotency key is bound to its command: the outcome stored under ``command_id`` keeps the
command's digest (``command_digest``), every event the command writes carries it too, and the
same id with another command is refused (``conflict``, rule ``command_id_reused``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from contracts.calendar import CENTER_TZ
from contracts.canonical import canonical_json, sha256_hex
from contracts.envelope import DomainEvent, EventEnvelope
from contracts.replies import Command, CommandAccepted
from runtime.aggregates import DIGEST_KEY, Aggregates, Loaded
from runtime.domain import AggregateKind, Conflict, DomainError, NothingToChange
from runtime.eventport import ConcurrencyConflict, EventStorePort
from runtime.keylocks import KeyedLocks
from runtime.statestore import StateStore

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


TRANSPORT_FIELDS = frozenset({"command_id", "correlation_id"})
"""Fields a retry may change without being another command: the key itself, and the tracing
id a client may renew per attempt. Everything else (the command's type, its fields, ``actor``,
``occurred_at``) is the command."""


def command_digest(command: Command) -> str:
    """SHA-256 of the canonical command (contracts/canonical.py) without its transport fields.

    Fields at their defaults are left out, so a field added to a contract later (with a
    default) does not turn the retry of an older command into another command.
    """
    body = command.model_dump(mode="json", exclude=set(TRANSPORT_FIELDS), exclude_defaults=True)
    return sha256_hex(canonical_json({"command": type(command).__name__, "fields": body}))


class CommandIdReused(Conflict):
    """The command id names an earlier, different command: nothing is done."""

    @property
    def rule(self) -> str:
        return "command_id_reused"


class AlreadyHandled(Exception):
    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__("command already handled")
        self.reply = reply


def replay(known: dict[str, Any], command: Command, digest: str) -> CommandAccepted:
    """The stored outcome of ``command``'s id, if it is the same command; else refused."""
    stored = known.get(DIGEST_KEY)
    if stored is not None and stored != digest:
        raise CommandIdReused(
            f"command id {command.command_id} was used for another command",
            command_id=command.command_id,
            aggregate_type=known.get("aggregate_type"),
            aggregate_id=known.get("aggregate_id"),
        )
    reply = {k: v for k, v in known.items() if k != DIGEST_KEY}
    return CommandAccepted.model_validate({**reply, "replayed": True})


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
    digest: str | None = None
    """The command's digest, written into every event and the stored outcome."""
    outcomes_seen: int = 0
    """``StateStore.outcomes_saved`` when the bus found no outcome for this command id."""

    def already_recorded(self) -> None:
        """Raise AlreadyHandled when this command's outcome reached the store since the bus
        looked: another instance wrote it, and this instance's follower (or a load) applied
        it. A decision on that state would refuse (``already_exists``) or write twice."""
        store = self.bus.store
        if self.recorded or store.outcomes_saved == self.outcomes_seen:
            return
        known = store.outcome(self.ctx.command.command_id)
        if known is not None:
            raise AlreadyHandled(known)

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

    async def decide(
        self,
        loaded: Loaded[S],
        decide: Callable[[], Sequence[DomainEvent]],
        occurred_at: datetime | None = None,
        message: str = "",
    ) -> CommandAccepted:
        """Record what ``decide`` decides; when it raises ``NothingToChange``, the reply is
        ``unchanged`` with its message (the one "nothing to change" idiom of every service)."""
        try:
            events = decide()
        except NothingToChange as same:
            return await self.record(loaded, [], message=same.message)
        return await self.record(loaded, events, occurred_at, message)

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
            self.already_recorded()  # ... and not of this very command's earlier effect
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
                command_digest=self.digest,
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
        self.already_recorded()
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
        if self.digest is not None:
            outcome[DIGEST_KEY] = self.digest
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
        es: EventStorePort,
        store: StateStore,
        aggregates: Aggregates,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.es = es
        self.store = store
        self.aggregates = aggregates
        self.clock = clock
        self._locks = KeyedLocks()
        # Fault injection for the crash tests, read once here (never per command).
        self.fault = os.environ.get("BRIEFINGS_FAULT", "")

    async def handle(self, command: Command, handler: Handler) -> CommandAccepted:
        digest = command_digest(command)
        seen = self.store.outcomes_saved
        known = self.store.outcome(command.command_id)
        if known is not None:
            return replay(known, command, digest)
        # One command per command id at a time in this process: a concurrent retry waits.
        lock = self._locks.lock(command.command_id)
        waited = lock.locked()  # an uncontended acquire does not yield: nothing changed
        async with lock:
            # A copy that waited on the lock: the first may have recorded the outcome meanwhile
            # (load only re-checks outcomes when it read newer events).
            known = self.store.outcome(command.command_id) if waited else None
            if known is not None:
                return replay(known, command, digest)
            for attempt in range(MAX_CONFLICT_RETRIES):
                uow = UnitOfWork(
                    self,
                    CommandContext(command, self.clock()),
                    optimistic=attempt == 0,
                    digest=digest,
                    outcomes_seen=seen,
                )
                try:
                    try:
                        return await handler(command, uow.ctx, uow)
                    except DomainError:
                        await uow.verify()  # a refusal must be of current states
                        uow.already_recorded()  # ... and not of this command's own effect
                        raise
                except AlreadyHandled as done:
                    return replay(done.reply, command, digest)
                except ConcurrencyConflict:
                    if attempt == MAX_CONFLICT_RETRIES - 1:
                        raise
                    await asyncio.sleep(0.002 * (attempt + 1))
        raise AssertionError("unreachable")
