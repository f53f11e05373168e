"""Every client path treats every failure as a failure (issue #14).

The CLI prints every error in the one documented shape, including the ones only the client
sees (no responders, a timeout, NATS unreachable); ``demo load`` and the imports retry an
``unavailable`` answer with the same command id and never count an error as applied. Real
processes: a nats-server, ``briefings serve`` children, the CLI as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from briefings.demo.generator import plan_year
from contracts.subjects import stream_name
from runtime.nats_server import NatsServer, free_port
from runtime.settings import Settings
from tests.reliability.conftest import Report
from tests.reliability.helpers import stream_envelopes, wait_until
from tests.support import ROOT, ServiceProcess, connect, settings_for, wait_healthy

pytestmark = pytest.mark.timeout(600)

ERROR_KEYS = {"ok", "code", "message", "rule", "details", "context"}


def cli(url: str, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "briefings", *args],
        env={
            **os.environ,
            "BRIEFINGS_NATS_URL": url,
            "BRIEFINGS_LOG_FORMAT": "json",
            **env,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_error_shape(result: subprocess.CompletedProcess[str], code: str) -> dict[str, Any]:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    error: dict[str, Any] = json.loads(result.stdout)  # stdout is the JSON and nothing else
    assert set(error) >= ERROR_KEYS, error
    assert error["ok"] is False and error["code"] == code, error
    assert isinstance(error["details"], list) and isinstance(error["context"], dict)
    return error


def test_no_responders_and_unreachable_nats_print_the_documented_error_shape(
    nats_server: NatsServer, report: Report
) -> None:
    """No service runs: "no responders". No NATS at all: connection refused. Both were
    ``{"code": "unavailable", "message": ...}`` without ``"ok": false``."""
    no_service = cli(nats_server.url, "roster", "members", "--json")
    error = assert_error_shape(no_service, "unavailable")
    assert "no service answers" in error["message"]

    command = cli(
        nats_server.url, "roster", "register-unit", "Chi bộ 1", "--unit-id", "u1", "--json"
    )
    assert_error_shape(command, "unavailable")

    nowhere = f"nats://127.0.0.1:{free_port()}"
    unreachable = cli(nowhere, "roster", "members", "--json")
    error = assert_error_shape(unreachable, "unavailable")
    assert nowhere in error["message"]

    # Without --json: the same error, readable, on stderr; nothing on stdout.
    text = cli(nats_server.url, "roster", "members")
    assert text.returncode == 1 and text.stdout == ""
    assert "unavailable" in text.stderr and "Traceback" not in text.stderr
    report.add("fault", "no service answers / NATS unreachable (CLI)", 4, "one error shape")


def test_a_timeout_prints_the_documented_error_shape(
    nats_server: NatsServer, report: Report
) -> None:
    """A responder that never answers: the CLI's timeout is an error with ``ok`` false."""

    async def scenario() -> subprocess.CompletedProcess[str]:
        nc = await connect(nats_server.url)
        await nc.subscribe("qry.roster.list_members", cb=_never_answer)
        await nc.flush()
        try:
            return await asyncio.to_thread(
                cli,
                nats_server.url,
                "roster",
                "members",
                "--json",
                BRIEFINGS_REQUEST_TIMEOUT="1",
            )
        finally:
            await nc.close()

    error = assert_error_shape(asyncio.run(scenario()), "unavailable")
    assert "in time" in error["message"]
    report.add("fault", "a service that never replies (CLI timeout)", 1, "one error shape")


async def _never_answer(msg: Any) -> None:
    return None


async def _stream_count(url: str, stream: str) -> int:
    nc = await connect(url)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.messages)
    except Exception:
        return 0
    finally:
        await nc.close()


