"""Nothing fails after the append for a reason that could be checked before (issue #14), on
SQLite and PostgreSQL, through the real roster and events services: a value the contract
accepts fits every column it reaches; a value no column can hold (NUL), a date outside the
business range and a body with duplicate keys are refused with ``validation_failed`` and a
named rule, and nothing is stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from nats.aio.client import Client

from runtime.settings import Settings
from tests.roster.helpers import query, send, setup_units, stored
from tests.support import request, running_service


@pytest_asyncio.fixture
async def services(settings: Settings, nc: Client, database_url: str) -> AsyncIterator[None]:
    s = settings.with_(database_url=database_url)
    async with running_service("roster", s), running_service("events", s):
        await setup_units(nc)
        yield


def refused(reply: dict[str, Any], rule: str) -> None:
    assert reply["ok"] is False and reply["code"] == "validation_failed", reply
    assert reply["rule"] == rule, reply


async def enroll(nc: Client, command_id: str, **fields: Any) -> dict[str, Any]:
    body = {"full_name": "Nguyễn Thị Hoa", "role": "propagandist", "unit_id": "cell1", **fields}
    return await send(nc, "enroll_member", command_id=command_id, **body)


@pytest.mark.parametrize(
    "fields",
    [
        {"effective_on": "0202-05-01"},
        {"effective_on": "0001-01-01"},
        {"effective_on": "9999-12-31"},
        {"occurred_at": "0001-01-01T00:00:00+07:00"},
    ],
)
async def test_dates_outside_the_business_range_are_refused_before_the_append(
    services: None, nc: Client, fields: dict[str, Any]
) -> None:
    before = await stored(nc)
    refused(await enroll(nc, "typo", **fields), "date.out_of_range")
    assert await stored(nc) == before
    # The same command id, corrected, is a new command: nothing was recorded under it.
    reply = await enroll(nc, "typo", effective_on="2022-05-01")
    assert reply["ok"] and not reply.get("replayed"), reply


async def test_every_value_the_contract_accepts_fits_its_columns(
    services: None, nc: Client
) -> None:
    # 200 "ß" case-fold to 400 characters (the name key); 2,000 quotes escape to 4,000 (the
    # state as JSON): both once failed on PostgreSQL after the event was stored.
    long_name = "ß" * 200
    quotes = '"' * 2000
    unit = {"unit_id": "ward", "kind": "party_cell", "name": "Chi bộ", "effective_on": "2021-01-01"}
    assert (await send(nc, "register_unit", **unit))["ok"]
    reply = await enroll(
        nc,
        "long",
        member_id="long",
        full_name=long_name,
        contact=quotes,
        unit_id="ward",
        effective_on="2022-01-01",
    )
    assert reply["ok"], reply
    member = await query(nc, "get_member", member_id="long")
    assert member["ok"], member
    assert member["data"]["full_name"] == long_name and member["data"]["contact"] == quotes
    found = await query(nc, "find_members", full_name="ß" * 200)
    assert [m["member_id"] for m in found["data"]] == ["long"], found
    # The events service's roster lookup took the member too: attendance is recorded.
    conference = {
        "command_id": "sched",
        "conference_id": "c1",
        "kinds": ["information"],
        "title": "Hội nghị thông tin thời sự",
        "planned_on": "2022-06-01",
    }
    for subject, body in (
        ("cmd.events.schedule_conference", conference),
        (
            "cmd.events.hold_conference",
            {"command_id": "hold", "conference_id": "c1", "held_on": "2022-06-01"},
        ),
        (
            "cmd.events.record_attendance",
            {"command_id": "att", "conference_id": "c1", "member_id": "long"},
        ),
    ):
        reply = await request(nc, subject, body, timeout=60)
        assert reply["ok"], reply


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"full_name": "Nguyễn\x00Hoa"}, "text.control_character"),
        ({"contact": "0901\x00"}, "text.control_character"),
        ({"external_code": "TTV\x00001"}, "text.control_character"),
        ({"full_name": "Hoa \u202egnp.exe"}, "text.bidi_control"),
        ({"full_name": "\u200b\u200b"}, "text.nothing_visible"),
        ({"contact": '=HYPERLINK("http://x")'}, "text.formula"),
    ],
)
async def test_text_no_column_or_reader_should_take_is_refused_before_the_append(
    services: None, nc: Client, fields: dict[str, Any], rule: str
) -> None:
    before = await stored(nc)
    reply = await enroll(nc, "bad-text", **fields)
    refused(reply, rule)
    assert any(d["type"] == rule for d in reply["details"]), reply
    assert await stored(nc) == before


async def test_a_command_id_with_nul_is_refused_before_the_append(
    services: None, nc: Client
) -> None:
    before = await stored(nc)
    refused(await enroll(nc, "id\x00"), "text.control_character")
    assert await stored(nc) == before


async def test_duplicate_json_keys_are_refused(services: None, nc: Client) -> None:
    before = await stored(nc)
    body = (
        b'{"command_id": "dup", "full_name": "Nguy\xe1\xbb\x85n Th\xe1\xbb\x8b Hoa",'
        b' "role": "reporter", "unit_id": "cell1", "unit_id": "city"}'
    )
    reply = await request(nc, "cmd.roster.enroll_member", body, timeout=20)
    refused(reply, "json.duplicate_key")
    assert "unit_id" in reply["message"]
    assert await stored(nc) == before
    nested = json.dumps({"command_id": "ok"}).encode()[:-1] + b', "x": {"a": 1, "a": 2}}'
    refused(await request(nc, "cmd.roster.rename_unit", nested, timeout=20), "json.duplicate_key")


OLD_LAYOUT = """
CREATE TABLE roster_members (
    member_id VARCHAR(64) PRIMARY KEY, full_name VARCHAR(200) NOT NULL,
    name_key VARCHAR(200) NOT NULL, role VARCHAR(32) NOT NULL, unit_id VARCHAR(64) NOT NULL,
    external_code VARCHAR(64), core BOOLEAN NOT NULL, active BOOLEAN NOT NULL,
    state VARCHAR(4000) NOT NULL
)
"""


async def test_tables_an_older_release_made_narrower_are_widened_on_start(
    settings: Settings, nc: Client, database_url: str
) -> None:
    """A database created before the columns were widened: the service widens them."""
    from sqlalchemy import text

    from runtime.sql import make_engine

    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(OLD_LAYOUT))
    engine.dispose()
    async with running_service("roster", settings.with_(database_url=database_url)):
        await setup_units(nc)
        reply = await enroll(nc, "wide", full_name="ß" * 200, contact='"' * 2000)
        assert reply["ok"], reply
        member = await query(nc, "get_member", member_id=reply["aggregate_id"])
        assert member["ok"] and member["data"]["full_name"] == "ß" * 200, member
