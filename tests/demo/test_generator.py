"""The sample year's plan, checked without any service: its figures are the article's,
it is the same for the same seed, and its dates tell a consistent story."""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from datetime import date
from typing import Any

import pytest

from briefings.demo import data
from briefings.demo.generator import COMMAND_TYPES, Plan, Step, figures_of, plan_year
from contracts import awards as a
from contracts import events as e
from contracts import roster as r

pytestmark = pytest.mark.fast

SEEDS = [2022, 1, 7, 99]


@pytest.fixture(scope="module")
def year() -> Plan:
    return plan_year(2022)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_year_end_figures_are_the_articles(seed: int) -> None:
    f = plan_year(seed).figures
    assert (f.reporters, f.propagandists) == (19, 189)
    assert (f.information_conferences, f.thematic_conferences) == (8, 2)
    assert f.review_conferences == 1
    assert 1700 < f.attendances < 1800  # "hơn 1.700 lượt"
    assert (f.collective_awards, f.individual_awards) == (3, 5)
    assert 24 <= f.units <= 26


def test_the_roster_changes_during_the_year(year: Plan) -> None:
    f = year.figures
    assert f.enrolments_in_year > 0 and f.retirements_in_year > 0 and f.transfers_in_year > 0
    changes = [
        s
        for s in year.steps
        if s.on.year == 2022
        and s.name in ("enroll_member", "retire_member", "transfer_member", "set_member_core")
    ]
    assert {s.on.month for s in changes} >= {2, 3, 4, 6, 10}
    assert all(s.on <= data.REVIEW_DAY for s in changes)


def test_the_same_seed_gives_the_same_commands() -> None:
    first, again = plan_year(7), plan_year(7)
    assert [s.payload() for s in first.steps] == [s.payload() for s in again.steps]
    other = plan_year(8)
    assert [s.payload() for s in other.steps] != [s.payload() for s in first.steps]


def test_command_ids_are_unique_and_derived_from_seed_and_step(year: Plan) -> None:
    ids = [s.command.command_id for s in year.steps]
    assert len(set(ids)) == len(ids)
    assert ids[:2] == ["demo-2022-00000", "demo-2022-00001"]
    assert all(cid == f"demo-2022-{i:05d}" for i, cid in enumerate(ids))


def test_every_payload_is_a_valid_command(year: Plan) -> None:
    for step in year.steps:
        model = COMMAND_TYPES[step.name][1]
        assert model.model_validate(step.payload()) == step.command
        assert step.subject == f"cmd.{step.context}.{step.name}"


def test_the_review_conference_is_the_articles(year: Plan) -> None:
    december = [
        s.command
        for s in year.steps
        if isinstance(s.command, e.ScheduleConference) and s.command.planned_on == date(2022, 12, 9)
    ]
    assert len(december) == 1
    conf = december[0]
    assert conf.kinds == [e.ConferenceKind.INFORMATION, e.ConferenceKind.REVIEW]
    assert "Nguyễn Quán Phú" in [p.name for p in conf.presenters]
    held = [s.command for s in year.steps if isinstance(s.command, e.HoldConference)]
    assert all(date(2022, 1, 1) <= h.held_on <= date(2022, 12, 9) for h in held)
    grants = [s.command for s in year.steps if isinstance(s.command, a.GrantAward)]
    assert {g.decision_date for g in grants} == {date(2022, 12, 9)}
    assert {g.period for g in grants} == {"2022"}


