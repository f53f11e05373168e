"""Logs are for operators: one JSON object per line, whoever wrote it (issue #14).

A service started while NATS is down wrote 6,328 plain-text traceback lines in 10 minutes
(nats-py's default error callback, one forty-line traceback per failed attempt) against 113
JSON lines. Now: one line per retry, with its backoff; nats-py's and FastStream's own records
go through structlog.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.nats_server import NatsServer, free_port
from runtime.settings import Settings
from tests.reliability.conftest import Report
from tests.reliability.helpers import wait_until
from tests.support import ROOT, ServiceProcess, connect, settings_for, wait_healthy

pytestmark = pytest.mark.timeout(300)

RETRIES = 6


def json_lines(text: str) -> list[dict[str, object]]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\n--- log:\n{text[-3000:]}") from None
    return parsed


def test_nats_down_is_one_json_line_per_retry_and_sigterm_is_honoured(
    tmp_path: Path, report: Report
) -> None:
    settings = settings_for(f"nats://127.0.0.1:{free_port()}", tmp_path / "data")
    service = ServiceProcess("roster", settings, tmp_path / "roster.log").start()
    try:
        asyncio.run(
            wait_until(
                lambda: service.log().count("nats unavailable, retrying") >= RETRIES, timeout=120
            )
        )
        code = service.terminate(timeout=30)  # honoured while waiting for NATS
    finally:
        service.kill()
    log = service.log()
    records = json_lines(log)
    retries = [r for r in records if r["event"] == "nats unavailable, retrying"]
    assert code == 0
    assert "Traceback" not in log
    assert len(retries) >= RETRIES
    # Each retry says what it waits: 0.25, 0.5, 1, 2, 4, 5 ... seconds.
    assert [r["retry_in_s"] for r in retries[:6]] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0]
    # Nothing else but the retries and the stop: no library noise.
    others = [r["event"] for r in records if r["event"] != "nats unavailable, retrying"]
    assert others == ["stopped before NATS was reached"], others
    report.add(
        "fault",
        "service started while NATS is down (log lines)",
        len(retries),
        f"{len(records)} JSON lines for {len(retries)} retries, no traceback; SIGTERM honoured",
    )


def test_a_running_service_logs_json_only(tmp_path: Path, nats_server: NatsServer) -> None:
    """Up, serving, NATS restarted under it, stopped: every line of its log is JSON (FastStream
    and nats-py write through structlog too)."""
    settings: Settings = settings_for(nats_server.url, tmp_path / "data")
    service = ServiceProcess("roster", settings, tmp_path / "roster.log").start()

    async def healthy() -> None:
        nc = await connect(nats_server.url)
        try:
            await wait_healthy(nc, "roster", timeout=90)
        finally:
            await nc.close()

    try:
        asyncio.run(healthy())
        nats_server.kill()
        nats_server.start()
        asyncio.run(healthy())
        assert service.terminate(timeout=30) == 0
    finally:
        service.kill()
    log = service.log()
    records = json_lines(log)
    assert "Traceback" not in log
    assert any(r["event"] == "service ready" for r in records)


def test_library_records_become_one_json_line_each() -> None:
    """nats-py's error with a traceback and FastStream's own logger: one JSON line each, on
    stderr; stdout stays empty."""
    script = """
import logging
from runtime.logging import configure_logging
configure_logging("info", "json", "roster")
try:
    raise ConnectionRefusedError(111, "Connect call failed")
except OSError as exc:
    logging.getLogger("nats.aio.client").error("nats: encountered error", exc_info=exc)
logging.getLogger("faststream").warning("broker warning")
logging.getLogger("faststream.access.nats").warning("access warning")
logging.getLogger("faststream.briefings").debug("per-message noise")
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    records = json_lines(result.stderr)
    assert [r["event"] for r in records] == [
        "nats: encountered error",
        "broker warning",
        "access warning",
    ]
    assert records[0]["logger"] == "nats.aio.client" and records[0]["service"] == "roster"
    assert "ConnectionRefusedError" in str(records[0]["exception"])


def test_a_service_that_fails_says_so_in_one_json_line(tmp_path: Path, report: Report) -> None:
    """A nats-server without JetStream: the service cannot set up its stream and exits 1
    with one JSON line (``service failed``, the traceback in its ``exception`` field), not a
    bare traceback; ``briefings up`` restarts it with backoff."""
    from runtime.nats_server import nats_server_binary, wait_for_port

    port = free_port()
    plain = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", port)
        settings = settings_for(f"nats://127.0.0.1:{port}", tmp_path / "data")
        service = ServiceProcess("roster", settings, tmp_path / "roster.log").start()
        assert service.proc is not None
        try:
            code = service.proc.wait(120)
        finally:
            service.kill()
    finally:
        plain.terminate()
        plain.wait(30)
    records = json_lines(service.log())
    assert code == 1
    failed = [r for r in records if r["event"] == "service failed"]
    assert len(failed) == 1 and "Traceback" in str(failed[0]["exception"])
    report.add("fault", "service start against a server without JetStream", 1, "one JSON line")
