"""Roster queries, answered from the service's own projection of its stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts import roster as c
from services.roster.adapters.views import RosterViews
from services.roster.domain.members import MemberMustExist
from services.roster.domain.units import UnitMustExist


@dataclass(frozen=True)
class RosterQueries:
    views: RosterViews

    async def get_unit(self, q: c.GetUnit) -> dict[str, Any]:
        unit = self.views.unit(q.unit_id)
        if unit is None:
            raise UnitMustExist(f"unit {q.unit_id} does not exist", unit_id=q.unit_id)
        return unit

    async def get_member(self, q: c.GetMember) -> dict[str, Any]:
        member = self.views.member(q.member_id)
        if member is None:
            raise MemberMustExist(f"member {q.member_id} does not exist", member_id=q.member_id)
        return member

    async def list_members(self, q: c.ListMembers) -> list[dict[str, Any]]:
        return self.views.members(q.unit_id, q.include_retired)

    async def list_units(self, q: c.ListUnits) -> list[dict[str, Any]]:
        return self.views.units(q.include_dissolved)

    async def find_members(self, q: c.FindMembers) -> list[dict[str, Any]]:
        return self.views.find(q.external_code, q.full_name)