def test_demo_load_with_the_events_service_killed_loads_every_attendance(
    tmp_path: Path, report: Report
) -> None:
    """The events service is killed (SIGKILL) in the middle of ``demo load`` and started again:
    the load retries with the same command ids, finishes with exit 0, and the EVENTS stream
    holds every attendance of the plan exactly once. Before: the load exited 0 with
    "retries = 0", counting the ``unavailable`` answers as applied, and 2 attendances were
    missing."""
    plan = plan_year(2022)
    server = NatsServer(tmp_path / "nats", log_file=tmp_path / "nats.log").start()
    settings: Settings = settings_for(server.url, tmp_path / "data")
    names = ("roster", "events", "awards")
    services = {n: ServiceProcess(n, settings, tmp_path / f"{n}.log").start() for n in names}
    load: subprocess.Popen[str] | None = None
    try:

        async def healthy() -> None:
            nc = await connect(server.url)
            try:
                for name in names:
                    await wait_healthy(nc, name, timeout=120)
            finally:
                await nc.close()

        asyncio.run(healthy())
        load = subprocess.Popen(
            [sys.executable, "-m", "briefings", "demo", "load", "--json", "--quiet"],
            env={**os.environ, "BRIEFINGS_NATS_URL": server.url, "BRIEFINGS_LOG_FORMAT": "json"},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        events_stream = stream_name("events")

        async def attendance_under_way() -> bool:
            return await _stream_count(server.url, events_stream) >= 300

        asyncio.run(wait_until(attendance_under_way, timeout=300, interval=0.05))
        services["events"].kill()  # SIGKILL, mid-load
        services["events"] = ServiceProcess("events", settings, tmp_path / "events.log").start()
        out, err = load.communicate(timeout=400)
        assert load.returncode == 0, f"exit {load.returncode}\n{out}\n{err}"
        result = json.loads(out)

        async def written() -> list[dict[str, Any]]:
            nc = await connect(server.url)
            try:
                return await stream_envelopes(nc, events_stream)
            finally:
                await nc.close()

        envelopes = asyncio.run(written())
    finally:
        if load is not None and load.poll() is None:
            load.kill()
            load.wait()
        for service in services.values():
            try:
                service.terminate(timeout=30)
            except subprocess.TimeoutExpired:
                service.kill()
        server.stop()

    attendance = Counter(
        (e["payload"]["conference_id"], e["payload"]["member_id"])
        for e in envelopes
        if e["type"] == "AttendanceRecorded"
    )
    report.add(
        "fault",
        "events service SIGKILLed during demo load",
        1,
        f"{sum(attendance.values())} of {plan.figures.attendances} attendances, "
        f"{result['retries']} retries",
        retries=result["retries"],
    )
    assert len(attendance) == plan.figures.attendances == 1779
    assert set(attendance.values()) == {1}, "an attendance was written twice"
    assert result["retries"] > 0, "the kill was not seen: the test proved nothing"
    # The summary is honest: every command of the plan answered, none counted twice.
    assert result["sent"] == len(plan.steps)
    assert result["applied"] + result["replayed"] + result["unchanged"] == len(plan.steps)


def test_retries_send_the_same_command_id_and_only_ok_true_counts(
    nats_server: NatsServer, report: Report
) -> None:
    """A peer on the command subject that answers "starting" (``unavailable``), then nothing
    (a timeout), then a bare ``{"code": "unavailable"}`` without ``ok`` (what the old client
    made of a timeout, and the old loader counted as applied), then accepts: the demo
    loader's step gets the acceptance, every attempt carried the same bytes (the same
    command id), and nothing before it counted."""
    from briefings.client import Client_
    from briefings.demo.generator import plan_year
    from briefings.demo.load import LoadReport, send_step

    step = plan_year(2022).steps[0]
    answers: list[bytes | None] = [
        b'{"ok": false, "code": "unavailable", "message": "roster is starting"}',
        None,  # no reply: the client times out
        b'{"code": "unavailable", "message": "no reply"}',
        b'{"ok": true, "command_id": "x", "aggregate_type": "unit", "aggregate_id": "u",'
        b' "version": 1, "event_ids": []}',
    ]
    received: list[bytes] = []

    async def scenario() -> tuple[dict[str, Any], LoadReport]:
        nc = await connect(nats_server.url)

        async def peer(msg: Any) -> None:
            received.append(msg.data)
            answer = answers[len(received) - 1]
            if answer is not None:
                await msg.respond(answer)

        await nc.subscribe(step.subject, cb=peer)
        await nc.flush()
        load = LoadReport(seed=2022)
        settings = settings_for(nats_server.url, Path("."), request_timeout=1.0)
        try:
            async with Client_(settings) as client:
                reply = await send_step(client, step, load)
                load.count(step, reply)
        finally:
            await nc.close()
        return reply, load

    reply, load = asyncio.run(scenario())
    assert reply["ok"] is True
    assert len(received) == 4 and len(set(received)) == 1, "a retry changed the command"
    assert json.loads(received[0])["command_id"] == step.command.command_id
    assert (load.retries, load.recovered, load.applied, load.sent) == (3, 1, 1, 1)
    report.add(
        "fault", "unavailable / timeout / bare error answers to a bulk command", 3, "retried"
    )
