"""Proposals from hand-built participation records: who is proposed, in which order, why."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.awards import CandidateRules, CorePolicy
from contracts.reporting import MemberParticipation, Participation, UnitParticipation
from services.awards.domain.candidates import propose

pytestmark = pytest.mark.fast

RULES = CandidateRules(min_attendance_rate=0.75, max_per_unit=2)


def member(
    member_id: str,
    attended: int,
    eligible: int = 10,
    unit: str = "c1",
    core: bool = True,
    active: bool = True,
    role: str = "propagandist",
) -> MemberParticipation:
    return MemberParticipation(
        member_id=member_id,
        full_name=f"Name {member_id}",
        role=role,
        unit_id=unit,
        unit_name=f"Chi bộ {unit}",
        core=core,
        active_at_end=active,
        conferences_eligible=eligible,
        conferences_attended=attended,
        attendance_rate=attended / eligible if eligible else 0.0,
    )


def unit(
    unit_id: str,
    attendances: int = 80,
    possible: int = 100,
    kind: str = "party_cell",
    active: bool = True,
    members: int = 10,
    core: int = 3,
) -> UnitParticipation:
    return UnitParticipation(
        unit_id=unit_id,
        unit_name=f"Chi bộ {unit_id}",
        kind=kind,
        active_at_end=active,
        members_at_end=members,
        core_members_at_end=core,
        attendances=attendances,
        possible_attendances=possible,
        attendance_rate=attendances / possible if possible else 0,
    )


def record(
    members: list[MemberParticipation], units: list[UnitParticipation] | None = None, held: int = 10
) -> Participation:
    return Participation(year=2022, conferences_held=held, members=members, units=units or [])


def ids(rows: list[Any], key: str = "member_id") -> list[str]:
    return [getattr(r, key) for r in rows]


def passed(report: Any) -> dict[str, str]:
    return {p.recipient_id: p.reason for p in report.passed_over}


# ----------------------------------------------------------------- individuals


def test_individuals_at_or_above_the_minimum_rate_ordered_by_rate_then_attended() -> None:
    report = propose(
        record(
            [
                member("a", 8),
                member("b", 10),
                member("c", 7),
                member("d", 9, unit="c2"),
                member("e", 18, eligible=20, unit="c3"),
                member("f", 9, unit="c3"),
            ]
        ),
        RULES,
    )
    assert ids(report.individuals) == ["b", "e", "d", "f", "a"]
    assert [p.rank for p in report.individuals] == [1, 2, 3, 4, 5]
    assert passed(report) == {"c": "below_min_rate"}


def test_exactly_the_minimum_rate_qualifies() -> None:
    report = propose(record([member("a", 3, eligible=4)]), RULES)
    assert ids(report.individuals) == ["a"]
    report = propose(
        record([member("a", 3, eligible=4)]), RULES.model_copy(update={"min_attendance_rate": 0.76})
    )
    assert report.individuals == [] and passed(report) == {"a": "below_min_rate"}


def test_at_most_n_per_unit_keeps_the_best() -> None:
    report = propose(
        record([member("a", 8), member("b", 10), member("c", 9), member("d", 9, unit="c2")]), RULES
    )
    assert ids(report.individuals) == ["b", "c", "d"]
    assert passed(report) == {"a": "unit_cap"}
    assert [p.rank_in_unit for p in report.individuals] == [1, 2, 1]
    one = propose(
        record([member("a", 8), member("b", 10)]), RULES.model_copy(update={"max_per_unit": 1})
    )
    assert ids(one.individuals) == ["b"] and passed(one) == {"a": "unit_cap"}


def test_core_preferred_ranks_core_members_first() -> None:
    report = propose(record([member("plain", 10, core=False), member("core", 8)]), RULES)
    assert ids(report.individuals) == ["core", "plain"]
    assert "core members rank first" in report.individuals[1].explanation


def test_core_preferred_wins_the_unit_cap() -> None:
    report = propose(
        record([member("plain", 10, core=False), member("core", 8)]),
        RULES.model_copy(update={"max_per_unit": 1}),
    )
    assert ids(report.individuals) == ["core"] and passed(report) == {"plain": "unit_cap"}


def test_core_required_excludes_members_not_flagged_core() -> None:
    report = propose(
        record([member("plain", 10, core=False), member("core", 8)]),
        RULES.model_copy(update={"core": CorePolicy.REQUIRED}),
    )
    assert ids(report.individuals) == ["core"] and passed(report) == {"plain": "not_core"}


def test_core_ignored_ranks_by_rate_alone() -> None:
    report = propose(
        record([member("plain", 10, core=False), member("core", 8)]),
        RULES.model_copy(update={"core": CorePolicy.IGNORED}),
    )
    assert ids(report.individuals) == ["plain", "core"]


def test_members_not_active_at_year_end_or_without_conferences_are_passed_over() -> None:
    report = propose(
        record([member("gone", 10, active=False), member("new", 0, eligible=0), member("ok", 10)]),
        RULES,
    )
    assert ids(report.individuals) == ["ok"]
    assert passed(report) == {"gone": "inactive_at_year_end", "new": "no_conferences"}


def test_rate_is_over_conferences_held_while_on_the_roster() -> None:
    # Joined late: 3 of the 3 conferences held since enrolment beats 9 of 10.
    report = propose(record([member("late", 3, eligible=3), member("long", 9)]), RULES)
    assert ids(report.individuals) == ["late", "long"]


def test_limit_individuals_caps_the_list_in_rank_order() -> None:
    report = propose(
        record([member("a", 10), member("b", 9, unit="c2"), member("c", 8, unit="c3")]),
        RULES.model_copy(update={"limit_individuals": 2}),
    )
    assert ids(report.individuals) == ["a", "b"] and passed(report) == {"c": "over_limit"}


def test_ties_are_broken_by_attendances_then_name() -> None:
    report = propose(
        record(
            [
                member("x", 9, eligible=10, unit="c1"),
                member("y", 18, eligible=20, unit="c2"),
                member("w", 9, eligible=10, unit="c3"),
            ]
        ),
        RULES,
    )
    assert ids(report.individuals) == ["y", "w", "x"]


def test_each_proposal_is_explained_with_its_figures() -> None:
    [p] = propose(record([member("a", 9)]), RULES).individuals
    assert (p.conferences_attended, p.conferences_eligible, p.attendance_rate) == (9, 10, 0.9)
    assert "attended 9 of 10 conferences" in p.explanation and "90.0%" in p.explanation
    assert "minimum 75.0%" in p.explanation and "1st proposed in Chi bộ c1" in p.explanation
    assert "at most 2 per unit" in p.explanation
    [miss] = propose(record([member("b", 5)]), RULES).passed_over
    assert "attended 5 of 10" in miss.explanation and "50.0%" in miss.explanation


def test_proposals_change_when_attendance_changes() -> None:
    before = propose(record([member("a", 7), member("b", 8)]), RULES)
    after = propose(record([member("a", 10), member("b", 8)]), RULES)
    assert ids(before.individuals) == ["b"] and ids(after.individuals) == ["a", "b"]


# ----------------------------------------------------------------- collectives


def test_collectives_by_core_team_rate_with_whole_unit_figures() -> None:
    members = [
        member("a", 10, unit="u1"),
        member("b", 8, unit="u1"),
        member("x", 2, unit="u1", core=False),
        member("c", 10, unit="u2"),
        member("d", 10, unit="u2"),
        member("e", 5, unit="u3"),
    ]
    report = propose(
        record(members, [unit("u1", 20, 30), unit("u2", 20, 20), unit("u3", 5, 10)]), RULES
    )
    assert ids(report.collectives, "unit_id") == ["u2", "u1"]
    u1 = report.collectives[1]
    assert (u1.core_members, u1.core_attended, u1.core_possible, u1.core_rate) == (2, 18, 20, 0.9)
    assert (u1.attendances, u1.possible_attendances) == (20, 30)
    assert "core team of 2 attended 18 of 20 possible (90.0%)" in u1.explanation
    assert "20 of 30 (66.7%)" in u1.explanation
    assert passed(report)["u3"] == "below_min_rate"


def test_collectives_need_a_grassroots_active_unit_with_a_core_team() -> None:
    members = [
        member("r", 10, unit="city", role="reporter"),
        member("a", 10, unit="gone"),
        member("p", 10, unit="plain", core=False),
        member("o", 10, unit="org"),
        member("retired", 10, unit="left", active=False),
    ]
    units = [
        unit("city", kind="city"),
        unit("gone", active=False),
        unit("plain", core=0),
        unit("org", kind="party_organisation"),
        unit("left", core=0),
    ]
    report = propose(record(members, units), RULES)
    assert ids(report.collectives, "unit_id") == ["org"]
    reasons = {k: v for k, v in passed(report).items() if k in {"city", "gone", "plain", "left"}}
    assert reasons == {
        "city": "not_grassroots",
        "gone": "inactive_at_year_end",
        "plain": "no_core_team",
        "left": "no_core_team",
    }


def test_limit_collectives() -> None:
    members = [member("a", 10, unit="u1"), member("b", 9, unit="u2")]
    report = propose(
        record(members, [unit("u1"), unit("u2")]), RULES.model_copy(update={"limit_collectives": 1})
    )
    assert ids(report.collectives, "unit_id") == ["u1"]
    assert passed(report)["u2"] == "over_limit"


def test_the_report_states_year_rules_and_conferences() -> None:
    report = propose(record([], [], held=10), RULES)
    assert (report.year, report.conferences_held, report.rules) == (2022, 10, RULES)
    assert report.individuals == [] and report.collectives == []
