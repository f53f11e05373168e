"""Award proposals from a year's participation record: pure, explained with their figures.

Individuals: active at year end, attended at least the minimum share of the conferences held
while they were on the roster, core communicators first (or only, or regardless: the core
policy), at most N per unit, ranked by attendance rate, then attendances.
Collectives: grassroots units (Party cells and organisations) active at year end, judged by
their core team (the unit's core members at year end): the team's attendances over its
possible attendances must reach the minimum rate; ranked by that rate, then attendances.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from contracts.awards import (
    CandidateRules,
    CandidatesReport,
    CollectiveProposal,
    CorePolicy,
    IndividualProposal,
    PassedOver,
    RecipientType,
)
from contracts.reporting import MemberParticipation, Participation, UnitParticipation

GRASSROOTS_KINDS = frozenset({"party_cell", "party_organisation"})


def rate(attended: int, possible: int) -> float:
    return attended / possible if possible else 0.0


def pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _figures(m: MemberParticipation) -> str:
    return (
        f"attended {m.conferences_attended} of {m.conferences_eligible} conferences held"
        f" while on the roster ({pct(rate(m.conferences_attended, m.conferences_eligible))})"
    )


def _individual_passed(m: MemberParticipation, reason: str, why: str) -> PassedOver:
    return PassedOver(
        recipient_type=RecipientType.INDIVIDUAL,
        recipient_id=m.member_id,
        name=m.full_name,
        reason=reason,
        explanation=why,
    )


def _unit_passed(u: UnitParticipation, reason: str, why: str) -> PassedOver:
    return PassedOver(
        recipient_type=RecipientType.COLLECTIVE,
        recipient_id=u.unit_id,
        name=u.unit_name,
        reason=reason,
        explanation=why,
    )


def _individuals(
    p: Participation, rules: CandidateRules, passed: list[PassedOver]
) -> list[IndividualProposal]:
    minimum = rules.min_attendance_rate
    eligible: list[MemberParticipation] = []
    for m in p.members:
        member_rate = rate(m.conferences_attended, m.conferences_eligible)
        if not m.active_at_end:
            passed.append(
                _individual_passed(
                    m, "inactive_at_year_end", f"not on the roster at the end of {p.year}"
                )
            )
        elif m.conferences_eligible == 0:
            passed.append(
                _individual_passed(
                    m, "no_conferences", "no conference was held while on the roster"
                )
            )
        elif member_rate < minimum:
            passed.append(
                _individual_passed(
                    m, "below_min_rate", f"{_figures(m)}, below the minimum {pct(minimum)}"
                )
            )
        elif rules.core is CorePolicy.REQUIRED and not m.core:
            passed.append(
                _individual_passed(
                    m, "not_core", f"{_figures(m)}, but not a core communicator (core required)"
                )
            )
        else:
            eligible.append(m)

    core_first = rules.core is CorePolicy.PREFERRED

    def order(m: MemberParticipation) -> tuple[object, ...]:
        return (
            -(m.core and core_first),
            -rate(m.conferences_attended, m.conferences_eligible),
            -m.conferences_attended,
            m.full_name,
            m.member_id,
        )

    per_unit: Counter[str] = Counter()
    proposals: list[IndividualProposal] = []
    for m in sorted(eligible, key=order):
        if per_unit[m.unit_id] >= rules.max_per_unit:
            passed.append(
                _individual_passed(
                    m,
                    "unit_cap",
                    f"{_figures(m)}, but {m.unit_name} already has"
                    f" {rules.max_per_unit} proposal(s) ranked ahead (at most {rules.max_per_unit}"
                    " per unit)",
                )
            )
            continue
        if rules.limit_individuals is not None and len(proposals) >= rules.limit_individuals:
            passed.append(
                _individual_passed(
                    m,
                    "over_limit",
                    f"{_figures(m)}, but {rules.limit_individuals} individual"
                    " proposal(s) ranked ahead (the limit)",
                )
            )
            continue
        per_unit[m.unit_id] += 1
        core_note = "core communicator" if m.core else "not flagged core"
        if core_first and not m.core:
            core_note += " (core members rank first)"
        why = (
            f"{_figures(m)}, minimum {pct(minimum)}; {core_note};"
            f" {ordinal(per_unit[m.unit_id])} proposed in {m.unit_name}"
            f" (at most {rules.max_per_unit} per unit)"
        )
        proposals.append(
            IndividualProposal(
                rank=len(proposals) + 1,
                member_id=m.member_id,
                full_name=m.full_name,
                role=m.role,
                unit_id=m.unit_id,
                unit_name=m.unit_name,
                core=m.core,
                conferences_eligible=m.conferences_eligible,
                conferences_attended=m.conferences_attended,
                attendance_rate=round(rate(m.conferences_attended, m.conferences_eligible), 4),
                rank_in_unit=per_unit[m.unit_id],
                explanation=why,
            )
        )
    return proposals


@dataclass(frozen=True)
class _Team:
    unit: UnitParticipation
    members: int
    attended: int
    possible: int

    @property
    def rate(self) -> float:
        return rate(self.attended, self.possible)


def _collectives(
    p: Participation, rules: CandidateRules, passed: list[PassedOver]
) -> list[CollectiveProposal]:
    minimum = rules.min_attendance_rate
    teams: list[_Team] = []
    for u in p.units:
        core = [m for m in p.members if m.unit_id == u.unit_id and m.core and m.active_at_end]
        team = _Team(
            u,
            len(core),
            sum(m.conferences_attended for m in core),
            sum(m.conferences_eligible for m in core),
        )
        figures = (
            f"core team of {team.members} attended {team.attended} of {team.possible}"
            f" possible ({pct(team.rate)})"
        )
        if u.kind not in GRASSROOTS_KINDS:
            passed.append(
                _unit_passed(
                    u,
                    "not_grassroots",
                    f"{u.kind} unit: collective awards go to Party cells and organisations",
                )
            )
        elif not u.active_at_end:
            passed.append(
                _unit_passed(u, "inactive_at_year_end", f"dissolved before the end of {p.year}")
            )
        elif team.members == 0:
            passed.append(_unit_passed(u, "no_core_team", "no core member at year end"))
        elif team.possible == 0:
            passed.append(
                _unit_passed(
                    u, "no_conferences", f"{figures}: no conference while they were on the roster"
                )
            )
        elif team.rate < minimum:
            passed.append(
                _unit_passed(u, "below_min_rate", f"{figures}, below the minimum {pct(minimum)}")
            )
        else:
            teams.append(team)

    proposals: list[CollectiveProposal] = []
    for team in sorted(
        teams,
        key=lambda t: (
            -t.rate,
            -t.attended,
            -t.unit.attendance_rate,
            t.unit.unit_name,
            t.unit.unit_id,
        ),
    ):
        u = team.unit
        whole = (
            f"all {u.members_at_end} members: {u.attendances} of"
            f" {u.possible_attendances} ({pct(rate(u.attendances, u.possible_attendances))})"
        )
        if rules.limit_collectives is not None and len(proposals) >= rules.limit_collectives:
            passed.append(
                _unit_passed(
                    u,
                    "over_limit",
                    f"core team {pct(team.rate)}, but {rules.limit_collectives}"
                    " collective proposal(s) ranked ahead (the limit)",
                )
            )
            continue
        why = (
            f"core team of {team.members} attended {team.attended} of {team.possible}"
            f" possible ({pct(team.rate)}), minimum {pct(minimum)}; {whole}"
        )
        proposals.append(
            CollectiveProposal(
                rank=len(proposals) + 1,
                unit_id=u.unit_id,
                unit_name=u.unit_name,
                kind=u.kind,
                core_members=team.members,
                core_attended=team.attended,
                core_possible=team.possible,
                core_rate=round(team.rate, 4),
                members_at_end=u.members_at_end,
                attendances=u.attendances,
                possible_attendances=u.possible_attendances,
                attendance_rate=round(rate(u.attendances, u.possible_attendances), 4),
                explanation=why,
            )
        )
    return proposals


def propose(participation: Participation, rules: CandidateRules) -> CandidatesReport:
    passed: list[PassedOver] = []
    individuals = _individuals(participation, rules, passed)
    collectives = _collectives(participation, rules, passed)
    return CandidatesReport(
        year=participation.year,
        conferences_held=participation.conferences_held,
        rules=rules,
        individuals=individuals,
        collectives=collectives,
        passed_over=passed,
    )
