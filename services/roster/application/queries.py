"""Roster queries, answered from the service's own projection of its stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts import roster as c
from runtime.paging import Page, page_of
from services.roster.adapters.views import RosterViews
from services.roster.domain import importing
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

    async def list_members(self, q: c.ListMembers) -> Page:
        return self.views.members_page(q.unit_id, q.include_retired, q.limit, q.after)

    async def list_units(self, q: c.ListUnits) -> Page:
        return page_of(self.views.units(q.include_dissolved), q.limit, q.after)

    async def find_members(self, q: c.FindMembers) -> Page:
        return page_of(self.views.find(q.external_code, q.full_name), q.limit, q.after)

    async def list_people(self, q: c.ListPeople) -> list[dict[str, Any]]:
        return self.views.people()

    async def plan_import(self, q: c.PlanImport) -> dict[str, Any]:
        """The import's plan for these rows against the roster as it is now (writes nothing):
        every unit, and only the members the rows' codes and names can match."""
        index = importing.RosterIndex(self.views.units(include_dissolved=True), [])
        if q.kind == "members":
            codes, names = importing.wanted_members(q.rows, index)
            found = {m["member_id"]: m for m in self.views.members_by_code(codes)}
            found.update((m["member_id"], m) for m in self.views.members_named(names))
            index = importing.RosterIndex(index.units, list(found.values()))
        planned = importing.plan_rows(q.kind, q.rows, index)
        return {"rows": [p.model_dump(mode="json") for p in planned]}
