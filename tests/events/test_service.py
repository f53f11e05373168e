"""The events service through a real nats-server, with the roster service beside it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from runtime.settings import Settings
from tests.support import ServiceProcess, running_service, wait_healthy
from tests.support import request as _request

PAIRS = 30
BUSY = 150
CITY = {"command_id": "u-city", "kind": "city", "name": "Cấp thành phố", "unit_id": "city"}
CELL_A = {"command_id": "u-a", "kind": "party_cell", "name": "Chi bộ Phường 1", "unit_id": "cell-a"}
CELL_B = {"command_id": "u-b", "kind": "party_cell", "name": "Chi bộ Phường 2", "unit_id": "cell-b"}


async def request(
    nc: Client, subject: str, payload: dict[str, Any], timeout: float = 60
) -> dict[str, Any]:
    """Generous: other suites share these two cores."""
    return await _request(nc, subject, payload, timeout=timeout)


async def ok(nc: Client, subject: str, payload: dict[str, Any]) -> dict[str, Any]:
    reply = await request(nc, subject, payload)
    assert reply["ok"], reply
    return reply


async def units(nc: Client) -> None:
    for unit in (CITY, CELL_A, CELL_B):
        await ok(nc, "cmd.roster.register_unit", {**unit, "effective_on": "2021-01-01"})


async def enroll(
    nc: Client,
    member_id: str,
    name: str,
    unit: str = "cell-a",
    effective_on: str = "2022-01-10",
    code: str | None = None,
) -> None:
    body = {
        "command_id": f"enrol-{member_id}",
        "member_id": member_id,
        "full_name": name,
        "role": "propagandist",
        "unit_id": unit,
        "effective_on": effective_on,
    }
    if code:
        body["external_code"] = code
    await ok(nc, "cmd.roster.enroll_member", body)


async def held_conference(
    nc: Client, cid: str = "c-12", held_on: str = "2022-12-09", **extra: Any
) -> None:
    await ok(
        nc,
        "cmd.events.schedule_conference",
        {
            "command_id": f"sched-{cid}",
            "conference_id": cid,
            "kinds": ["information", "review"],
            "title": "Hội nghị thông tin thời sự và tổng kết năm 2022",
            "planned_on": "2022-12-08",
            "venue": "Hội trường A",
            "presenters": [
                {"name": "Báo cáo viên Trung ương", "affiliation": "Ban Tuyên giáo Trung ương"}
            ],
            "topics": ["Tình hình thế giới", "Đối ngoại"],
            **extra,
        },
    )
    await ok(
        nc,
        "cmd.events.hold_conference",
        {"command_id": f"hold-{cid}", "conference_id": cid, "held_on": held_on},
    )


async def test_conference_life_and_attendance_rules(
    settings: Settings, nc: Client, database_url: str
) -> None:
    s = settings.with_(database_url=database_url)
    async with running_service("roster", s), running_service("events", s):
        await units(nc)
        await enroll(nc, "m1", "Nguyễn Thị Hoa")
        await enroll(nc, "late", "Trần Văn Muộn", effective_on="2022-12-20")

        await ok(
            nc,
            "cmd.events.schedule_conference",
            {
                "command_id": "s1",
                "conference_id": "c-12",
                "kinds": ["information", "review"],
                "title": "Thông tin thời sự tháng 12 và tổng kết",
                "planned_on": "2022-12-08",
                "invited_unit_ids": ["cell-a", "cell-b"],
            },
        )
        bad_unit = await request(
            nc,
            "cmd.events.schedule_conference",
            {
                "command_id": "s2",
                "kinds": ["thematic"],
                "title": "x",
                "planned_on": "2022-12-08",
                "invited_unit_ids": ["no-such-unit"],
            },
        )
        assert bad_unit["rule"] == "InvitedUnitMustExist"

        early = await request(
            nc,
            "cmd.events.record_attendance",
            {"command_id": "a0", "conference_id": "c-12", "member_id": "m1"},
        )
        assert early["code"] == "rule_violated" and early["rule"] == "ConferenceMustBeHeld"

        moved = await ok(
            nc,
            "cmd.events.reschedule_conference",
            {"command_id": "r1", "conference_id": "c-12", "planned_on": "2022-12-09"},
        )
        assert moved["version"] == 2
        await ok(
            nc,
            "cmd.events.hold_conference",
            {"command_id": "h1", "conference_id": "c-12", "held_on": "2022-12-09"},
        )

        first = await ok(
            nc,
            "cmd.events.record_attendance",
            {"command_id": "a1", "conference_id": "c-12", "member_id": "m1"},
        )
        assert not first["unchanged"]
        twice = await ok(
            nc,
            "cmd.events.record_attendance",
            {"command_id": "a2", "conference_id": "c-12", "member_id": "m1"},
        )
        assert twice["unchanged"] and "already counted" in twice["message"]
        assert twice["event_ids"] == []

        unknown = await request(
            nc,
            "cmd.events.record_attendance",
            {"command_id": "a3", "conference_id": "c-12", "member_id": "ghost"},
        )
        assert unknown["code"] == "not_found" and unknown["rule"] == "MemberMustExist"
        late = await request(
            nc,
            "cmd.events.record_attendance",
            {"command_id": "a4", "conference_id": "c-12", "member_id": "late"},
        )
        assert late["rule"] == "MemberMustBeActiveOnConferenceDate", late

        await ok(
            nc,
            "cmd.events.record_guest_attendance",
            {
                "command_id": "g1",
                "conference_id": "c-12",
                "category": "ward_propaganda",
                "headcount": 35,
            },
        )
        await ok(
            nc,
            "cmd.events.record_guest_attendance",
            {
                "command_id": "g2",
                "conference_id": "c-12",
                "category": "party_class_students",
                "headcount": 20,
            },
        )
        listed = (await ok(nc, "qry.events.list_attendance", {"conference_id": "c-12"}))["data"]
        assert [m["member_id"] for m in listed["members"]] == ["m1"]
        assert listed["members"][0]["unit_name"] == "Chi bộ Phường 1"
        assert listed["conference"]["total_attendance"] == 56

        await ok(
            nc,
            "cmd.events.correct_attendance",
            {
                "command_id": "fix1",
                "conference_id": "c-12",
                "member_id": "m1",
                "reason": "ghi nhầm",
            },
        )
        after = (await ok(nc, "qry.events.get_conference", {"conference_id": "c-12"}))["data"]
        assert after["member_attendance"] == 0 and after["kinds"] == ["information", "review"]

        # Cancelled conferences take no attendance.
        await ok(
            nc,
            "cmd.events.schedule_conference",
            {
                "command_id": "s3",
                "conference_id": "c-x",
                "kinds": ["thematic"],
                "title": "Chuyên đề",
                "planned_on": "2022-11-01",
            },
        )
        await ok(
            nc,
            "cmd.events.cancel_conference",
            {"command_id": "x1", "conference_id": "c-x", "reason": "mưa bão"},
        )
        refused = await request(
            nc,
            "cmd.events.record_attendance",
            {"command_id": "a5", "conference_id": "c-x", "member_id": "m1"},
        )
        assert refused["rule"] == "ConferenceWasCancelled"

        year = (await ok(nc, "qry.events.list_conferences", {"year": 2022}))["data"]
        assert {(x["conference_id"], x["status"]) for x in year} == {
            ("c-12", "held"),
            ("c-x", "cancelled"),
        }

    # Nothing was deleted: the mistaken attendance and its correction are both in the stream.
    js = nc.jetstream()
    info = await js.stream_info("EVENTS")
    types = [
        json.loads((await js.get_msg("EVENTS", seq)).data or b"")["type"]
        for seq in range(1, info.state.last_seq + 1)
    ]
    assert types.count("AttendanceRecorded") == 1 and types.count("AttendanceCorrected") == 1


async def test_just_enrolled_member_is_never_unknown(settings: Settings, nc: Client) -> None:
    """Enrolment acknowledged, attendance sent at once, 30 pairs at a time (each pair in
    order, the pairs interleaved so the roster copy is busy): never "unknown"."""
    async with running_service("roster", settings), running_service("events", settings):
        await units(nc)
        for i in range(PAIRS):
            await held_conference(nc, f"c-{i}")

        async def pair(i: int) -> dict[str, Any]:
            await enroll(nc, f"new-{i}", f"Người Mới {i}")
            return await request(
                nc,
                "cmd.events.record_attendance",
                {"command_id": f"att-{i}", "conference_id": f"c-{i}", "member_id": f"new-{i}"},
            )

        async def others(i: int) -> None:  # keeps the events service's roster copy busy
            await enroll(nc, f"other-{i}", f"Người Khác {i}", unit="cell-b")

        replies = (
            await asyncio.gather(
                *(pair(i) for i in range(PAIRS)), *(others(i) for i in range(BUSY))
            )
        )[:PAIRS]
        refused = [(i, r) for i, r in enumerate(replies) if not r["ok"]]
        assert refused == []
        for i in range(PAIRS):
            got = (await ok(nc, "qry.events.get_conference", {"conference_id": f"c-{i}"}))["data"]
            assert got["member_attendance"] == 1


async def test_active_and_unit_are_taken_on_the_conference_date(
    settings: Settings, nc: Client
) -> None:
    """Transferred in June, retired in November (both recorded by the roster service)."""
    async with running_service("roster", settings), running_service("events", settings):
        await units(nc)
        await enroll(nc, "m1", "Nguyễn Thị Hoa", unit="cell-a", effective_on="2022-01-10")
        await ok(
            nc,
            "cmd.roster.transfer_member",
            {
                "command_id": "t1",
                "member_id": "m1",
                "to_unit_id": "cell-b",
                "effective_on": "2022-06-01",
            },
        )
        await ok(
            nc,
            "cmd.roster.retire_member",
            {"command_id": "x1", "member_id": "m1", "effective_on": "2022-11-01"},
        )
        for cid, day in (("may", "2022-05-15"), ("july", "2022-07-01"), ("dec", "2022-12-09")):
            await held_conference(nc, cid, held_on=day)
        for cid in ("may", "july"):
            await ok(
                nc,
                "cmd.events.record_attendance",
                {"command_id": f"a-{cid}", "conference_id": cid, "member_id": "m1"},
            )
        refused = await request(
            nc,
            "cmd.events.record_attendance",
            {"command_id": "a-dec", "conference_id": "dec", "member_id": "m1"},
        )
        assert refused["rule"] == "MemberMustBeActiveOnConferenceDate", refused
        assert "retired on 2022-11-01" in refused["message"]
        units_seen = {}
        for cid in ("may", "july"):
            data = (await ok(nc, "qry.events.list_attendance", {"conference_id": cid}))["data"]
            units_seen[cid] = data["members"][0]["unit_id"]
        assert units_seen == {"may": "cell-a", "july": "cell-b"}


async def test_many_clerks_at_one_conference_all_count(settings: Settings, nc: Client) -> None:
    async with running_service("roster", settings), running_service("events", settings):
        await units(nc)
        await held_conference(nc)
        for i in range(40):
            await enroll(nc, f"m{i}", f"Người {i}")
        replies = await asyncio.gather(
            *(
                request(
                    nc,
                    "cmd.events.record_attendance",
                    {"command_id": f"a{i}", "conference_id": "c-12", "member_id": f"m{i}"},
                )
                for i in range(40)
            )
        )
        assert [r for r in replies if not r["ok"]] == []
        got = (await ok(nc, "qry.events.get_conference", {"conference_id": "c-12"}))["data"]
        assert got["member_attendance"] == 40


async def test_attendance_waits_for_a_lagging_roster_copy(settings: Settings, nc: Client) -> None:
    """The roster copy is held back (its follower stopped) while a member is enrolled: the
    attendance waits for the copy to reach the roster's last sequence instead of refusing."""
    async with running_service("roster", settings), running_service("events", settings) as events:
        await units(nc)
        await held_conference(nc)
        follower = next(f for f in events.service.followers if f.stream == "ROSTER")
        await follower.stop()
        await enroll(nc, "m1", "Nguyễn Thị Hoa")
        restart = asyncio.get_running_loop().call_later(
            0.5, lambda: asyncio.ensure_future(follower.start())
        )
        try:
            reply = await request(
                nc,
                "cmd.events.record_attendance",
                {"command_id": "a1", "conference_id": "c-12", "member_id": "m1"},
            )
        finally:
            restart.cancel()
        assert reply["ok"] and not reply["unchanged"], reply


