"""The event store against a real nats-server: conflicts, idempotency, immutability."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from nats.aio.client import Client
from nats.js.errors import APIError

from contracts.subjects import event_streams
from runtime.settings import Settings
from tests.support import request, running_service

CITY = {"kind": "city", "name": "Cấp thành phố", "unit_id": "city"}


async def test_enroll_then_query_member(settings: Settings, nc: Client) -> None:
    async with running_service("roster", settings):
        unit = await request(nc, "cmd.roster.register_unit", {"command_id": "u1", **CITY})
        assert unit["ok"] and unit["aggregate_id"] == "city" and unit["version"] == 1
        reply = await request(
            nc,
            "cmd.roster.enroll_member",
            {
                "command_id": "m1",
                "full_name": "  Nguyễn Thị Hoa ",
                "role": "reporter",
                "unit_id": "city",
                "effective_on": "2022-01-10",
            },
        )
        assert reply["ok"], reply
        member = await request(nc, "qry.roster.get_member", {"member_id": reply["aggregate_id"]})
        assert member["data"]["full_name"] == "Nguyễn Thị Hoa"


async def test_racing_writers_one_wins_no_gap(settings: Settings, nc: Client) -> None:
    """Two services (two stores) rename one unit concurrently: the stream stays a line."""
    other = settings.with_(data_dir=settings.data_dir.parent / "other")
    async with running_service("roster", settings), running_service("roster", other):
        await request(nc, "cmd.roster.register_unit", {"command_id": "u1", **CITY})
        replies = await asyncio.gather(
            *(
                request(
                    nc,
                    "cmd.roster.rename_unit",
                    {"command_id": f"r{i}", "unit_id": "city", "name": f"Thành phố {i}"},
                )
                for i in range(20)
            )
        )
        assert all(r["ok"] or r["code"] == "conflict" for r in replies), replies
        versions = sorted(r["version"] for r in replies if r["ok"] and not r.get("unchanged"))
        js = nc.jetstream()
        msgs = []
        for seq in range(1, (await js.stream_info("ROSTER")).state.last_seq + 1):
            msgs.append(json.loads((await js.get_msg("ROSTER", seq)).data))
        unit_versions = [m["aggregate_version"] for m in msgs if m["aggregate_id"] == "city"]
        assert unit_versions == list(range(1, len(unit_versions) + 1))  # no gap, no duplicate
        assert versions == unit_versions[1:]


async def test_repeated_command_returns_first_outcome_even_from_a_fresh_store(
    settings: Settings, nc: Client, tmp_path: Path
) -> None:
    async with running_service("roster", settings):
        await request(nc, "cmd.roster.register_unit", {"command_id": "u1", **CITY})
        first = await request(
            nc,
            "cmd.roster.enroll_member",
            {
                "command_id": "same",
                "full_name": "Lê Văn Nam",
                "role": "reporter",
                "unit_id": "city",
            },
        )
        again = await request(
            nc,
            "cmd.roster.enroll_member",
            {
                "command_id": "same",
                "full_name": "Lê Văn Nam",
                "role": "reporter",
                "unit_id": "city",
            },
        )
    assert again["replayed"] and again["event_ids"] == first["event_ids"]
    # A new store (the dedupe window long gone, the local database lost): the stream decides.
    fresh = settings.with_(data_dir=tmp_path / "fresh")
    async with running_service("roster", fresh):
        later = await request(
            nc,
            "cmd.roster.enroll_member",
            {
                "command_id": "same",
                "full_name": "Lê Văn Nam",
                "role": "reporter",
                "unit_id": "city",
            },
        )
    assert later["replayed"] and later["event_ids"] == first["event_ids"]
    info = await nc.jetstream().stream_info("ROSTER")
    assert info.state.messages == 2


async def test_delete_and_purge_refused_on_every_stream(settings: Settings, nc: Client) -> None:
    async with running_service("roster", settings):
        await request(nc, "cmd.roster.register_unit", {"command_id": "u1", **CITY})
    js = nc.jetstream()
    for spec in event_streams():
        info = await js.stream_info(spec.name)
        assert info.config.deny_delete and info.config.deny_purge
        for attempt in (js.purge_stream(spec.name), js.delete_msg(spec.name, 1)):
            try:
                await attempt
            except APIError as exc:
                assert exc.err_code in (10057, 10110), exc
            else:
                raise AssertionError(f"{spec.name}: delete/purge was allowed")


async def test_malformed_requests_get_validation_failed_and_write_nothing(
    settings: Settings, nc: Client
) -> None:
    async with running_service("roster", settings):
        for body in (
            b"{not json",
            b"\xff\xfe",
            b"[]",
            b'{"command_id": 5}',
            json.dumps({"command_id": "x", "kind": "city", "name": "A", "bogus": 1}).encode(),
        ):
            reply = await request(nc, "cmd.roster.register_unit", body)
            assert reply["ok"] is False and reply["code"] == "validation_failed", reply
        health = await request(nc, "health.roster", b"{}")
        assert health["healthy"]
    assert (await nc.jetstream().stream_info("ROSTER")).state.messages == 0
