"""The chain is over the stored bytes (issue #14): events written by an older or a foreign
writer — not in canonical form, without a field added later, with an unpadded year — are
read by the service, which links its next append to their bytes exactly as stored; verify
names each such event at itself and finds the next link intact. Verify also checks every
envelope and payload against its schema."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from nats.aio.client import Client

from briefings.audit.export import export_live
from briefings.audit.verify import verify_export, verify_live
from contracts.canonical import GENESIS_HASH, canonical_json, sha256_hex
from runtime.settings import Settings
from tests.audit.history import read_lines, run_cli
from tests.support import request, running_service


@pytest_asyncio.fixture
async def roster(settings: Settings, nc: Client) -> AsyncIterator[None]:
    async with running_service("roster", settings):
        yield


def unit_event(unit_id: str, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "actor": "old-writer",
        "aggregate_id": unit_id,
        "aggregate_type": "unit",
        "aggregate_version": 1,
        "causation_id": f"reg-{unit_id}",
        "command_id": f"reg-{unit_id}",
        "correlation_id": f"reg-{unit_id}",
        "event_id": "6f1c2a4e-0d5b-4c43-9a51-3d3f0c8e2b10",
        "occurred_at": "2021-12-31T17:00:00.000000Z",
        "payload": {
            "effective_on": "2022-01-01",
            "external_code": None,
            "kind": "city",
            "name": "Cấp thành phố",
            "parent_id": None,
            "unit_id": unit_id,
        },
        "prev_hash": GENESIS_HASH,
        "recorded_at": "2022-01-03T02:15:07.120000Z",
        "schema_version": 1,
        "type": "UnitRegistered",
    }
    event.update(changes)
    return event


async def publish(nc: Client, subject: str, data: bytes) -> int:
    ack = await nc.jetstream().publish(subject, data, stream="ROSTER")
    return int(ack.seq)


async def ok(nc: Client, command: str, **body: Any) -> dict[str, Any]:
    body.setdefault("command_id", f"{command}-{len(str(body))}-{sorted(body)}")
    reply = await request(nc, f"cmd.roster.{command}", body, timeout=20)
    assert reply["ok"], reply
    return reply


async def stored(nc: Client, seq: int) -> bytes:
    return bytes((await nc.jetstream().get_msg("ROSTER", seq)).data)


async def test_a_non_canonical_event_is_named_at_itself_and_the_next_link_holds(
    roster: None, nc: Client, tmp_path: Path
) -> None:
    # Valid for the schema, but not the services' text: spaces, an upper-case event id, a
    # timestamp without microseconds, another with an offset, no command_id.
    event = unit_event(
        "old",
        event_id="6F1C2A4E-0D5B-4C43-9A51-3D3F0C8E2B10",
        occurred_at="2021-12-31T17:00:00Z",
        recorded_at="2022-01-03T09:15:07.120000+07:00",
    )
    del event["command_id"]
    data = json.dumps(event, ensure_ascii=False).encode()
    first = await publish(nc, "ev.roster.unit.old", data)
    reply = await ok(nc, "rename_unit", unit_id="old", name="Thành phố")
    assert reply["version"] == 2
    second = json.loads(await stored(nc, first + 1))
    assert second["prev_hash"] == sha256_hex(data)  # the bytes as stored, not a re-encoding

    report = await verify_live(nc)
    found = {(b.kind, b.seq) for b in report.breaks}
    assert found == {("not_canonical", first)}, report.breaks
    named = " ".join(f"{b.detail} {b.found}" for b in report.breaks)
    assert "event_id" in named and "occurred_at" in named and "recorded_at" in named
    # An export keeps the stored bytes, so verifying the file finds the same, and only that.
    path = tmp_path / "h.jsonl"
    with path.open("wb") as out:
        await export_live(nc, out)
    line = next(o for o in read_lines(path)[:-1] if o["seq"] == first)
    assert "data_b64" in line
    assert {(b.kind, b.seq) for b in verify_export(path).breaks} == found


async def test_an_envelope_field_added_later_changes_no_existing_hash(
    roster: None, nc: Client
) -> None:
    """An event written before ``command_id`` existed; the service appends after it."""
    event = unit_event("legacy")
    del event["command_id"]
    first = await publish(nc, "ev.roster.unit.legacy", canonical_json(event))
    await ok(nc, "rename_unit", unit_id="legacy", name="Thành phố mới")
    await ok(nc, "rename_unit", unit_id="legacy", name="Thành phố mới hơn")
    report = await verify_live(nc)
    assert report.ok, report.breaks
    assert report.events == first + 2


async def test_an_unpadded_year_stored_long_ago_is_read_and_named(
    roster: None, nc: Client, nats_server: Any
) -> None:
    """What ``strftime("%Y")`` wrote for ``--effective-on 0202-05-01`` before the fix."""
    await ok(nc, "register_unit", unit_id="city", kind="city", name="Cấp thành phố")
    member = {
        **unit_event("m202"),
        "aggregate_type": "member",
        "type": "MemberEnrolled",
        "event_id": "0b8e7d1a-5f3c-4b6e-8e2d-7a9c1f4d3e21",
        "occurred_at": "202-04-30T17:00:00.000000Z",
        "payload": {
            "contact": None,
            "core": False,
            "effective_on": "0202-05-01",
            "external_code": None,
            "full_name": "Trần Văn Năm",
            "member_id": "m202",
            "role": "reporter",
            "unit_id": "city",
        },
    }
    seq = await publish(nc, "ev.roster.member.m202", canonical_json(member))
    # A later command on that member works: the service reads what was stored.
    reply = await ok(
        nc,
        "correct_member_details",
        member_id="m202",
        full_name="Trần Văn Năm",
        contact="0901",
        effective_on="2022-05-01",
    )
    assert reply["version"] == 2
    got = await request(nc, "qry.roster.get_member", {"member_id": "m202"})
    assert got["ok"] and got["data"]["contact"] == "0901", got
    report = await verify_live(nc)
    assert [(b.kind, b.seq, b.found) for b in report.breaks] == [
        ("not_canonical", seq, "202-04-30T17:00:00.000000Z")
    ]
    assert "occurred_at" in report.breaks[0].detail
    done = run_cli(nats_server.url, "verify")
    assert done.returncode == 1
    assert "not_canonical" in done.stdout and "202-04-30T17:00:00.000000Z" in done.stdout


async def test_verify_checks_each_envelope_and_payload_against_its_schema(
    roster: None, nc: Client
) -> None:
    as_text = await publish(
        nc, "ev.roster.unit.v1", canonical_json(unit_event("v1", aggregate_version="1"))
    )
    bad = unit_event("v2")
    bad["payload"] = {**bad["payload"], "kind": "planet", "effective_on": 20220101}
    bad_payload = await publish(nc, "ev.roster.unit.v2", canonical_json(bad))
    unknown = await publish(
        nc, "ev.roster.unit.v3", canonical_json(unit_event("v3", type="UnitLaunched"))
    )
    report = await verify_live(nc)
    kinds = {(b.kind, b.seq) for b in report.breaks}
    assert ("invalid_envelope", as_text) in kinds
    assert ("invalid_payload", bad_payload) in kinds
    assert ("invalid_payload", unknown) in kinds
    detail = next(b.detail for b in report.breaks if b.seq == bad_payload)
    assert "kind" in detail and "effective_on" in detail
