"""Lineage at scale: on the seeded 2022 sample year (about 2,000 events sent through the real
services), every figure `explain` knows — totals, every unit, every member's rate — adds up."""

from __future__ import annotations

from datetime import date

from nats.aio.client import Client

from briefings.audit.explain import Lineage, explain
from briefings.audit.replay import Cut, replay_live
from briefings.demo.generator import DEFAULT_SEED, plan_year
from briefings.demo.load import load_plan
from contracts.reporting import AnnualSummaryQuery
from runtime.settings import Settings
from tests.support import running_service


async def test_every_figure_of_the_demo_year_adds_up(settings: Settings, nc: Client) -> None:
    async with (
        running_service("roster", settings),
        running_service("events", settings),
        running_service("awards", settings),
    ):
        await load_plan(plan_year(DEFAULT_SEED), settings, 8)
    lineage = Lineage()
    with await replay_live(nc, Cut(), also=lineage.add) as result:
        summary = result.summary(AnnualSummaryQuery(year=2022))
        participation = result.model.participation(2022)
    lineage.finish()
    assert summary["attendance"]["total_attendances"] > 1700  # "hơn 1.700 lượt"
    figures = [
        "attendances",
        "member-attendances",
        "guest-attendances",
        "conferences",
        "awards",
        "awards.collective",
        "awards.individual",
    ]
    figures += [f"unit:{u['unit_id']}" for u in summary["attendance"]["by_unit"]]
    figures += [f"member:{m['member_id']}" for m in participation["members"]]
    assert len(figures) > 200
    wrong = []
    for figure in figures:
        found = explain(
            lineage, figure, summary, participation, date(2022, 1, 1), date(2022, 12, 31)
        )
        if not found.adds_up:
            wrong.append((figure, found.total, found.denominator, found.summary_value))
    assert wrong == []