async def test_health_shows_follower_lag_and_a_fresh_store_rebuilds(
    settings: Settings, nc: Client, tmp_path: Path
) -> None:
    async with running_service("roster", settings), running_service("events", settings):
        await units(nc)
        await enroll(nc, "m1", "Nguyễn Thị Hoa")
        await held_conference(nc)
        await ok(
            nc,
            "cmd.events.record_attendance",
            {"command_id": "a1", "conference_id": "c-12", "member_id": "m1"},
        )
        health = await request(nc, "health.events", {})
        assert health["healthy"]
        followers = health["detail"]["followers"]
        assert followers["roster-copy:ROSTER"]["lag"] == 0
        assert followers["roster-copy:ROSTER"]["applied"] == 4
        assert followers["own:EVENTS"]["last"] == 3
    # A new store (local database lost): the streams rebuild the conference and the roster copy.
    fresh = settings.with_(data_dir=tmp_path / "fresh")
    async with running_service("events", fresh):
        listed = (await ok(nc, "qry.events.list_attendance", {"conference_id": "c-12"}))["data"]
        assert [m["full_name"] for m in listed["members"]] == ["Nguyễn Thị Hoa"]
        again = await ok(
            nc,
            "cmd.events.record_attendance",
            {"command_id": "a1", "conference_id": "c-12", "member_id": "m1"},
        )
        assert again["replayed"]


async def test_as_a_child_process_it_serves_and_stops_cleanly(
    settings: Settings, nc: Client, tmp_path: Path
) -> None:
    """``briefings serve events``: a real process, restarted, keeps its answers."""
    proc = ServiceProcess("events", settings, tmp_path / "events.log").start()
    try:
        async with running_service("roster", settings):
            await wait_healthy(nc, "events", timeout=90)
            await units(nc)
            await enroll(nc, "m1", "Nguyễn Thị Hoa")
            await held_conference(nc)
            first = await ok(
                nc,
                "cmd.events.record_attendance",
                {"command_id": "a1", "conference_id": "c-12", "member_id": "m1"},
            )
            assert proc.terminate() == 0, proc.log()
            proc.start()
            await wait_healthy(nc, "events", timeout=90)
            again = await ok(
                nc,
                "cmd.events.record_attendance",
                {"command_id": "a1", "conference_id": "c-12", "member_id": "m1"},
            )
            assert again["replayed"] and again["event_ids"] == first["event_ids"]
    finally:
        proc.kill()
