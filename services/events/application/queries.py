"""Events queries, answered from the service's own projections (conferences, roster copy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts import events as c
from services.events.adapters.roster_lookup import RosterLookup
from services.events.adapters.views import ConferenceViews, summary
from services.events.domain import conferences as conf
from services.events.domain.conferences import Conference
from services.events.domain.sheets import SheetMatcher


@dataclass(frozen=True)
class EventsQueries:
    views: ConferenceViews
    roster: RosterLookup

    def _conference(self, conference_id: str) -> Conference:
        return conf.require_exists(self.views.conference(conference_id), conference_id)

    async def get_conference(self, q: c.GetConference) -> dict[str, Any]:
        return summary(self._conference(q.conference_id))

    async def list_conferences(self, q: c.ListConferences) -> list[dict[str, Any]]:
        return [summary(x) for x in self.views.conferences(q.year)]

    async def list_attendance(self, q: c.ListAttendance) -> dict[str, Any]:
        conference = self._conference(q.conference_id)
        units = self.roster.unit_names()
        members = []
        for member_id, unit_id in conference.attendees.items():
            known = self.roster.member(member_id)
            members.append(
                {
                    "member_id": member_id,
                    "full_name": known.full_name if known else None,
                    "external_code": known.external_code if known else None,
                    "unit_id": unit_id,
                    "unit_name": units.get(unit_id or ""),
                }
            )
        members.sort(key=lambda m: (m["unit_name"] or "", m["full_name"] or "", m["member_id"]))
        return {
            "conference": summary(conference),
            "members": members,
            "guests": {k.value: v for k, v in conference.guests.items()},
        }

    async def match_sign_in_sheet(self, q: c.MatchSignInSheet) -> dict[str, Any]:
        conference = self.views.conference(q.conference_id)
        held_on = conf.attendance_date(conference, q.conference_id)
        # Members enrolled just before the clerk ran the import must be found.
        await self.roster.catch_up()
        matcher = SheetMatcher(self.roster.members(), held_on, self.roster.unit_names())
        rows = matcher.match_all((r.row, r.external_code, r.full_name) for r in q.rows)
        return {
            "conference_id": q.conference_id,
            "held_on": held_on.isoformat(),
            "rows": [r.model_dump(mode="json") for r in rows],
        }
