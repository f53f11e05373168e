"""Candidates for the generated 2022 year, end to end: roster, events, reporting and awards
services over a real nats-server; the year sent through their public commands."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections import Counter
from typing import Any

from nats.aio.client import Client
from typer.testing import CliRunner

from briefings.cli import app
from briefings.demo.generator import plan_year
from briefings.demo.load import load_plan
from briefings.demo.run import wait_until_reported
from runtime.settings import Settings
from tests.support import request, running_service

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:")
SERVICES = ("roster", "events", "reporting", "awards")


async def candidates(nc: Client, **rules: Any) -> dict[str, Any]:
    reply = await request(nc, "qry.awards.candidates", {"year": 2022, **rules}, timeout=30)
    assert reply["ok"], reply
    return dict(reply["data"])


def check_rules(data: dict[str, Any], min_rate: float, max_per_unit: int) -> None:
    per_unit = Counter(p["unit_id"] for p in data["individuals"])
    assert per_unit and max(per_unit.values()) <= max_per_unit
    for p in data["individuals"]:
        assert p["attendance_rate"] >= min_rate
        assert math.isclose(
            p["attendance_rate"],
            p["conferences_attended"] / p["conferences_eligible"],
            abs_tol=1e-4,
        )
        assert (
            f"attended {p['conferences_attended']} of {p['conferences_eligible']}"
            in p["explanation"]
        )
    rates = [
        (p["core"], p["attendance_rate"], p["conferences_attended"]) for p in data["individuals"]
    ]
    assert rates == sorted(rates, reverse=True)  # core first, then rate, then attendances
    for u in data["collectives"]:
        assert u["core_rate"] >= min_rate and u["core_members"] > 0
        assert (
            f"core team of {u['core_members']} attended {u['core_attended']} of"
            f" {u['core_possible']}"
        ) in u["explanation"]


async def test_candidates_of_the_generated_year_are_explained_and_follow_attendance(
    settings: Settings, nc: Client
) -> None:
    plan = plan_year()
    attended: Counter[str] = Counter()
    conferences_of: dict[str, list[str]] = {}
    granted: set[tuple[str, str]] = set()
    for step in plan.steps:
        body = step.payload()
        if step.name == "record_attendance":
            attended[body["member_id"]] += 1
            conferences_of.setdefault(body["member_id"], []).append(body["conference_id"])
        elif step.name == "grant_award":
            granted.add((body["recipient_type"], body["recipient_id"]))

    hosts = [running_service(name, settings) for name in SERVICES]
    for host in hosts:
        await host.__aenter__()
    try:
        await load_plan(plan, settings)
        await wait_until_reported(settings, timeout=90)

        data = await candidates(nc, min_attendance_rate=0.8, max_per_unit=2)
        assert data["year"] == 2022 and data["conferences_held"] >= 10
        assert data["rules"]["min_attendance_rate"] == 0.8
        check_rules(data, 0.8, 2)
        assert data["collectives"], data["passed_over"][:5]
        for p in data["individuals"]:  # the figures are the year's: the plan's attendances
            assert p["conferences_attended"] == attended[p["member_id"]]
            assert ("certificate_of_merit" in p["already_holds"]) == (
                ("individual", p["member_id"]) in granted
            )
        for u in data["collectives"]:
            assert ("certificate_of_merit" in u["already_holds"]) == (
                ("collective", u["unit_id"]) in granted
            )
        reasons = Counter(p["reason"] for p in data["passed_over"])
        assert reasons["below_min_rate"] > 0 and reasons["not_grassroots"] == 1

        # The CLI's table shows the explaining figures.
        result = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["awards", "candidates", "2022", "--min-rate", "0.8"],
            env={"BRIEFINGS_NATS_URL": settings.nats_url, "COLUMNS": "250"},
        )
        assert result.exit_code == 0, result.output
        top = data["individuals"][0]
        assert top["full_name"] in result.output
        assert f"{top['conferences_attended']}/{top['conferences_eligible']}" in result.output
        assert f"{top['attendance_rate'] * 100:.1f}%" in result.output
        first_unit = data["collectives"][0]
        assert f"{first_unit['core_attended']}/{first_unit['core_possible']}" in result.output
        as_json = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["awards", "candidates", "2022", "--min-rate", "0.8", "--json"],
            env={"BRIEFINGS_NATS_URL": settings.nats_url},
        )
        assert as_json.exit_code == 0, as_json.output
        printed = "".join(
            line for line in as_json.output.splitlines(keepends=True) if not LOG_LINE.match(line)
        )  # in-process services log here too
        assert json.loads(printed)["individuals"] == data["individuals"]

        stricter = await candidates(nc, min_attendance_rate=0.8, max_per_unit=1, core="required")
        check_rules(stricter, 0.8, 1)
        assert all(p["core"] for p in stricter["individuals"])
        assert len(stricter["individuals"]) < len(data["individuals"])

        # Attendance changes: the top individual's attendances are withdrawn one by one
        # (sign-in errors) until below the minimum; the proposal follows.
        top = data["individuals"][0]
        needed = top["conferences_attended"] - math.ceil(0.8 * top["conferences_eligible"]) + 1
        for n, conference_id in enumerate(conferences_of[top["member_id"]][:needed]):
            reply = await request(
                nc,
                "cmd.events.correct_attendance",
                {
                    "command_id": f"withdraw-{n}",
                    "conference_id": conference_id,
                    "member_id": top["member_id"],
                    "attended": False,
                    "reason": "sign-in error",
                },
            )
            assert reply["ok"], reply
        await wait_until_reported(settings, timeout=60)
        after = await candidates(nc, min_attendance_rate=0.8, max_per_unit=2)
        check_rules(after, 0.8, 2)
        assert top["member_id"] not in {p["member_id"] for p in after["individuals"]}
        [why] = [p for p in after["passed_over"] if p["recipient_id"] == top["member_id"]]
        assert why["reason"] == "below_min_rate"
        assert (
            f"attended {top['conferences_attended'] - needed} of {top['conferences_eligible']}"
        ) in why["explanation"]
    finally:
        for host in reversed(hosts):
            await host.__aexit__(None, None, None)