def _walk(plan: Plan) -> None:
    """Replay the plan in order, checking each command against what came before it,
    and that whatever it needs was sent in an earlier batch."""
    # Keyed by ids the plan always names (the contracts allow None: derived by the service).
    units: dict[str | None, tuple[Any, int, r.UnitKind]] = {}
    members: dict[str | None, dict[str, Any]] = {}
    conferences: dict[str | None, dict[str, Any]] = {}
    attendance: set[tuple[str, str]] = set()

    def earlier(batch: int, step: Step) -> None:
        assert batch < step.batch, f"step {step.index} {step.name} shares a batch with its cause"

    for step in plan.steps:
        cmd: Any = step.command
        match cmd:
            case r.RegisterUnit():
                assert cmd.unit_id not in units
                units[cmd.unit_id] = (cmd.effective_on, step.batch, cmd.kind)
            case r.EnrollMember():
                registered_on, batch, kind = units[cmd.unit_id]
                earlier(batch, step)
                assert cmd.effective_on >= registered_on
                assert cmd.member_id not in members
                if cmd.role is r.Role.REPORTER:
                    assert kind is r.UnitKind.CITY  # reporters are city-level
                members[cmd.member_id] = {
                    "from": cmd.effective_on,
                    "until": None,
                    "batch": step.batch,
                    "role": cmd.role,
                    "unit": cmd.unit_id,
                    "core": cmd.core,
                }
            case r.RetireMember() | r.TransferMember() | r.SetMemberCore():
                m = members[cmd.member_id]
                earlier(m["batch"], step)
                assert m["until"] is None and cmd.effective_on > m["from"]
                m["batch"] = step.batch
                if isinstance(cmd, r.RetireMember):
                    m["until"] = cmd.effective_on
                elif isinstance(cmd, r.TransferMember):
                    assert cmd.to_unit_id != m["unit"] and cmd.to_unit_id in units
                    m["unit"] = cmd.to_unit_id
                else:
                    m["core"] = cmd.core
            case e.ScheduleConference():
                assert set(cmd.invited_unit_ids) <= set(units)
                conferences[cmd.conference_id] = {
                    "batch": step.batch,
                    "status": "planned",
                    "on": cmd.planned_on,
                }
            case e.CancelConference():
                c = conferences[cmd.conference_id]
                earlier(c["batch"], step)
                c["status"] = "cancelled"
            case e.HoldConference():
                c = conferences[cmd.conference_id]
                earlier(c["batch"], step)
                assert c["status"] == "planned" and cmd.held_on == c["on"] == step.on
                c.update(status="held", batch=step.batch)
            case e.RecordAttendance() | e.RecordGuestAttendance():
                c = conferences[cmd.conference_id]
                assert c["status"] == "held"
                earlier(c["batch"], step)
                if isinstance(cmd, e.RecordAttendance):
                    m = members[cmd.member_id]
                    earlier(m["batch"], step)
                    day = c["on"]
                    # members attend only while they are on the roster
                    assert m["from"] <= day and (m["until"] is None or day < m["until"])
                    assert (cmd.conference_id, cmd.member_id) not in attendance
                    attendance.add((cmd.conference_id, cmd.member_id))
            case a.GrantAward():
                assert all(c["status"] != "planned" for c in conferences.values())
                if cmd.recipient_type is a.RecipientType.INDIVIDUAL:
                    m = members[cmd.recipient_id]
                    assert m["until"] is None and m["core"] and m["role"] is r.Role.PROPAGANDIST
                else:
                    assert units[cmd.recipient_id][2] is not r.UnitKind.CITY
                    assert any(
                        m["unit"] == cmd.recipient_id and m["core"] and m["until"] is None
                        for m in members.values()
                    )
            case _:
                raise AssertionError(f"unexpected command {step.name}")


@pytest.mark.parametrize("seed", SEEDS)
def test_dates_and_order_are_consistent(seed: int) -> None:
    _walk(plan_year(seed))


def test_one_lane_per_aggregate_within_a_batch(year: Plan) -> None:
    """Commands to one conference share a lane, so the loader sends them one by one."""
    for batch in year.batches():
        lanes: dict[str, str] = {}
        for step in batch:
            command = step.command
            target = getattr(command, "conference_id", None) or getattr(command, "member_id", None)
            if target:
                assert lanes.setdefault(target, step.lane) == step.lane


def _has_diacritics(text: str) -> bool:
    return any(unicodedata.decomposition(ch) for ch in text if ch.isalpha())


def test_names_are_vietnamese(year: Plan) -> None:
    enrolments = [s.command for s in year.steps if isinstance(s.command, r.EnrollMember)]
    families = {f for f, _ in data.FAMILY_NAMES}
    names = [m.full_name for m in enrolments]
    assert len(set(names)) == len(names)
    assert all(len(n.split()) == 3 and n.split()[0] in families for n in names)
    assert sum(_has_diacritics(n) for n in names) > 0.9 * len(names)
    units = [s.command.name for s in year.steps if isinstance(s.command, r.RegisterUnit)]
    assert all(u.startswith(("Chi bộ", "Đảng bộ", "Đội ngũ")) for u in units)


def test_figures_are_folded_from_the_commands(year: Plan) -> None:
    """Dropping one attendance row and one retirement moves the figures: they are computed."""
    steps = list(year.steps)
    one_row = next(i for i, s in enumerate(steps) if s.name == "record_attendance")
    propagandists = {
        s.command.member_id
        for s in steps
        if isinstance(s.command, r.EnrollMember) and s.command.role is r.Role.PROPAGANDIST
    }
    a_retirement = next(
        i
        for i, s in enumerate(steps)
        if isinstance(s.command, r.RetireMember) and s.command.member_id in propagandists
    )
    fewer = figures_of(s for i, s in enumerate(steps) if i not in (one_row, a_retirement))
    assert fewer.attendances == year.figures.attendances - 1
    assert fewer.propagandists == 190


def test_briefings_demo_plan_prints_the_figures() -> None:
    from typer.testing import CliRunner

    from briefings.cli.demo import app

    result = CliRunner().invoke(app, ["plan", "--seed", "7", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == {"seed": 7, **dataclasses.asdict(plan_year(7).figures)}
