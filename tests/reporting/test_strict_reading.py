"""Reporting reads every envelope and payload strictly (issue #14: it took
``"aggregate_version": "1"`` for 1): such an event is set aside as malformed, never counted,
and a later, well-formed one is. It still reads a timestamp an older writer stored with an
unpadded year (``202-…``): stored events stay readable for ever."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.aio.client import Client

from contracts.canonical import GENESIS_HASH, canonical_json
from runtime.deadletter import read_letters
from runtime.eventstore import EventStore
from runtime.settings import Settings
from tests.support import request, running_service


def enrolled(member_id: str, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "actor": "writer",
        "aggregate_id": member_id,
        "aggregate_type": "member",
        "aggregate_version": 1,
        "causation_id": member_id,
        "command_id": member_id,
        "correlation_id": member_id,
        "event_id": f"00000000-0000-4000-8000-{abs(hash(member_id)) % 10**12:012d}",
        "occurred_at": "2022-01-01T17:00:00.000000Z",
        "payload": {
            "contact": None,
            "core": False,
            "effective_on": "2022-01-02",
            "external_code": None,
            "full_name": f"Thành viên {member_id}",
            "member_id": member_id,
            "role": "reporter",
            "unit_id": "city",
        },
        "prev_hash": GENESIS_HASH,
        "recorded_at": "2022-01-02T01:00:00.000000Z",
        "schema_version": 1,
        "type": "MemberEnrolled",
    }
    event.update(changes)
    return event


async def caught_up(nc: Client, seq: int) -> None:
    while True:
        health = await request(nc, "health.reporting", b"{}")
        if health["detail"]["lag"]["ROSTER"]["applied"] >= seq:
            return
        await asyncio.sleep(0.1)


async def test_reporting_sets_aside_what_is_not_strictly_an_envelope(
    settings: Settings, nc: Client
) -> None:
    async with running_service("roster", settings), running_service("reporting", settings):
        unit = {"command_id": "u", "kind": "city", "name": "Cấp thành phố", "unit_id": "city"}
        assert (
            await request(nc, "cmd.roster.register_unit", {**unit, "effective_on": "2021-01-01"})
        )["ok"]
        js = nc.jetstream()
        as_text = await js.publish(
            "ev.roster.member.m1", canonical_json(enrolled("m1", aggregate_version="1"))
        )
        core_text = enrolled("m2")
        core_text["payload"] = {**core_text["payload"], "core": "false"}
        bad_payload = await js.publish("ev.roster.member.m2", canonical_json(core_text))
        old_year = await js.publish(
            "ev.roster.member.m3",
            canonical_json(enrolled("m3", occurred_at="202-01-01T17:00:00.000000Z")),
        )
        good = await js.publish("ev.roster.member.m4", canonical_json(enrolled("m4")))
        await caught_up(nc, good.seq)
        letters = await read_letters(EventStore(nc), "reporting")
        set_aside = {e.letter.sequence: e.letter.reason for e in letters}
        assert set_aside == {as_text.seq: "malformed", bad_payload.seq: "invalid_payload"}, (
            set_aside
        )
        assert old_year.seq not in set_aside
        summary = await request(nc, "qry.reporting.annual_summary", {"year": 2022}, timeout=30)
        assert summary["ok"], summary
        assert summary["data"]["roster"]["at_end"]["reporter"] == 2, summary["data"]["roster"]
