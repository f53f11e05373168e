"""Crash safety with real processes: a command service dies after its append, nats-server
stops and restarts under a stream of commands, a service starts while NATS is down."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeoutError

from runtime.nats_server import NatsServer, free_port
from runtime.settings import Settings
from tests.reliability.conftest import Report
from tests.reliability.helpers import FaultyService, events_by_command, stream_envelopes, wait_until
from tests.support import ROOT, connect, request, settings_for, wait_healthy

CITY = {"kind": "city", "name": "Cấp thành phố", "unit_id": "city"}


def enroll(command_id: str, name: str) -> dict[str, Any]:
    return {
        "command_id": command_id,
        "full_name": name,
        "role": "reporter",
        "unit_id": "city",
        "effective_on": "2022-01-10",
    }


async def test_command_service_killed_after_append_replays_the_original_reply(
    settings: Settings, nc: Client, tmp_path: Path, report: Report
) -> None:
    """Appended, then killed before the snapshot and the reply: the retry with the same
    command_id gets one event and the reply the first run would have sent."""
    faulty = FaultyService(
        "roster", settings, tmp_path / "roster-1.log", {"BRIEFINGS_FAULT": "crash_after_append"}
    ).start()
    try:
        await wait_healthy(nc, "roster")
        with pytest.raises(NatsTimeoutError):
            await request(nc, "cmd.roster.register_unit", {"command_id": "u1", **CITY}, timeout=5)
        assert faulty.wait_exit() == 137, faulty.log()
    finally:
        faulty.kill()
    stored = await stream_envelopes(nc, "ROSTER")
    assert [e["command_id"] for e in stored] == ["u1"]  # the append landed, nothing else

    healthy = FaultyService("roster", settings, tmp_path / "roster-2.log").start()
    try:
        await wait_healthy(nc, "roster")
        retried = await request(nc, "cmd.roster.register_unit", {"command_id": "u1", **CITY})
        again = await request(nc, "cmd.roster.register_unit", {"command_id": "u1", **CITY})
        unit = await request(nc, "qry.roster.get_unit", {"unit_id": "city"})
    finally:
        healthy.terminate()
    assert retried["ok"] and retried["replayed"], retried
    assert retried["aggregate_id"] == "city" and retried["version"] == 1
    assert retried["event_ids"] == [stored[0]["event_id"]]
    assert again["event_ids"] == retried["event_ids"]
    assert unit["data"]["name"] == CITY["name"]
    after = await stream_envelopes(nc, "ROSTER")
    assert len(after) == 1
    report.add(
        "fault",
        "command service exit 137 after append, before reply",
        1,
        "retry with same command_id: 1 event, original reply (replayed)",
    )


async def _send_until_acked(
    nc: Client, subject: str, body: dict[str, Any], stats: dict[str, int]
) -> dict[str, Any]:
    """A clerk who retries (same command_id) until the service answers."""
    while True:
        try:
            reply = await request(nc, subject, body, timeout=3)
        except Exception:  # timeout, no responders, disconnected mid-request
            stats["no_reply"] += 1
            await asyncio.sleep(0.2)
            continue
        if not reply["ok"] and reply["code"] in ("unavailable", "internal", "conflict"):
            stats["retried_errors"] += 1
            await asyncio.sleep(0.2)
            continue
        return reply


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_nats_restart_during_commands_keeps_every_acknowledged_event(
    how: str, nats_server: NatsServer, settings: Settings, tmp_path: Path, report: Report
) -> None:
    nc = await connect(nats_server.url)
    service = FaultyService("roster", settings, tmp_path / "roster.log").start()
    acked: dict[str, dict[str, Any]] = {}
    stats = {"no_reply": 0, "retried_errors": 0}
    try:
        await wait_healthy(nc, "roster")
        first = await _send_until_acked(
            nc, "cmd.roster.register_unit", {"command_id": "u1", **CITY}, stats
        )
        assert first["ok"], first
        total, workers = 160, 4
        restarted = asyncio.Event()

        async def worker(w: int) -> None:
            for i in range(w, total, workers):
                if i % 5 == 0:
                    body = {"command_id": f"r{i}", "unit_id": "city", "name": f"Thành phố {i}"}
                    subject = "cmd.roster.rename_unit"
                else:
                    body, subject = enroll(f"m{i}", f"Người {i}"), "cmd.roster.enroll_member"
                reply = await _send_until_acked(nc, subject, body, stats)
                assert reply["ok"], reply
                acked[body["command_id"]] = reply

        async def restart() -> None:
            await wait_until(lambda: len(acked) >= 40, timeout=60, interval=0.02)
            nats_server.stop() if how == "stop" else nats_server.kill()
            await asyncio.sleep(1.0)
            nats_server.start()
            restarted.set()

        await asyncio.wait_for(
            asyncio.gather(restart(), *(worker(w) for w in range(workers))), timeout=110
        )
        assert restarted.is_set() and len(acked) == total
        await wait_healthy(nc, "roster", timeout=30)
    finally:
        service.kill()
    envelopes = await stream_envelopes(nc, "ROSTER")
    per_command = events_by_command(envelopes)
    for command_id, reply in acked.items():
        ids = [e["event_id"] for e in envelopes if e["command_id"] == command_id]
        assert ids == reply["event_ids"], (command_id, reply, ids)
    assert set(per_command) == set(acked) | {"u1"}
    assert len(envelopes) == sum(len(r["event_ids"]) for r in acked.values()) + 1
    await nc.close()
    report.add(
        "fault",
        f"nats-server {'SIGTERM' if how == 'stop' else 'SIGKILL'} + restart during 160 commands",
        1,
        f"{len(acked)} acked, {len(envelopes)} events kept, 0 lost, 0 duplicated; "
        f"{stats['no_reply']} requests unanswered during the outage, retried",
    )


def _status_json(nats_url: str) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "BRIEFINGS_NATS_URL": nats_url, "BRIEFINGS_LOG_LEVEL": "error"}
    done = subprocess.run(
        [sys.executable, "-m", "briefings", "status", "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    return done.returncode, json.loads(done.stdout)


def _retry_delays(log: str) -> list[float]:
    delays = []
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "nats unavailable, retrying":
            delays.append(float(entry["retry_in_s"]))
    return delays


async def test_service_started_while_nats_is_down_retries_then_recovers(
    tmp_path: Path, report: Report
) -> None:
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    service = FaultyService(
        "roster", settings_for(url, tmp_path / "data"), tmp_path / "roster.log"
    ).start()
    server = NatsServer(tmp_path / "nats", port=port, log_file=tmp_path / "nats.log")
    try:
        await wait_until(lambda: len(_retry_delays(service.log())) >= 4, timeout=30)
        assert service.proc is not None and service.proc.poll() is None, service.log()
        delays = _retry_delays(service.log())
        assert delays[:4] == sorted(delays[:4]) and delays[3] > delays[0], delays  # backoff
        code, status = _status_json(url)
        assert code == 1 and status["services"]["roster"]["healthy"] is False

        server.start()
        nc = await connect(url)
        try:
            await wait_healthy(nc, "roster", timeout=30)
            reply = await request(nc, "cmd.roster.register_unit", {"command_id": "u1", **CITY})
            assert reply["ok"], reply
            code, status = await asyncio.to_thread(_status_json, url)
            assert status["services"]["roster"]["healthy"] is True, status
        finally:
            await nc.close()
    finally:
        service.kill()
        server.stop()
    report.add(
        "fault",
        "service started while NATS is down",
        1,
        f"retried with backoff {delays[:4]}…, status unhealthy (exit 1), "
        "healthy and serving once NATS came up",
    )
