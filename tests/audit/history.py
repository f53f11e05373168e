"""Small real histories for the audit tests, written by sending commands to real services,
and the tampering an attacker could do to an export file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from contracts.canonical import canonical_json
from tests.support import request

CITY = {"kind": "city", "name": "Cấp thành phố", "unit_id": "city"}


async def roster_history(nc: Client, members: int = 4) -> None:
    """A unit renamed twice and ``members`` members, some corrected: chains of 1 to 3 events."""

    async def ok(subject: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = await request(nc, subject, body)
        assert reply["ok"], reply
        return reply

    await ok("cmd.roster.register_unit", {"command_id": "u1", **CITY})
    await ok(
        "cmd.roster.rename_unit",
        {"command_id": "u2", "unit_id": "city", "name": "Thành phố Hồ Chí Minh"},
    )
    for i in range(members):
        await ok(
            "cmd.roster.enroll_member",
            {
                "command_id": f"m{i}",
                "member_id": f"m{i}",
                "full_name": f"Nguyễn Văn {i}",
                "role": "reporter",
                "unit_id": "city",
                "effective_on": "2022-01-10",
            },
        )
        if i % 2 == 0:
            await ok(
                "cmd.roster.correct_member_details",
                {"command_id": f"c{i}", "member_id": f"m{i}", "full_name": f"Nguyễn Văn Số {i}"},
            )
    await ok(
        "cmd.roster.rename_unit",
        {"command_id": "u3", "unit_id": "city", "name": "Cấp thành phố (TP.HCM)"},
    )


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines() if line]


def write_lines(path: Path, objects: list[dict[str, Any]], reseal: bool = False) -> None:
    """Write records back; ``reseal`` recomputes the manifest as a careful forger would."""
    records = [o for o in objects if "manifest" not in o]
    manifests = [o for o in objects if "manifest" in o]
    lines = [canonical_json(o) for o in records]
    if reseal and manifests:
        manifest = dict(manifests[0]["manifest"])
        digest = hashlib.sha256()
        for line in lines:
            digest.update(line + b"\n")
        manifest["digest"] = digest.hexdigest()
        manifest["events"] = len(records)
        streams = {}
        for name in manifest["streams"]:
            mine = [o for o in records if o["stream"] == name]
            streams[name] = {
                "events": len(mine),
                "first_seq": mine[0]["seq"] if mine else 0,
                "last_seq": mine[-1]["seq"] if mine else 0,
            }
        manifest["streams"] = streams
        manifests = [{"manifest": manifest}]
    lines += [canonical_json(m) for m in manifests]
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def index_of(objects: list[dict[str, Any]], aggregate_id: str, version: int) -> int:
    for i, obj in enumerate(objects):
        env = obj.get("envelope") or {}
        if env.get("aggregate_id") == aggregate_id and env.get("aggregate_version") == version:
            return i
    raise LookupError(f"{aggregate_id} v{version}")


def run_cli(
    nats_url: str,
    *args: str,
    user: str | None = None,
    password: str | None = None,
    cwd: Path | None = None,
) -> Any:
    """``briefings audit ...`` as a real child process (as an auditor would run it)."""
    import os
    import subprocess
    import sys

    from tests.support import ROOT

    env = {**os.environ, "BRIEFINGS_NATS_URL": nats_url}
    for key in ("BRIEFINGS_NATS_USER", "BRIEFINGS_NATS_PASSWORD", "BRIEFINGS_NATS_CREDS"):
        env.pop(key, None)
    if user:
        env["BRIEFINGS_NATS_USER"] = user
        env["BRIEFINGS_NATS_PASSWORD"] = password or ""
    return subprocess.run(
        [sys.executable, "-m", "briefings", "audit", *args],
        env=env,
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _ok(nc: Client, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await request(nc, subject, body, timeout=20)
    assert reply["ok"], (subject, body, reply)
    return reply


async def year_2022(nc: Client) -> None:
    """A small 2022: two units, five members, three held conferences and one cancelled,
    attendances, guests, awards."""
    await _ok(
        nc,
        "cmd.roster.register_unit",
        {"command_id": "u-city", **CITY, "effective_on": "2022-01-01"},
    )
    await _ok(
        nc,
        "cmd.roster.register_unit",
        {
            "command_id": "u-cb1",
            "unit_id": "cb1",
            "kind": "party_cell",
            "name": "Chi bộ Kho bạc Nhà nước thành phố",
            "effective_on": "2022-01-01",
        },
    )
    members = {
        "r1": ("reporter", "city"),
        "r2": ("reporter", "city"),
        "p1": ("propagandist", "cb1"),
        "p2": ("propagandist", "cb1"),
        "p3": ("propagandist", "cb1"),
    }
    for mid, (role, unit) in members.items():
        await _ok(
            nc,
            "cmd.roster.enroll_member",
            {
                "command_id": f"enrol-{mid}",
                "member_id": mid,
                "full_name": f"Trần Thị {mid}",
                "role": role,
                "unit_id": unit,
                "effective_on": "2022-01-10",
            },
        )
    await _ok(
        nc,
        "cmd.roster.retire_member",
        {"command_id": "retire-r2", "member_id": "r2", "effective_on": "2022-07-01"},
    )
    plan = {
        "c1": ("2022-03-15", ["information"]),
        "c2": ("2022-06-15", ["thematic"]),
        "c3": ("2022-11-15", ["information"]),
        "c4": ("2022-10-15", ["information"]),
    }
    for cid, (day, kinds) in plan.items():
        await _ok(
            nc,
            "cmd.events.schedule_conference",
            {
                "command_id": f"sched-{cid}",
                "conference_id": cid,
                "kinds": kinds,
                "title": f"Hội nghị {cid}",
                "planned_on": day,
            },
        )
    for cid in ("c1", "c2", "c3"):
        await _ok(
            nc,
            "cmd.events.hold_conference",
            {"command_id": f"hold-{cid}", "conference_id": cid, "held_on": plan[cid][0]},
        )
    await _ok(
        nc, "cmd.events.cancel_conference", {"command_id": "cancel-c4", "conference_id": "c4"}
    )
    present = {"c1": ["r1", "r2", "p1", "p2"], "c2": ["r1", "p1", "p2", "p3"], "c3": ["r1", "p1"]}
    for cid, mids in present.items():
        for mid in mids:
            await _ok(
                nc,
                "cmd.events.record_attendance",
                {
                    "command_id": f"att-{cid}-{mid}",
                    "conference_id": cid,
                    "member_id": mid,
                    "actor": "clerk-lan",
                    "correlation_id": f"sheet-{cid}",
                },
            )
    await _ok(
        nc,
        "cmd.events.record_guest_attendance",
        {
            "command_id": "guests-c2",
            "conference_id": "c2",
            "category": "ward_propaganda",
            "headcount": 7,
        },
    )
    await _ok(
        nc,
        "cmd.awards.grant_award",
        {
            "command_id": "award-cb1",
            "recipient_type": "collective",
            "recipient_id": "cb1",
            "title": "Tập thể tuyên truyền viên nòng cốt",
            "period": "2022",
            "decision_number": "12/QĐ-TTCT",
            "decision_date": "2022-12-09",
        },
    )
    await _ok(
        nc,
        "cmd.awards.grant_award",
        {
            "command_id": "award-p1",
            "recipient_type": "individual",
            "recipient_id": "p1",
            "title": "Cá nhân tuyên truyền viên nòng cốt",
            "period": "2022",
            "decision_number": "13/QĐ-TTCT",
            "decision_date": "2022-12-09",
        },
    )


async def january_corrections(nc: Client) -> None:
    """Entered later: one attendance withdrawn, one late sheet, one more guest count."""
    await _ok(
        nc,
        "cmd.events.correct_attendance",
        {
            "command_id": "fix-c1-p2",
            "conference_id": "c1",
            "member_id": "p2",
            "attended": False,
            "reason": "ký nhầm",
            "actor": "clerk-hoa",
            "occurred_at": "2023-01-10T02:00:00Z",
        },
    )
    await _ok(
        nc,
        "cmd.events.record_attendance",
        {
            "command_id": "late-c3-p3",
            "conference_id": "c3",
            "member_id": "p3",
            "actor": "clerk-hoa",
            "correlation_id": "late-sheet-c3",
        },
    )
    await _ok(
        nc,
        "cmd.events.record_guest_attendance",
        {
            "command_id": "guests-c3",
            "conference_id": "c3",
            "category": "board_leaders",
            "headcount": 3,
            "occurred_at": "2023-01-12T02:00:00Z",
        },
    )
