"""Aggregates through snapshots: load (snapshot + newer events from the store), fold, save.

Shared by the command bus (``runtime.commands``) and a service's follower of its own stream.
Each outcome saved here is rebuilt from events: every event carries its ``command_id`` and the
command's digest (``command_digest``), so a state store rebuilt from the stream still binds
each id to its command.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from contracts.canonical import GENESIS_HASH, sha256_hex
from contracts.replies import CommandAccepted
from contracts.subjects import event_subject, parse_event_subject
from runtime.domain import AggregateKind
from runtime.eventport import EventStorePort, StoredEvent
from runtime.projector import Decoded, decoded
from runtime.statestore import SnapshotRow, StateStore

S = TypeVar("S", bound=BaseModel)

DIGEST_KEY = "command_digest"
"""Where a stored outcome keeps the digest of the command it answers (never sent back)."""


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


def outcome_of(
    command_id: str,
    kind_type: str,
    aggregate_id: str,
    version: int,
    event_ids: Sequence[str],
    digest: str | None = None,
) -> dict[str, Any]:
    """A stored outcome: the reply, plus the command's digest when known (older events
    carry none: their ids replay whatever command comes with them, as before)."""
    outcome = CommandAccepted(
        command_id=command_id,
        aggregate_type=kind_type,
        aggregate_id=aggregate_id,
        version=version,
        event_ids=[uuid.UUID(e) for e in event_ids],
    ).model_dump(mode="json")
    if digest is not None:
        outcome[DIGEST_KEY] = digest
    return outcome


StateHook = Callable[[Any, str, str, BaseModel | None], None]
"""``(connection, aggregate_type, aggregate_id, state)``: keep a query table in step."""


class Aggregates:
    """Loading and folding aggregates through snapshots; shared by the bus and the follower."""

    def __init__(
        self,
        es: EventStorePort,
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
        stored: Sequence[Decoded],
        snapshot: SnapshotRow | None,
    ) -> SnapshotRow:
        """Fold ``stored`` (decoded once; newer than ``snapshot``) into a new snapshot."""
        state = (
            kind.state_type.model_validate_json(snapshot.state)
            if snapshot and snapshot.state != "null"
            else None
        )
        version = snapshot.version if snapshot else 0
        last_seq = snapshot.last_seq if snapshot else 0
        last_hash = snapshot.last_hash if snapshot else GENESIS_HASH
        for item in stored:
            event, envelope = item.stored, item.envelope
            if event.sequence <= last_seq:
                continue
            state = kind.evolve(state, item.event)
            version = envelope.aggregate_version
            last_seq = event.sequence
            last_hash = sha256_hex(event.data)  # the bytes as stored, never a re-encoding
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
                        envelope.command_digest,
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

    def apply_stream_batch(self, conn: Any, events: Sequence[Decoded]) -> None:
        """Bring snapshots up to date with events read from the stream (a projector's apply)."""
        for item in events:
            subject = item.stored.subject
            _, aggregate_type, aggregate_id = parse_event_subject(subject)
            kind = self.kinds.get(aggregate_type)
            if kind is None:
                continue
            snapshot = self.store.snapshot(subject, conn)
            if snapshot is not None and snapshot.last_seq >= item.stored.sequence:
                continue
            self.apply_stored(conn, kind, aggregate_id, [item], snapshot)

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
                    items = [decoded(e) for e in newer]
                    snapshot = self.apply_stored(conn, kind, aggregate_id, items, fresh)
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
        self._remember_state(snapshot.subject, snapshot.last_seq, state)
        return state

    def _remember_state(self, subject: str, last_seq: int, state: Any) -> None:
        """Bounded: the oldest entry goes once the cache is full (memory stays flat)."""
        self._states.pop(subject, None)
        self._states[subject] = (last_seq, state)
        while len(self._states) > StateStore.CACHE_SIZE:
            self._states.pop(next(iter(self._states)))

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
        self._remember_state(loaded.subject, last_seq, state)
        if outcome is not None:
            self.store.save_outcome(conn, outcome["command_id"], outcome, known_new=True)
        for hook in self.hooks:
            hook(conn, loaded.kind.type, loaded.aggregate_id, state)
