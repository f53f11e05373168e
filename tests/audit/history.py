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
    await ok("cmd.roster.rename_unit", {"command_id": "u2", "unit_id": "city",
                                        "name": "Thành phố Hồ Chí Minh"})
    for i in range(members):
        await ok("cmd.roster.enroll_member", {
            "command_id": f"m{i}", "member_id": f"m{i}", "full_name": f"Nguyễn Văn {i}",
            "role": "reporter", "unit_id": "city", "effective_on": "2022-01-10"})
        if i % 2 == 0:
            await ok("cmd.roster.correct_member_details", {
                "command_id": f"c{i}", "member_id": f"m{i}", "full_name": f"Nguyễn Văn Số {i}"})
    await ok("cmd.roster.rename_unit", {"command_id": "u3", "unit_id": "city",
                                        "name": "Cấp thành phố (TP.HCM)"})


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
            streams[name] = {"events": len(mine), "first_seq": mine[0]["seq"] if mine else 0,
                             "last_seq": mine[-1]["seq"] if mine else 0}
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


def run_cli(nats_url: str, *args: str, user: str | None = None, password: str | None = None,
            cwd: Path | None = None) -> Any:
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
    return subprocess.run([sys.executable, "-m", "briefings", "audit", *args], env=env,
                          cwd=cwd or ROOT, capture_output=True, text=True, timeout=120)
