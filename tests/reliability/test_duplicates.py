"""A retried request can reach the service while the first is still being handled (a client
that reconnects flushes its buffered requests together). Both get the original outcome."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client

from runtime.settings import Settings
from tests.reliability.conftest import Report
from tests.reliability.helpers import stream_envelopes
from tests.support import request, running_service

CITY = {"kind": "city", "name": "Cấp thành phố", "unit_id": "city"}


async def test_the_same_command_delivered_concurrently_is_handled_once(
    settings: Settings, nc: Client, report: Report
) -> None:
    async with running_service("roster", settings):
        await request(nc, "cmd.roster.register_unit", {"command_id": "u1", **CITY})
        replies = []
        for i in range(10):
            body = {
                "command_id": f"m{i}",
                "full_name": f"Người {i}",
                "role": "reporter",
                "unit_id": "city",
                "effective_on": "2022-01-10",
            }
            replies.append(
                await asyncio.gather(
                    *(request(nc, "cmd.roster.enroll_member", body) for _ in range(3))
                )
            )
    envelopes = await stream_envelopes(nc, "ROSTER")
    for i, copies in enumerate(replies):
        assert all(r["ok"] for r in copies), copies
        assert len({tuple(r["event_ids"]) for r in copies}) == 1, copies
        assert [e["command_id"] for e in envelopes].count(f"m{i}") == 1
    report.add(
        "fault",
        "the same command delivered 3 times at once (x10)",
        30,
        "one event each, every copy got the original reply",
    )
