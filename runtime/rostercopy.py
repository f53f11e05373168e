"""The roster as other contexts copy it: one model, one fold, one store, one follower.

The events service (is this member on the roster on the conference date, in which unit?)
and the awards service (did this member or unit exist and was it active on the decision
date, under which name?) need the same facts of the roster: each member's and unit's
effective-dated changes and names. Both fold the ROSTER stream's published events
(contracts only, never the roster's code) into this model, kept in their own database
(tables prefixed with the service's name) by a runtime projector.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from contracts import roster as r
from contracts.envelope import DomainEvent
from contracts.subjects import parse_event_subject
from runtime.eventstore import EventStore
from runtime.projector import DEFAULT_STALL_S, Decoded, Projector, state_projector
from runtime.statestore import StateStore

FOLLOWER_KEY = "roster-copy:ROSTER"
"""The copy's position key (and dead letters: ``<service>.roster-copy:ROSTER``)."""


class Change(StrEnum):
    ENROLLED = "enrolled"
    REENROLLED = "reenrolled"
    TRANSFERRED = "transferred"
    RETIRED = "retired"
    REGISTERED = "registered"
    DISSOLVED = "dissolved"


OPENS = {Change.ENROLLED, Change.REENROLLED, Change.REGISTERED}
CLOSES = {Change.RETIRED, Change.DISSOLVED}


class HistoryEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    change: Change
    effective_on: date
    sequence: int = Field(description="ROSTER stream sequence: orders same-day changes")
    unit_id: str | None = None
    role: r.Role | None = None


class NameFrom(BaseModel):
    model_config = ConfigDict(frozen=True)

    since: date
    name: str


class Span(BaseModel):
    """Active from ``start`` (inclusive) until ``end`` (exclusive; ``None``: still active)."""

    model_config = ConfigDict(frozen=True)

    start: date
    end: date | None = None

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)


def name_on(names: Sequence[NameFrom], day: date) -> str:
    """The name in force on ``day`` (the earliest known name before the first one)."""
    current = names[0].name if names else ""
    for entry in names:
        if entry.since <= day:
            current = entry.name
    return current


def describe_activity(spans: Sequence[Span]) -> str:
    return ", ".join(f"{s.start}..{s.end or ''}" for s in spans) or "never active"


class Copied(BaseModel):
    """What members and units share: dated changes and dated names."""

    model_config = ConfigDict(frozen=True)

    history: tuple[HistoryEntry, ...] = ()
    names: tuple[NameFrom, ...] = ()

    def spans(self) -> tuple[Span, ...]:
        """Activity stretches, in the order the roster recorded the changes (a retirement
        dated before the enrolment it ends leaves an empty stretch, not a negative one)."""
        spans: list[Span] = []
        for entry in self.history:
            if entry.change in OPENS and (not spans or spans[-1].end is not None):
                spans.append(Span(start=entry.effective_on))
            elif entry.change in CLOSES and spans and spans[-1].end is None:
                last = spans[-1]
                spans[-1] = Span(start=last.start, end=max(entry.effective_on, last.start))
        return tuple(spans)

    def active_on(self, day: date) -> bool:
        return any(span.covers(day) for span in self.spans())

    def name_on(self, day: date) -> str:
        return name_on(self.names, day)


class MemberStanding(BaseModel):
    """A member as the roster stood on one date."""

    model_config = ConfigDict(frozen=True)

    member_id: str
    full_name: str
    external_code: str | None
    on: date
    active: bool
    unit_id: str | None
    role: r.Role | None
    enrolled_on: date | None
    retired_on: date | None = None

    def why_inactive(self) -> str:
        if self.enrolled_on is None or self.on < self.enrolled_on:
            return f"enrolled only on {self.enrolled_on}"
        return f"retired on {self.retired_on}"


