"""The summary reads only what its period needs, and its figures are those of every fact."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from contracts.reporting import AnnualSummaryQuery
from runtime.sql import make_engine
from services.reporting.adapters import queries
from services.reporting.domain.summary import (
    Facts,
    Period,
    annual_summary,
    participation,
    period_of,
)
from services.reporting.read_model import ReadModel, memory_engine
from tests.reporting.factories import busy_years, mixed_history

QUERIES = [
    *(AnnualSummaryQuery(year=y) for y in range(2018, 2026)),
    AnnualSummaryQuery(start=date(2022, 4, 1), end=date(2022, 6, 30)),
    AnnualSummaryQuery(start=date(2019, 3, 1), end=date(2023, 2, 28)),
    AnnualSummaryQuery(start=date(2022, 6, 15), end=date(2022, 6, 15)),  # 2+ conferences
]


def _every_fact(model: ReadModel) -> Facts:
    with model.engine.connect() as conn:
        return Facts.of(model.projection.rows(conn))


def _folded(changes: list[tuple[date, int, str, str | None]], day: date) -> dict[str, Any]:
    # the plain fold, changes in (effective_on, sequence) order: the reference
    state: dict[str, Any] = {}
    for eff, _seq, name, value in changes:
        if eff <= day:
            state[name] = value
    return state


def test_given_mixed_histories_when_a_period_is_asked_then_the_figures_of_every_fact(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    for seed in (1, 2, 3):
        model = ReadModel(engine, generation=10 + seed)  # one set of tables per history
        model.apply(mixed_history(seed).events)
        every = _every_fact(model)
        for q in QUERIES:
            period = period_of(q.year, q.start, q.end)
            assert model.annual_summary(q) == annual_summary(every, period).as_json(), (seed, q)
        with_receipt = model.annual_summary_with_receipt(QUERIES[4])
        with_receipt.pop("receipt")
        assert with_receipt == annual_summary(every, Period.of_year(2022)).as_json()
        for year in (2019, 2022, 2024):
            assert model.participation(year) == participation(every, year), (seed, year)


def test_eligibility_is_the_day_by_day_fold_of_each_held_conference() -> None:
    model = ReadModel(memory_engine())
    model.apply(mixed_history(7).events)
    every = _every_fact(model)
    for year in (2020, 2022, 2023):
        held = [c for c in every.conferences if c["status"] == "held" and c["held_on"].year == year]
        assert held
        got = model.participation(year)
        for m in got["members"]:
            changes = every.members.changes[m["member_id"]]
            expected = sum(1 for c in held if _folded(changes, c["held_on"]).get("active") is True)
            assert m["conferences_eligible"] == expected, m
        possible = {u["unit_id"]: u["possible_attendances"] for u in got["units"]}
        for uid, n in possible.items():
            expected = sum(
                1
                for c in held
                for changes in every.members.changes.values()
                if (s := _folded(changes, c["held_on"])).get("active") is True
                and s.get("unit_id") == uid
            )
            assert n == expected, uid


def test_a_periods_facts_hold_nothing_of_other_periods() -> None:
    model = ReadModel(memory_engine())
    model.apply(busy_years(12).events)  # 2022, then 12 conferences in 2023
    every = model.facts()
    facts = model.facts(Period.of_year(2022))
    assert {c["conference_id"] for c in facts.conferences} == {
        c["conference_id"] for c in every.conferences if c["held_on"].year == 2022
    }
    assert facts.tallies is not None
    assert set(facts.tallies.per_conference) <= {c["conference_id"] for c in facts.conferences}
    assert sum(n for n, _, _ in facts.tallies.per_member.values()) == 1712
    assert sum(map(len, every.attended.values())) == 1712 + 12 * 208
    assert facts.detail == set() and facts.attended == {}  # one unit and role each: counted
    assert all(w["decision_date"].year == 2022 for w in facts.awards)
    assert all(
        date(2022, 1, 1) <= eff <= date(2022, 12, 31)
        for items in facts.members.changes.values()
        for eff, *_ in items
    )
    assert len(facts.members.base) == 209  # their state on 31 December 2021, folded by SQL
    assert (
        model.facts(Period.of_year(2023)).conferences
        and not model.facts(Period.of_year(2030)).conferences
    )


def test_when_many_members_need_their_attendance_rows_then_all_rows_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = ReadModel(memory_engine())
    model.apply(mixed_history(4).events)
    every = _every_fact(model)
    for threshold in (0, 10_000):
        monkeypatch.setattr(queries, "DETAIL_FOR_ALL", threshold)
        monkeypatch.setattr(queries, "IN_CHUNK", 3)
        for q in QUERIES:
            period = period_of(q.year, q.start, q.end)
            facts = model.facts(period)
            assert facts.detail or not facts.tallies.per_member, q  # (2018: none held)
            assert model.annual_summary(q) == annual_summary(every, period).as_json(), (
                threshold,
                q,
            )
