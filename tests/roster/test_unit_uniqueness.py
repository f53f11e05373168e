"""Units cannot be registered twice under one name, nor share a code (issue #14), through a
real nats-server and the roster service."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from nats.aio.client import Client

from runtime.settings import Settings
from tests.roster.helpers import query, roster_running, send, stored


@pytest_asyncio.fixture
async def roster(settings: Settings, nc: Client) -> AsyncIterator[None]:
    async with roster_running(settings, nc):
        yield


async def register(nc: Client, name: str, command_id: str, **extra: Any) -> dict[str, Any]:
    return await send(
        nc, "register_unit", command_id=command_id, kind="party_cell", name=name, **extra
    )


def refused(reply: dict[str, Any], rule: str) -> None:
    assert reply["ok"] is False and reply["code"] == "already_exists", reply
    assert reply["rule"] == rule, reply


async def test_register_unit_twice_under_one_name_is_refused(roster: None, nc: Client) -> None:
    first = await register(nc, "Chi bộ Khu phố 1", "c1")
    assert first["ok"], first
    # A retry of the same command is the same registration, answered again.
    again = await register(nc, "Chi bộ Khu phố 1", "c1")
    assert again["ok"] and again["replayed"] and again["aggregate_id"] == first["aggregate_id"]
    before = await stored(nc)
    for n, name in enumerate(
        [
            "Chi bộ Khu phố 1",
            "  chi bộ  KHU phố 1 ",
            unicodedata.normalize("NFD", "Chi bộ Khu phố 1"),
        ]
    ):
        reply = await register(nc, name, f"c2-{n}")
        refused(reply, "UnitNameMustBeUnique")
        assert reply["context"]["unit_id"] == first["aggregate_id"], reply
    assert await stored(nc) == before
    units = await query(nc, "list_units")
    assert [u["name"] for u in units["data"]] == ["Chi bộ Khu phố 1"]


async def test_two_units_cannot_share_a_code(roster: None, nc: Client) -> None:
    # Same name, told apart by their codes: allowed (cells of two wards).
    assert (await register(nc, "Chi bộ Khu phố 1", "w1", external_code="P1-KP1"))["ok"]
    assert (await register(nc, "Chi bộ Khu phố 1", "w2", external_code="P2-KP1"))["ok"]
    # Without a code it could not be told from them.
    refused(await register(nc, "Chi bộ Khu phố 1", "w3"), "UnitNameMustBeUnique")
    reply = await register(nc, "Chi bộ Khu phố 9", "w4", external_code="p1-kp1")
    refused(reply, "UnitCodeMustBeUnique")


async def test_a_dissolved_units_name_is_free_its_code_is_not(roster: None, nc: Client) -> None:
    old = await register(
        nc, "Chi bộ cũ", "d1", external_code="OLD-1", unit_id="old", effective_on="2021-01-01"
    )
    assert old["ok"], old
    assert (await send(nc, "dissolve_unit", unit_id="old"))["ok"]
    assert (await register(nc, "Chi bộ cũ", "d2"))["ok"]
    refused(await register(nc, "Chi bộ khác", "d3", external_code="OLD-1"), "UnitCodeMustBeUnique")


async def test_a_rename_cannot_take_another_units_name(roster: None, nc: Client) -> None:
    assert (await register(nc, "Chi bộ A", "r1", unit_id="a"))["ok"]
    assert (await register(nc, "Chi bộ B", "r2", unit_id="b"))["ok"]
    refused(
        await send(nc, "rename_unit", unit_id="b", name="chi bộ a"),
        "UnitNameMustBeUnique",
    )
    assert (await send(nc, "rename_unit", unit_id="b", name="Chi bộ B mới"))["ok"]