class MemberCopy(Copied):
    member_id: str
    full_name: str
    """The latest name the roster recorded."""
    external_code: str | None = None

    @property
    def current_unit_id(self) -> str | None:
        return self.standing_on(date.max).unit_id

    def standing_on(self, day: date) -> MemberStanding:
        """Fold the changes in force on ``day`` (by effective date, then stream order)."""
        active, unit_id, role = False, None, None
        enrolled_on: date | None = None
        retired_on: date | None = None
        for entry in sorted(self.history, key=lambda e: (e.effective_on, e.sequence)):
            if entry.effective_on > day:
                if enrolled_on is None and entry.change is Change.ENROLLED:
                    enrolled_on = entry.effective_on
                break
            match entry.change:
                case Change.ENROLLED | Change.REENROLLED:
                    active, unit_id, role = True, entry.unit_id, entry.role
                    enrolled_on = enrolled_on or entry.effective_on
                    retired_on = None
                case Change.TRANSFERRED:
                    unit_id = entry.unit_id
                case Change.RETIRED:
                    active, retired_on = False, entry.effective_on
        return MemberStanding(
            member_id=self.member_id,
            full_name=self.full_name,
            external_code=self.external_code,
            on=day,
            active=active,
            unit_id=unit_id,
            role=role,
            enrolled_on=enrolled_on,
            retired_on=retired_on,
        )


class UnitCopy(Copied):
    unit_id: str
    name: str
    """The latest name the roster recorded."""
    dissolved: bool = False


def _with_name(names: tuple[NameFrom, ...], since: date, name: str) -> tuple[NameFrom, ...]:
    kept = tuple(n for n in names if n.since != since)
    return tuple(sorted((*kept, NameFrom(since=since, name=name)), key=lambda n: n.since))


def evolve_member(member: MemberCopy | None, event: DomainEvent, seq: int) -> MemberCopy | None:
    """The member after one roster event; ``None`` stays ``None`` until an enrolment."""
    if isinstance(event, r.MemberEnrolled):
        first = HistoryEntry(
            change=Change.ENROLLED,
            effective_on=event.effective_on,
            sequence=seq,
            unit_id=event.unit_id,
            role=event.role,
        )
        return MemberCopy(
            member_id=event.member_id,
            full_name=event.full_name,
            external_code=event.external_code,
            history=(first,),
            names=_with_name(member.names if member else (), event.effective_on, event.full_name),
        )
    if member is None:
        return None
    entry: HistoryEntry | None = None
    changes: dict[str, Any] = {}
    match event:
        case r.MemberReenrolled():
            entry = HistoryEntry(
                change=Change.REENROLLED,
                effective_on=event.effective_on,
                sequence=seq,
                unit_id=event.unit_id,
                role=event.role,
            )
        case r.MemberTransferred():
            entry = HistoryEntry(
                change=Change.TRANSFERRED,
                effective_on=event.effective_on,
                sequence=seq,
                unit_id=event.to_unit_id,
            )
        case r.MemberRetired():
            entry = HistoryEntry(
                change=Change.RETIRED, effective_on=event.effective_on, sequence=seq
            )
        case r.MemberDetailsCorrected():
            changes["full_name"] = event.full_name
            changes["names"] = _with_name(member.names, event.effective_on, event.full_name)
        case r.MemberExternalCodeChanged():
            changes["external_code"] = event.external_code
    if entry is not None:
        changes["history"] = (*member.history, entry)
    return member.model_copy(update=changes) if changes else member


def evolve_unit(unit: UnitCopy | None, event: DomainEvent, seq: int) -> UnitCopy | None:
    """The unit after one roster event; ``None`` stays ``None`` until its registration."""
    match event:
        case r.UnitRegistered() if unit is None:
            return UnitCopy(
                unit_id=event.unit_id,
                name=event.name,
                history=(
                    HistoryEntry(
                        change=Change.REGISTERED, effective_on=event.effective_on, sequence=seq
                    ),
                ),
                names=(NameFrom(since=event.effective_on, name=event.name),),
            )
        case r.UnitRenamed() if unit is not None:
            return unit.model_copy(
                update={
                    "name": event.name,
                    "names": _with_name(unit.names, event.effective_on, event.name),
                }
            )
        case r.UnitDissolved() if unit is not None:
            entry = HistoryEntry(
                change=Change.DISSOLVED, effective_on=event.effective_on, sequence=seq
            )
            return unit.model_copy(update={"dissolved": True, "history": (*unit.history, entry)})
    return unit


RELEVANT_TYPES = frozenset(
    {
        "MemberEnrolled",
        "MemberReenrolled",
        "MemberTransferred",
        "MemberRetired",
        "MemberDetailsCorrected",
        "MemberExternalCodeChanged",
        "UnitRegistered",
        "UnitRenamed",
        "UnitDissolved",
    }
)
"""The roster events the copy folds; the projector passes the others over unread."""


