"""The events service's copy of the roster: ROSTER followed into its own SQL tables.

Rows are written by a StreamFollower in the same transaction as its stream position.
Before the service says "unknown" or "not active" it waits for the follower to apply
the ROSTER stream's current last sequence, so a member enrolled (and acknowledged)
before the command was sent is always seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    Boolean,
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
from contracts.registry import UnknownEventType, registry
from contracts.replies import ErrorCode
from contracts.subjects import parse_event_subject
from runtime.domain import DomainError
from runtime.eventstore import StoredEvent
from runtime.follower import StreamFollower
from runtime.logging import get_logger
from services.events.domain.members import KnownMember, MemberStanding, apply_roster_event, name_key

log = get_logger(__name__)
metadata = MetaData()

# Prefixed "events_": services may share one database; the roster's own tables are "roster_*".
known_members = Table(
    "events_known_members",
    metadata,
    Column("member_id", String(64), primary_key=True),
    # Case folding lengthens text up to 3x ("ß" -> "ss"): a 200-character name's key.
    Column("name_key", String(600), nullable=False, index=True),
    Column("external_code", String(64), index=True),
    Column("last_seq", Integer, nullable=False),
    Column("state", Text, nullable=False),
)

known_units = Table(
    "events_known_units",
    metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("last_seq", Integer, nullable=False),
)

FOLLOWER_NAME = "roster-lookup:ROSTER"


def _save_member(conn: Connection, member: KnownMember, sequence: int, existed: bool) -> None:
    values = {
        "name_key": name_key(member.full_name),
        "external_code": member.external_code,
        "last_seq": sequence,
        "state": member.model_dump_json(),
    }
    if existed:
        conn.execute(
            update(known_members)
            .where(known_members.c.member_id == member.member_id)
            .values(values)
        )
    else:
        conn.execute(insert(known_members).values(member_id=member.member_id, **values))


def apply_roster_batch(conn: Connection, events: Sequence[StoredEvent]) -> None:
    """The follower's apply: fold each roster event into the member or unit row it concerns."""
    for stored in events:
        try:
            event = registry.decode(stored.envelope())
        except UnknownEventType:
            log.warning(
                "roster event type unknown here; skipped",
                subject=stored.subject,
                sequence=stored.sequence,
            )
            continue
        _, aggregate_type, aggregate_id = parse_event_subject(stored.subject)
        if aggregate_type == r.MEMBER:
            row = conn.execute(
                select(known_members.c.state, known_members.c.last_seq).where(
                    known_members.c.member_id == aggregate_id
                )
            ).first()
            if row is not None and row.last_seq >= stored.sequence:
                continue
            before = KnownMember.model_validate_json(row.state) if row else None
            after = apply_roster_event(before, event, stored.sequence)
            if after is not None:
                _save_member(conn, after, stored.sequence, existed=row is not None)
        elif aggregate_type == r.UNIT:
            _apply_unit(conn, aggregate_id, event, stored.sequence)


def _apply_unit(conn: Connection, unit_id: str, event: Any, sequence: int) -> None:
    row = conn.execute(
        select(known_units.c.last_seq).where(known_units.c.unit_id == unit_id)
    ).first()
    if row is not None and row.last_seq >= sequence:
        return
    match event:
        case r.UnitRegistered() if row is None:
            conn.execute(
                insert(known_units).values(
                    unit_id=unit_id, name=event.name, active=True, last_seq=sequence
                )
            )
        case r.UnitRenamed():
            conn.execute(
                update(known_units)
                .where(known_units.c.unit_id == unit_id)
                .values(name=event.name, last_seq=sequence)
            )
        case r.UnitDissolved():
            conn.execute(
                update(known_units)
                .where(known_units.c.unit_id == unit_id)
                .values(active=False, last_seq=sequence)
            )


class RosterLookup:
    """Reads of the copied roster; ``follower`` is attached once the service has connected."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.follower: StreamFollower | None = None

    async def catch_up(self) -> bool:
        if self.follower is None:
            return False
        return await self.follower.catch_up()

    def member(self, member_id: str) -> KnownMember | None:
        with self.engine.connect() as conn:
            state = conn.execute(
                select(known_members.c.state).where(known_members.c.member_id == member_id)
            ).scalar()
        return KnownMember.model_validate_json(state) if state else None

    def members(self) -> list[KnownMember]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(known_members.c.state).order_by(known_members.c.member_id))
            return [KnownMember.model_validate_json(row.state) for row in rows]

    def unit_names(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {
                row.unit_id: row.name
                for row in conn.execute(select(known_units.c.unit_id, known_units.c.name))
            }

    def missing_units(self, unit_ids: Sequence[str]) -> list[str]:
        known = self.unit_names()
        return [u for u in unit_ids if u not in known]

    def standing(self, member_id: str, day: date) -> MemberStanding | None:
        member = self.member(member_id)
        return member.standing_on(day) if member else None

    async def standing_seen_through_roster(
        self, member_id: str, day: date
    ) -> MemberStanding | None:
        """The member on ``day`` once everything the roster had acknowledged is applied.

        Catching up always (not only before a refusal) also sees a retirement or transfer
        acknowledged just before; it costs one stream-info request when nothing is pending.
        """
        if not await self.catch_up():
            found = self.standing(member_id, day)
            if found is None or not found.active:
                raise RosterCopyIsBehind(
                    "the roster copy is behind; try again shortly", member_id=member_id
                )
            return found
        return self.standing(member_id, day)

    async def missing_units_seen_through_roster(self, unit_ids: Sequence[str]) -> list[str]:
        missing = self.missing_units(unit_ids)
        if missing:
            caught_up = await self.catch_up()
            missing = self.missing_units(unit_ids)
            if missing and not caught_up:
                raise RosterCopyIsBehind(
                    "the roster copy is behind; try again shortly", unit_ids=missing
                )
        return missing


class RosterCopyIsBehind(DomainError):
    """Not a rule of the world: the copy could not catch up in time, so no refusal is given."""

    code = ErrorCode.UNAVAILABLE
