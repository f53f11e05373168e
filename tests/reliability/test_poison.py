"""A message the command services' stream followers cannot apply (here: not even JSON) is set
aside after bounded retries with backoff, and later messages flow: the followers catch up,
health is honest, and commands that need the followed data work again."""

from __future__ import annotations

import asyncio
import time

from nats.aio.client import Client

from runtime.deadletter import read_letters
from runtime.eventstore import EventStore
from runtime.settings import Settings
from tests.reliability.conftest import Report
from tests.support import request, running_service

CITY = {"kind": "city", "name": "Cấp thành phố", "unit_id": "city"}


async def _caught_up(nc: Client, service: str) -> bool:
    detail = (await request(nc, f"health.{service}", b"{}"))["detail"]
    followers = detail.get("followers") or {"own": detail}
    return all(f["applied"] >= f["last"] for f in followers.values())


async def test_followers_set_aside_a_poison_message_and_move_on(
    settings: Settings, nc: Client, report: Report
) -> None:
    async with running_service("roster", settings), running_service("events", settings):
        await request(nc, "cmd.roster.register_unit", {"command_id": "u1", **CITY})
        poison = await nc.jetstream().publish("ev.roster.member.poison", b"{not json")
        member = await request(
            nc,
            "cmd.roster.enroll_member",
            {
                "command_id": "m1",
                "full_name": "Lê Thị Lan",
                "role": "reporter",
                "unit_id": "city",
                "effective_on": "2022-01-02",
            },
        )
        assert member["ok"], member
        conference = await request(
            nc,
            "cmd.events.schedule_conference",
            {
                "command_id": "c1",
                "kinds": ["information"],
                "title": "Hội nghị",
                "planned_on": "2022-03-01",
            },
        )
        held = await request(
            nc,
            "cmd.events.hold_conference",
            {
                "command_id": "c2",
                "conference_id": conference["aggregate_id"],
                "held_on": "2022-03-01",
            },
        )
        assert held["ok"], held
        deadline = time.monotonic() + 60
        while not (await _caught_up(nc, "roster") and await _caught_up(nc, "events")):
            assert time.monotonic() < deadline, "followers stuck behind the poison message"
            await asyncio.sleep(0.2)
        attended = await request(
            nc,
            "cmd.events.record_attendance",
            {
                "command_id": "a1",
                "conference_id": conference["aggregate_id"],
                "member_id": member["aggregate_id"],
            },
            timeout=30,
        )
        assert attended["ok"], attended
        for service in ("roster", "events"):
            assert (await request(nc, f"health.{service}", b"{}"))["healthy"]
    letters = await read_letters(EventStore(nc))
    by_service = {e.letter.consumer.split(".", 1)[0]: e.letter for e in letters}
    assert set(by_service) == {"roster", "events"}, [e.letter.consumer for e in letters]
    for letter in by_service.values():
        assert letter.reason == "malformed" and letter.data == b"{not json"
        assert letter.sequence == poison.seq and letter.deliveries >= 3
    assert len(letters) == 2
    report.add(
        "input",
        "a malformed message in ROSTER, followed by roster and events",
        1,
        "set aside by both followers after 3 tries with backoff; later events "
        "applied; attendance for a later member recorded",
    )