def name_key(name: str) -> str:
    """Names compare in NFC, case-folded, with single spaces (Vietnamese input varies)."""
    import unicodedata

    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


class RosterCopy:
    """The copy's tables (``<prefix>_roster_members``, ``<prefix>_roster_units``), the
    projector's apply and the reads."""

    def __init__(self, engine: Engine, prefix: str) -> None:
        self.engine = engine
        self.metadata = MetaData()
        self.members_t = Table(
            f"{prefix}_roster_members",
            self.metadata,
            Column("member_id", String(64), primary_key=True),
            # a case-folded name may be longer than the name (ß -> ss): Text, not String
            Column("name_key", Text, nullable=False),
            Column("external_code", String(64), index=True),
            Column("last_seq", Integer, nullable=False),
            Column("state", Text, nullable=False),
        )
        self.units_t = Table(
            f"{prefix}_roster_units",
            self.metadata,
            Column("unit_id", String(64), primary_key=True),
            Column("last_seq", Integer, nullable=False),
            Column("state", Text, nullable=False),
        )

    # ---------------------------------------------------------------- writing

    def apply(self, conn: Connection, events: Sequence[Decoded]) -> None:
        """The projector's apply: fold each event into the member or unit row it concerns."""
        for item in events:
            _, aggregate_type, aggregate_id = parse_event_subject(item.stored.subject)
            if aggregate_type == r.MEMBER:
                self._fold(conn, self.members_t, "member_id", aggregate_id, item)
            elif aggregate_type == r.UNIT:
                self._fold(conn, self.units_t, "unit_id", aggregate_id, item)

    def _fold(self, conn: Connection, table: Table, key: str, ident: str, item: Decoded) -> None:
        seq = item.stored.sequence
        row = conn.execute(
            select(table.c.state, table.c.last_seq).where(table.c[key] == ident)
        ).first()
        if row is not None and row.last_seq >= seq:
            return  # replayed
        after: MemberCopy | UnitCopy | None
        if table is self.members_t:
            before_m = MemberCopy.model_validate_json(row.state) if row else None
            after = evolve_member(before_m, item.event, seq)
        else:
            before_u = UnitCopy.model_validate_json(row.state) if row else None
            after = evolve_unit(before_u, item.event, seq)
        if after is None:
            return
        values: dict[str, Any] = {"last_seq": seq, "state": after.model_dump_json()}
        if isinstance(after, MemberCopy):
            values.update(name_key=name_key(after.full_name), external_code=after.external_code)
        if row is None:
            conn.execute(insert(table).values({key: ident, **values}))
        else:
            conn.execute(update(table).where(table.c[key] == ident).values(values))

    # ---------------------------------------------------------------- reading

    def member(self, member_id: str) -> MemberCopy | None:
        with self.engine.connect() as conn:
            state = conn.execute(
                select(self.members_t.c.state).where(self.members_t.c.member_id == member_id)
            ).scalar()
        return MemberCopy.model_validate_json(state) if state else None

    def members(self) -> list[MemberCopy]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(self.members_t.c.state).order_by(self.members_t.c.member_id))
            return [MemberCopy.model_validate_json(row.state) for row in rows]

    def unit(self, unit_id: str) -> UnitCopy | None:
        with self.engine.connect() as conn:
            state = conn.execute(
                select(self.units_t.c.state).where(self.units_t.c.unit_id == unit_id)
            ).scalar()
        return UnitCopy.model_validate_json(state) if state else None

    def units(self) -> list[UnitCopy]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(self.units_t.c.state).order_by(self.units_t.c.unit_id))
            return [UnitCopy.model_validate_json(row.state) for row in rows]


def roster_copy_follower(
    es: EventStore, store: StateStore, copy: RosterCopy, stall_after: float = DEFAULT_STALL_S
) -> Projector:
    """The projector that keeps ``copy`` in step with the ROSTER stream."""
    return state_projector(
        es,
        store,
        "ROSTER",
        FOLLOWER_KEY,
        copy.apply,
        only=RELEVANT_TYPES,
        stall_after=stall_after,
        threaded=True,  # only this projector writes the copy's tables
    )
