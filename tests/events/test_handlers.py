"""Events handlers on the in-memory event store: the roster copy comes from the ROSTER stream
the roster handlers wrote into the same store (no nats-server)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from contracts import events as e
from contracts import roster as r
from runtime.domain import DomainError
from runtime.memory_store import InMemoryEventStore
from tests.inmemory import Instance, events_instance, memory_store, roster_instance, running

pytestmark = pytest.mark.fast


async def roster_with_members(es: InMemoryEventStore, path: Path) -> Instance:
    roster = await roster_instance(es, path)
    await roster.send(
        r.RegisterUnit(command_id="u-city", unit_id="city", kind="city", name="Cấp thành phố")
    )
    for unit_id in ("cell-a", "cell-b"):
        await roster.send(
            r.RegisterUnit(
                command_id=f"u-{unit_id}",
                unit_id=unit_id,
                kind="party_cell",
                name=f"Chi bộ {unit_id}",
                effective_on=date(2021, 1, 1),
            )
        )
    for member_id, name, since in (
        ("m1", "Nguyễn Thị Hoa", date(2022, 1, 10)),
        ("late", "Trần Văn Muộn", date(2022, 12, 20)),
    ):
        await roster.send(
            r.EnrollMember(
                command_id=f"enrol-{member_id}",
                member_id=member_id,
                full_name=name,
                role="propagandist",
                unit_id="cell-a",
                effective_on=since,
            )
        )
    return roster


def rule_of(caught: pytest.ExceptionInfo[DomainError]) -> str:
    return caught.value.rule


async def test_conference_life_and_attendance_rules(tmp_path: Path) -> None:
    es = await memory_store()
    roster = await roster_with_members(es, tmp_path / "roster.db")
    events = await events_instance(es, tmp_path / "events.db")
    async with running(roster, events):
        scheduled = await events.send(
            e.ScheduleConference(
                command_id="s1",
                conference_id="c-12",
                kinds=["information", "review"],
                title="Thông tin thời sự tháng 12 và tổng kết",
                planned_on=date(2022, 12, 8),
                invited_unit_ids=["cell-a", "cell-b"],
            )
        )
        assert scheduled.version == 1
        with pytest.raises(DomainError) as bad_unit:
            await events.send(
                e.ScheduleConference(
                    command_id="s2",
                    kinds=["thematic"],
                    title="x",
                    planned_on=date(2022, 12, 8),
                    invited_unit_ids=["no-such-unit"],
                )
            )
        assert rule_of(bad_unit) == "InvitedUnitMustExist"
        with pytest.raises(DomainError) as early:
            await events.send(
                e.RecordAttendance(command_id="a0", conference_id="c-12", member_id="m1")
            )
        assert rule_of(early) == "ConferenceMustBeHeld"

        await events.send(
            e.RescheduleConference(
                command_id="r1", conference_id="c-12", planned_on=date(2022, 12, 9)
            )
        )
        await events.send(
            e.HoldConference(command_id="h1", conference_id="c-12", held_on=date(2022, 12, 9))
        )
        first = await events.send(
            e.RecordAttendance(command_id="a1", conference_id="c-12", member_id="m1")
        )
        assert not first.unchanged and first.version == 4
        twice = await events.send(
            e.RecordAttendance(command_id="a2", conference_id="c-12", member_id="m1")
        )
        assert twice.unchanged and "already counted" in twice.message and twice.event_ids == []

        with pytest.raises(DomainError) as unknown:
            await events.send(
                e.RecordAttendance(command_id="a3", conference_id="c-12", member_id="ghost")
            )
        assert rule_of(unknown) == "MemberMustExist" and unknown.value.code == "not_found"
        with pytest.raises(DomainError) as late:
            await events.send(
                e.RecordAttendance(command_id="a4", conference_id="c-12", member_id="late")
            )
        assert rule_of(late) == "MemberMustBeActiveOnConferenceDate"
        assert await es.stream_last_sequence("EVENTS") == 4


async def test_a_member_enrolled_just_before_is_seen_through_the_roster(tmp_path: Path) -> None:
    """The roster copy is behind until the handler waits for the ROSTER stream's end."""
    es = await memory_store()
    roster = await roster_with_members(es, tmp_path / "roster.db")
    events = await events_instance(es, tmp_path / "events.db")
    async with running(roster, events):
        await events.send(
            e.ScheduleConference(
                command_id="s1",
                conference_id="c1",
                kinds=["information"],
                title="Tháng 3",
                planned_on=date(2022, 3, 3),
            )
        )
        await events.send(
            e.HoldConference(command_id="h1", conference_id="c1", held_on=date(2022, 3, 3))
        )
        await roster.send(
            r.EnrollMember(
                command_id="enrol-new",
                member_id="new",
                full_name="Lê Văn Mới",
                role="propagandist",
                unit_id="cell-b",
                effective_on=date(2022, 2, 1),
            )
        )
        reply = await events.send(
            e.RecordAttendance(command_id="a1", conference_id="c1", member_id="new")
        )
        assert reply.version == 3
