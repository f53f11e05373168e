"""Every roster rule through a real nats-server and the roster service (in process)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
import pytest_asyncio
from nats.aio.client import Client

from contracts.calendar import CENTER_TZ
from runtime.settings import Settings
from services.roster.adapters.codes import BUCKET, kv_key
from tests.roster.helpers import query, roster_running, send, setup_units, stored


def today() -> date:
    return datetime.now(CENTER_TZ).date()


@pytest_asyncio.fixture
async def roster(settings: Settings, nc: Client) -> AsyncIterator[None]:
    async with roster_running(settings, nc):
        await setup_units(nc)
        yield


def accepted(reply: dict, version: int | None = None) -> str:  # type: ignore[type-arg]
    assert reply["ok"], reply
    assert reply["aggregate_id"] and reply["event_ids"], reply
    if version is not None:
        assert reply["version"] == version, reply
    return str(reply["aggregate_id"])


def refused(reply: dict, code: str, rule: str | None = None) -> dict:  # type: ignore[type-arg]
    assert reply["ok"] is False and reply["code"] == code, reply
    if rule is not None:
        assert reply["rule"] == rule, reply
    return reply


async def enroll(nc: Client, name: str = "Nguyễn Thị Hoa", **extra: object) -> str:
    fields: dict[str, object] = {"full_name": name, "role": "propagandist", "unit_id": "cell1"}
    fields.update(extra)
    return accepted(await send(nc, "enroll_member", **fields), version=1)


async def test_every_command_replies_with_id_version_and_event_ids(
    roster: None, nc: Client
) -> None:
    hoa = await enroll(nc, external_code="TTV-001", effective_on="2022-11-03")
    accepted(
        await send(
            nc, "correct_member_details", member_id=hoa, full_name="Nguyễn Thị Hòa", contact="0901"
        ),
        2,
    )
    accepted(await send(nc, "change_member_code", member_id=hoa, external_code="TTV-100"), 3)
    accepted(await send(nc, "transfer_member", member_id=hoa, to_unit_id="city"), 4)
    accepted(await send(nc, "change_member_role", member_id=hoa, role="reporter"), 5)
    accepted(await send(nc, "set_member_core", member_id=hoa, core=True), 6)
    accepted(
        await send(
            nc,
            "retire_member",
            member_id=hoa,
            reason="chuyển công tác",
            effective_on=today().isoformat(),
        ),
        7,
    )
    accepted(await send(nc, "reenroll_member", member_id=hoa, role="reporter", unit_id="city"), 8)
    accepted(await send(nc, "rename_unit", unit_id="cell1", name="Chi bộ KP1"), 2)
    accepted(
        await send(
            nc,
            "register_unit",
            unit_id="cell2",
            kind="party_cell",
            name="Chi bộ 2",
            parent_id="city",
        ),
        1,
    )
    accepted(await send(nc, "dissolve_unit", unit_id="cell2", reason="sáp nhập"), 2)
    member = (await query(nc, "get_member", member_id=hoa))["data"]
    assert member["full_name"] == "Nguyễn Thị Hòa" and member["role"] == "reporter"
    assert member["external_code"] == "TTV-100" and member["core"]
    assert member["retired_on"] is None and member["retire_reason"] == ""
    assert member["version"] == 8 and member["enrolled_on"] == "2022-11-03"
    unit = (await query(nc, "get_unit", unit_id="cell2"))["data"]
    assert unit["dissolved_on"] == today().isoformat() and unit["dissolve_reason"] == "sáp nhập"
    # A change to the same value writes nothing and says so.
    same = await send(nc, "set_member_core", member_id=hoa, core=True)
    assert same["ok"] and same["unchanged"] and same["event_ids"] == [] and same["version"] == 8


async def test_list_members_of_a_unit_reads_the_projection(roster: None, nc: Client) -> None:
    a = await enroll(nc, "Trần Văn An")
    b = await enroll(nc, "Lê Thị Bình")
    await enroll(nc, "Phạm Minh Châu", role="reporter", unit_id="city")
    accepted(await send(nc, "retire_member", member_id=b))
    listed = (await query(nc, "list_members", unit_id="cell1"))["data"]
    assert [m["member_id"] for m in listed] == [a]
    with_retired = (await query(nc, "list_members", unit_id="cell1", include_retired=True))["data"]
    assert {m["member_id"] for m in with_retired} == {a, b}
    refused(await query(nc, "get_member", member_id="nobody"), "not_found", "MemberMustExist")
    refused(await query(nc, "get_unit", unit_id="nowhere"), "not_found", "UnitMustExist")


async def test_a_unit_must_exist_and_be_active_to_receive_a_member(
    roster: None, nc: Client
) -> None:
    refused(
        await send(nc, "enroll_member", full_name="A", role="propagandist", unit_id="ghost"),
        "not_found",
        "UnitMustExist",
    )
    accepted(await send(nc, "register_unit", unit_id="old", kind="party_cell", name="Cũ"))
    accepted(await send(nc, "dissolve_unit", unit_id="old"))
    before = await stored(nc)
    refused(
        await send(nc, "enroll_member", full_name="A", role="propagandist", unit_id="old"),
        "rule_violated",
        "UnitMustBeActive",
    )
    hoa = await enroll(nc)
    refused(
        await send(nc, "transfer_member", member_id=hoa, to_unit_id="old"),
        "rule_violated",
        "UnitMustBeActive",
    )
    assert await stored(nc) == before + 1  # only the good enrolment


async def test_dissolving_a_unit_with_active_members_is_refused_naming_them(
    roster: None, nc: Client
) -> None:
    hoa = await enroll(nc, "Nguyễn Thị Hoa")
    before = await stored(nc)
    reply = refused(
        await send(nc, "dissolve_unit", unit_id="cell1"),
        "rule_violated",
        "UnitWithActiveMembersCannotBeDissolved",
    )
    assert "Nguyễn Thị Hoa" in reply["message"] and reply["context"]["active_member_ids"] == [hoa]
    assert await stored(nc) == before
    # Retired members do not hold a unit open.
    accepted(await send(nc, "retire_member", member_id=hoa))
    accepted(await send(nc, "dissolve_unit", unit_id="cell1"))


async def test_dissolve_with_transfer_target_moves_members_then_dissolves_once(
    roster: None, nc: Client
) -> None:
    accepted(await send(nc, "register_unit", unit_id="cell2", kind="party_cell", name="Chi bộ 2"))
    ids = [await enroll(nc, f"Thành viên {i}", effective_on="2022-11-01") for i in range(3)]
    reply = accepted(
        await send(
            nc,
            "dissolve_unit",
            command_id="dissolve-1",
            unit_id="cell1",
            transfer_to_unit_id="cell2",
            effective_on="2022-11-30",
        )
    )
    assert reply == "cell1"
    moved = (await query(nc, "list_members", unit_id="cell2"))["data"]
    assert sorted(m["member_id"] for m in moved) == sorted(ids)
    assert (await query(nc, "get_unit", unit_id="cell1"))["data"]["dissolved_on"] == "2022-11-30"
    after = await stored(nc)
    again = await send(
        nc,
        "dissolve_unit",
        command_id="dissolve-1",
        unit_id="cell1",
        transfer_to_unit_id="cell2",
        effective_on="2022-11-30",
    )
    assert again["ok"] and again["replayed"]
    assert await stored(nc) == after


async def test_dissolve_transfer_refused_up_front_moves_nobody(
    settings: Settings, nc: Client
) -> None:
    async with roster_running(settings, nc):
        await setup_units(nc)
        reporter = await enroll(nc, "Võ Văn Dũng", role="reporter", unit_id="city")
        before = await stored(nc)
        refused(
            await send(nc, "dissolve_unit", unit_id="city", transfer_to_unit_id="cell1"),
            "rule_violated",
            "ReporterMustBelongToCityLevel",
        )
        assert await stored(nc) == before
        member = (await query(nc, "get_member", member_id=reporter))["data"]
        assert member["unit_id"] == "city"


async def test_external_code_is_unique_across_the_roster(roster: None, nc: Client) -> None:
    hoa = await enroll(nc, external_code="BCV-07")
    before = await stored(nc)
    reply = refused(
        await send(
            nc,
            "enroll_member",
            full_name="Người khác",
            role="propagandist",
            unit_id="cell1",
            external_code=" bcv-07 ",
        ),
        "already_exists",
        "ExternalCodeMustBeUnique",
    )
    assert reply["context"]["member_id"] == hoa
    other = await enroll(nc, "Người khác")
    refused(
        await send(nc, "change_member_code", member_id=other, external_code="BCV-07"),
        "already_exists",
        "ExternalCodeMustBeUnique",
    )
    assert await stored(nc) == before + 1
    # A retired member keeps their code.
    accepted(await send(nc, "retire_member", member_id=hoa))
    refused(
        await send(nc, "change_member_code", member_id=other, external_code="BCV-07"),
        "already_exists",
        "ExternalCodeMustBeUnique",
    )


async def test_concurrent_double_enrolment_with_one_code_lets_exactly_one_through(
    settings: Settings, nc: Client
) -> None:
    """Two service instances with separate stores, twenty racing clerks, one code."""
    other = settings.with_(data_dir=settings.data_dir.parent / "other")
    async with roster_running(settings, nc), roster_running(other, nc):
        await setup_units(nc)
        replies = await asyncio.gather(
            *(
                send(
                    nc,
                    "enroll_member",
                    full_name=f"Người {i}",
                    role="propagandist",
                    unit_id="cell1",
                    external_code="TTV-RACE",
                )
                for i in range(20)
            )
        )
        winners = [r for r in replies if r["ok"]]
        assert len(winners) == 1, replies
        assert all(r["rule"] == "ExternalCodeMustBeUnique" for r in replies if not r["ok"])
        found = (await query(nc, "find_members", external_code="TTV-RACE"))["data"]
        assert [m["member_id"] for m in found] == [winners[0]["aggregate_id"]]


async def test_a_changed_code_is_released_and_a_stale_reservation_is_reclaimed(
    roster: None, nc: Client
) -> None:
    hoa = await enroll(nc, external_code="OLD-1")
    accepted(await send(nc, "change_member_code", member_id=hoa, external_code="NEW-1"))
    await enroll(nc, "Lấy lại mã cũ", external_code="OLD-1")  # released at once
    kv = await nc.jetstream().key_value(BUCKET)
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    now = datetime.now(UTC).isoformat()
    # A reservation whose member never got enrolled (a crash before the append): fresh, it
    # blocks (an enrolment may be in flight); after the grace period it is reclaimed.
    await kv.put(
        kv_key("GHOST-1"),
        json.dumps({"member_id": "ghost", "code": "GHOST-1", "reserved_at": now}).encode(),
    )
    refused(
        await send(
            nc,
            "enroll_member",
            full_name="A",
            role="propagandist",
            unit_id="cell1",
            external_code="GHOST-1",
        ),
        "already_exists",
        "ExternalCodeMustBeUnique",
    )
    await kv.put(
        kv_key("GHOST-1"),
        json.dumps({"member_id": "ghost", "code": "GHOST-1", "reserved_at": hour_ago}).encode(),
    )
    taker = await enroll(nc, "B", external_code="GHOST-1")
    assert json.loads((await kv.get(kv_key("GHOST-1"))).value)["member_id"] == taker
    # A release that never happened (the member moved on to another code): reclaimed too.
    await kv.put(
        kv_key("NEW-1"),
        json.dumps({"member_id": hoa, "code": "NEW-1", "reserved_at": hour_ago}).encode(),
    )
    refused(
        await send(
            nc,
            "enroll_member",
            full_name="C",
            role="propagandist",
            unit_id="cell1",
            external_code="NEW-1",
        ),
        "already_exists",
        "ExternalCodeMustBeUnique",
    )
    accepted(await send(nc, "change_member_code", member_id=hoa, external_code="NEW-2"))
    await kv.put(
        kv_key("NEW-1"),
        json.dumps({"member_id": hoa, "code": "NEW-1", "reserved_at": hour_ago}).encode(),
    )
    await enroll(nc, "D", external_code="NEW-1")


async def test_a_retired_member_changes_only_through_reenrolment(roster: None, nc: Client) -> None:
    hoa = await enroll(nc, effective_on="2022-10-01")
    accepted(
        await send(nc, "retire_member", member_id=hoa, reason="nghỉ hưu", effective_on="2022-11-01")
    )
    before = await stored(nc)
    for command, fields in [
        ("set_member_core", {"core": True}),
        ("transfer_member", {"to_unit_id": "city"}),
        ("change_member_role", {"role": "reporter"}),
        ("correct_member_details", {"full_name": "X"}),
        ("change_member_code", {"external_code": "X"}),
        ("retire_member", {}),
    ]:
        refused(
            await send(nc, command, member_id=hoa, **fields),
            "rule_violated",
            "RetiredMemberCannotBeChanged",
        )
    assert await stored(nc) == before
    accepted(await send(nc, "reenroll_member", member_id=hoa, role="propagandist", unit_id="cell1"))
    accepted(await send(nc, "set_member_core", member_id=hoa, core=True))
    refused(
        await send(nc, "reenroll_member", member_id=hoa, role="propagandist", unit_id="cell1"),
        "rule_violated",
        "MemberMustBeRetiredToReenrol",
    )


async def test_reporters_belong_to_the_city_level(roster: None, nc: Client) -> None:
    before = await stored(nc)
    refused(
        await send(nc, "enroll_member", full_name="A", role="reporter", unit_id="cell1"),
        "rule_violated",
        "ReporterMustBelongToCityLevel",
    )
    hoa = await enroll(nc)
    refused(
        await send(nc, "change_member_role", member_id=hoa, role="reporter"),
        "rule_violated",
        "ReporterMustBelongToCityLevel",
    )
    assert await stored(nc) == before + 1
    accepted(await send(nc, "transfer_member", member_id=hoa, to_unit_id="city"))
    accepted(await send(nc, "change_member_role", member_id=hoa, role="reporter"))
    refused(
        await send(nc, "transfer_member", member_id=hoa, to_unit_id="cell1"),
        "rule_violated",
        "ReporterMustBelongToCityLevel",
    )


async def test_the_centers_configuration_may_let_reporters_sit_in_units(
    settings: Settings, nc: Client
) -> None:
    async with roster_running(settings.with_(reporters_at_city_level_only=False), nc):
        await setup_units(nc)
        await enroll(nc, role="reporter", unit_id="cell1")


async def test_a_name_is_required_and_trimmed(roster: None, nc: Client) -> None:
    before = await stored(nc)
    for name in ("", "   "):
        reply = refused(
            await send(nc, "enroll_member", full_name=name, role="propagandist", unit_id="cell1"),
            "validation_failed",
        )
        assert reply["details"][0]["field"] == "full_name"
        refused(await send(nc, "register_unit", kind="party_cell", name=name), "validation_failed")
    assert await stored(nc) == before
    hoa = await enroll(nc, "   Nguyễn   Thị Hoa  ")
    assert (await query(nc, "get_member", member_id=hoa))["data"]["full_name"] == "Nguyễn Thị Hoa"


async def test_dates_may_be_past_but_not_future(roster: None, nc: Client) -> None:
    tomorrow = (today() + timedelta(days=1)).isoformat()
    before = await stored(nc)
    refused(
        await send(
            nc,
            "enroll_member",
            full_name="A",
            role="propagandist",
            unit_id="cell1",
            effective_on=tomorrow,
        ),
        "rule_violated",
        "DateMustNotBeInTheFuture",
    )
    refused(
        await send(nc, "register_unit", kind="party_cell", name="B", effective_on=tomorrow),
        "rule_violated",
        "DateMustNotBeInTheFuture",
    )
    in_two_days = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    refused(
        await send(
            nc,
            "enroll_member",
            full_name="A",
            role="propagandist",
            unit_id="cell1",
            occurred_at=in_two_days,
        ),
        "rule_violated",
        "DateMustNotBeInTheFuture",
    )
    assert await stored(nc) == before
    # Last month's change entered today: stored with the day it took effect.
    hoa = await enroll(nc, effective_on="2022-11-03")
    refused(
        await send(nc, "retire_member", member_id=hoa, effective_on=tomorrow),
        "rule_violated",
        "DateMustNotBeInTheFuture",
    )
    refused(
        await send(nc, "retire_member", member_id=hoa, effective_on="2022-10-01"),
        "rule_violated",
        "ChangeMustNotPrecedeEnrolment",
    )
    reply = accepted(await send(nc, "retire_member", member_id=hoa, effective_on="2022-11-20"))
    js = nc.jetstream()
    last = await js.get_last_msg("ROSTER", f"ev.roster.member.{reply}")
    envelope = json.loads(last.data)
    assert envelope["type"] == "MemberRetired"
    assert envelope["payload"]["effective_on"] == "2022-11-20"
    assert envelope["occurred_at"] == "2022-11-19T17:00:00.000000Z"  # local midnight, UTC+7


@pytest.mark.parametrize(
    "body, field",
    [
        (b'{"command_id": "a", "role": "propagandist", "unit_id": "cell1"}', "full_name"),
        (b'{"command_id": "a", "full_name": "A", "role": 7, "unit_id": "cell1"}', "role"),
        (
            b'{"command_id": "a", "full_name": "A", "role": "propagandist", "unit_id": "cell1",'
            b' "nickname": "x"}',
            "nickname",
        ),
        (
            b'{"command_id": "a", "full_name": "A", "role": "propagandist", "unit_id": "cell 1"}',
            "unit_id",
        ),
        (
            b'{"command_id": "a", "full_name": "A", "role": "propagandist", "unit_id": "c",'
            b' "effective_on": "03/11/2022x"}',
            "effective_on",
        ),
        (
            b'{"command_id": "a", "full_name": "A", "role": "propagandist", "unit_id": "c",'
            b' "core": "maybe"}',
            "core",
        ),
        (b"{not json", ""),
    ],
)
async def test_malformed_commands_get_field_details_and_write_nothing(
    roster: None, nc: Client, body: bytes, field: str
) -> None:
    from tests.support import request

    before = await stored(nc)
    reply = await request(nc, "cmd.roster.enroll_member", body)
    refused(reply, "validation_failed")
    if field:
        assert field in [d["field"] for d in reply["details"]], reply
    assert await stored(nc) == before
    assert (await request(nc, "health.roster", b"{}"))["healthy"]


async def test_lost_reservations_are_restored_from_the_stream_at_start(
    settings: Settings, nc: Client
) -> None:
    async with roster_running(settings, nc):
        await setup_units(nc)
        await enroll(nc, external_code="KEEP-1")
    await nc.jetstream().delete_key_value(BUCKET)
    fresh = settings.with_(data_dir=settings.data_dir.parent / "fresh")
    async with roster_running(fresh, nc):
        refused(
            await send(
                nc,
                "enroll_member",
                full_name="B",
                role="propagandist",
                unit_id="cell1",
                external_code="KEEP-1",
            ),
            "already_exists",
            "ExternalCodeMustBeUnique",
        )


async def test_a_dissolve_retried_after_a_partial_transfer_finishes_without_duplicates(
    roster: None, nc: Client
) -> None:
    from contracts.calendar import derived_id

    accepted(await send(nc, "register_unit", unit_id="cell2", kind="party_cell", name="Chi bộ 2"))
    first = await enroll(nc, "Thành viên 1", effective_on="2022-11-01")
    second = await enroll(nc, "Thành viên 2", effective_on="2022-11-01")
    # The first attempt moved one member, then died before the rest.
    accepted(
        await send(
            nc,
            "transfer_member",
            command_id=derived_id("dissolve-9", f"dissolve-transfer:{first}"),
            member_id=first,
            to_unit_id="cell2",
            effective_on="2022-11-30",
        )
    )
    before = await stored(nc)
    accepted(
        await send(
            nc,
            "dissolve_unit",
            command_id="dissolve-9",
            unit_id="cell1",
            transfer_to_unit_id="cell2",
            effective_on="2022-11-30",
        )
    )
    assert await stored(nc) == before + 2  # the second member's transfer and the dissolution
    moved = (await query(nc, "list_members", unit_id="cell2"))["data"]
    assert sorted(m["member_id"] for m in moved) == sorted([first, second])
    assert all(m["version"] == 2 for m in moved)


async def test_the_roster_projection_on_sqlite_and_postgresql(
    settings: Settings, nc: Client, database_url: str
) -> None:
    async with roster_running(settings.with_(database_url=database_url), nc):
        await setup_units(nc)
        hoa = await enroll(nc, external_code="PG-1")
        accepted(await send(nc, "set_member_core", member_id=hoa, core=True))
        member = (await query(nc, "get_member", member_id=hoa))["data"]
        assert member["core"] and member["version"] == 2
        listed = (await query(nc, "list_members", unit_id="cell1"))["data"]
        assert [m["member_id"] for m in listed] == [hoa]
        found = (await query(nc, "find_members", full_name="nguyễn thị hoa"))["data"]
        assert [m["member_id"] for m in found] == [hoa]
        units = (await query(nc, "list_units"))["data"]
        assert {u["unit_id"]: u["version"] for u in units} == {"city": 1, "cell1": 1}
