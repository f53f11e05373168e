"""Awards queries: the service's own view, and candidates from reporting's participation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from contracts import awards as c
from services.awards.adapters.reporting import ParticipationSource
from services.awards.adapters.views import AwardViews
from services.awards.domain.awards import AwardMustExist
from services.awards.domain.candidates import propose


@dataclass(frozen=True)
class CandidateDefaults:
    min_attendance_rate: float
    max_per_unit: int


@dataclass(frozen=True)
class AwardQueries:
    views: AwardViews
    participation: ParticipationSource
    defaults: CandidateDefaults
    awards_caught_up: Callable[[], Awaitable[bool]]

    async def get_award(self, q: c.GetAward) -> dict[str, Any]:
        award = self.views.award(q.award_id)
        if award is None:
            await self.awards_caught_up()  # granted a moment ago by another instance?
            award = self.views.award(q.award_id)
        if award is None:
            raise AwardMustExist(f"award {q.award_id} does not exist", award_id=q.award_id)
        return award

    async def list_awards(self, q: c.ListAwards) -> list[dict[str, Any]]:
        return self.views.listing(q.period, q.recipient_id)

    async def candidates(self, q: c.Candidates) -> dict[str, Any]:
        rules = c.CandidateRules(
            min_attendance_rate=(
                q.min_attendance_rate
                if q.min_attendance_rate is not None
                else self.defaults.min_attendance_rate
            ),
            max_per_unit=q.max_per_unit or self.defaults.max_per_unit,
            core=q.core or c.CorePolicy.PREFERRED,
            limit_individuals=q.limit_individuals,
            limit_collectives=q.limit_collectives,
        )
        report = propose(await self.participation.participation(q.year), rules)
        # Annotate (not filter): what each proposed recipient already holds for the year.
        held = self.views.held(str(q.year))
        report = report.model_copy(
            update={
                "individuals": [
                    p.model_copy(
                        update={"already_holds": held.get(("individual", p.member_id), [])}
                    )
                    for p in report.individuals
                ],
                "collectives": [
                    p.model_copy(update={"already_holds": held.get(("collective", p.unit_id), [])})
                    for p in report.collectives
                ],
            }
        )
        return report.model_dump(mode="json")
