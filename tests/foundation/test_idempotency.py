"""Issue #13 finding 6: an idempotency key is bound to its command.

Against a real nats-server and real roster services (two hosts in this process, each with its
own SQLite store, sharing the command subjects' queue group)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from runtime.settings import Settings
from tests.awards.support import answering
from tests.support import request, running_service

CITY = {"kind": "city", "name": "Cấp thành phố", "unit_id": "city"}
ENROL = {
    "command_id": "enrol-hoa",
    "full_name": "Nguyễn Thị Hoa",
    "role": "reporter",
    "unit_id": "city",
    "effective_on": "2022-01-10",
}


@contextlib.asynccontextmanager
async def roster_instances(settings: Settings, nc: Client, count: int) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for i in range(count):
            mine = settings.with_(data_dir=settings.data_dir.parent / f"instance{i}")
            await stack.enter_async_context(running_service("roster", mine))
        await answering(nc, "cmd.roster.register_unit")
        yield


async def stored_count(nc: Client) -> int:
    return int((await nc.jetstream().stream_info("ROSTER")).state.messages)


@pytest.mark.parametrize("instances", [1, 2])
async def test_one_id_for_twenty_different_renames_one_succeeds_nineteen_refused(
    settings: Settings, nc: Client, instances: int
) -> None:
    async with roster_instances(settings, nc, instances):
        assert (await request(nc, "cmd.roster.register_unit", {"command_id": "u1", **CITY}))["ok"]
        replies = await asyncio.gather(
            *(
                request(
                    nc,
                    "cmd.roster.rename_unit",
                    {"command_id": "rename-1", "unit_id": "city", "name": f"Thành phố {i}"},
                )
                for i in range(20)
            )
        )
        accepted = [r for r in replies if r["ok"]]
        refused = [r for r in replies if not r["ok"]]
        assert len(accepted) == 1, replies
        assert len(refused) == 19
        assert all(r["code"] == "conflict" and r["rule"] == "command_id_reused" for r in refused)
        assert all(r["context"]["command_id"] == "rename-1" for r in refused)
        # Exactly one rename was stored; the refusals changed nothing.
        assert await stored_count(nc) == 2
        unit = await request(nc, "qry.roster.get_unit", {"unit_id": "city"})
        winner = int(unit["data"]["name"].rsplit(" ", 1)[1])
        # The winner's retry is still a replay of its outcome.
        again = await request(
            nc,
            "cmd.roster.rename_unit",
            {"command_id": "rename-1", "unit_id": "city", "name": f"Thành phố {winner}"},
        )
        assert again["ok"] and again["replayed"] and again["event_ids"] == accepted[0]["event_ids"]


async def test_two_instances_twenty_copies_of_one_enrolment_all_get_the_original_outcome(
    settings: Settings, nc: Client
) -> None:
    async with roster_instances(settings, nc, 2):
        assert (await request(nc, "cmd.roster.register_unit", {"command_id": "u1", **CITY}))["ok"]
        for round_ in range(5):  # several rounds: the race is not won or lost in one
            body = {**ENROL, "command_id": f"enrol-{round_}", "full_name": f"Người {round_}"}
            replies = await asyncio.gather(
                *(request(nc, "cmd.roster.enroll_member", body) for _ in range(20))
            )
            assert all(r["ok"] for r in replies), [r for r in replies if not r["ok"]]
            outcomes = {(r["aggregate_id"], r["version"], tuple(r["event_ids"])) for r in replies}
            assert len(outcomes) == 1, outcomes
            assert sum(not r["replayed"] for r in replies) <= 1
        assert await stored_count(nc) == 1 + 5


def _rename(name: str, **extra: Any) -> dict[str, Any]:
    return {"command_id": "r-x", "unit_id": "city", "name": name, **extra}


async def test_the_binding_survives_a_state_store_rebuilt_from_the_stream(
    settings: Settings, nc: Client, tmp_path: Path
) -> None:
    async with roster_instances(settings, nc, 1):
        await request(nc, "cmd.roster.register_unit", {"command_id": "u1", **CITY})
        first = await request(nc, "cmd.roster.rename_unit", _rename("Thành phố A"))
        assert first["ok"] and not first["replayed"]
    # A fresh store: the outcome and its digest are rebuilt from the events.
    fresh = settings.with_(data_dir=tmp_path / "fresh")
    async with running_service("roster", fresh):
        await answering(nc, "cmd.roster.register_unit")
        other = await request(nc, "cmd.roster.rename_unit", _rename("Thành phố B"))
        assert not other["ok"] and other["rule"] == "command_id_reused", other
        # The transport fields may differ between retries; the command may not.
        same = await request(
            nc, "cmd.roster.rename_unit", _rename("Thành phố A", correlation_id="retry-2")
        )
        assert same["ok"] and same["replayed"] and same["event_ids"] == first["event_ids"]
        other_actor = await request(nc, "cmd.roster.rename_unit", _rename("Thành phố A", actor="x"))
        assert other_actor["rule"] == "command_id_reused"
    assert await stored_count(nc) == 2


async def test_an_id_reused_for_another_kind_of_command_is_refused(
    settings: Settings, nc: Client
) -> None:
    async with roster_instances(settings, nc, 1):
        await request(nc, "cmd.roster.register_unit", {"command_id": "u1", **CITY})
        reply = await request(nc, "cmd.roster.enroll_member", {**ENROL, "command_id": "u1"})
        assert not reply["ok"] and reply["rule"] == "command_id_reused", reply
    assert await stored_count(nc) == 1
