"""The events service's copy of the roster: ROSTER followed into its own SQL tables.

The copy is the shared roster copy (``runtime/rostercopy.py``, tables ``events_roster_*``),
written by a runtime projector in the same transaction as its stream position.
Before the service says "unknown" or "not active" it waits for the follower to apply
the ROSTER stream's current last sequence, so a member enrolled (and acknowledged)
before the command was sent is always seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Engine

from contracts.replies import ErrorCode
from runtime.domain import DomainError
from runtime.projector import Projector
from runtime.rostercopy import FOLLOWER_KEY, RosterCopy
from services.events.domain.members import KnownMember, MemberStanding

FOLLOWER_NAME = FOLLOWER_KEY


class RosterLookup:
    """Reads of the copied roster; ``follower`` keeps ``copy`` in step (none: no waiting)."""

    def __init__(
        self, engine: Engine, follower: Projector | None = None, copy: RosterCopy | None = None
    ) -> None:
        self.engine = engine
        self.copy = copy or RosterCopy(engine, "events")
        self.metadata = self.copy.metadata
        self.follower = follower

    async def catch_up(self) -> bool:
        if self.follower is None:
            return False
        return await self.follower.catch_up()

    def member(self, member_id: str) -> KnownMember | None:
        return self.copy.member(member_id)

    def members(self) -> list[KnownMember]:
        return self.copy.members()

    def unit_names(self) -> dict[str, str]:
        return {unit.unit_id: unit.name for unit in self.copy.units()}

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
