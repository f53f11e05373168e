"""``briefings up`` supervises, and every process honours SIGTERM (issue #14).

Real processes: ``briefings up`` as a child with its own embedded nats-server and the four
services as its children; the tests find them through /proc and kill them as an operator's
mistake or the OOM killer would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.subjects import SERVICES
from runtime.nats_server import NatsServer, free_port
from tests.reliability.conftest import Report
from tests.reliability.helpers import wait_until
from tests.support import ROOT, wait_healthy

pytestmark = [
    pytest.mark.timeout(400),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc"),
]


def children(pid: int) -> dict[int, str]:
    """The direct children of ``pid``: pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found[int(entry.name)] = cmdline
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def child_pid(parent: int, needle: str) -> int | None:
    for pid, cmdline in children(parent).items():
        if needle in cmdline:
            return pid
    return None


def kill_tree(proc: subprocess.Popen[str]) -> None:
    """SIGKILL ``proc`` and its children (a failed test must not leave services running)."""
    if proc.poll() is None:
        for pid in children(proc.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()


def up_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "BRIEFINGS_NATS_URL"}
    env.update(BRIEFINGS_DATA_DIR=str(tmp / "data"), BRIEFINGS_LOG_FORMAT="json", **extra)
    return env


@pytest.fixture
def up_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "briefings", "up", "--nats-port", str(port)],
        env=up_env(tmp_path),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "up.stderr", "w"),
        text=True,
    )
    try:
        yield proc, f"nats://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                kill_tree(proc)


async def all_healthy(url: str, data: Path, timeout: float = 120) -> None:
    """Every service answers its health request, asked as the operator of ``up``'s embedded
    server (it admits nobody anonymous: briefings/access.py)."""
    import nats

    from runtime.settings import credentials_path

    path = credentials_path(data, "operator")
    await wait_until(path.exists, timeout=60)  # written by up as it starts
    operator = json.loads(path.read_text())
    nc = await nats.connect(
        url,
        user=operator["user"],
        password=operator["password"],
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
    )
    try:
        for name in SERVICES:
            await wait_healthy(nc, name, timeout=timeout)
    finally:
        await nc.close()


def test_up_restarts_a_killed_service_and_a_killed_nats_server(
    up_process: tuple[subprocess.Popen[str], str], tmp_path: Path, report: Report
) -> None:
    """kill -9 of one service: it comes back and the system keeps answering (before: the
    whole system stopped). kill -9 of the embedded nats-server: restarted on its store
    (before: unnoticed, everything unhealthy for good). SIGTERM then stops all of it."""
    up, url = up_process
    asyncio.run(all_healthy(url, tmp_path / "data"))

    events = child_pid(up.pid, "serve events")
    assert events is not None, children(up.pid)
    os.kill(events, signal.SIGKILL)

    def restarted_events() -> bool:
        now = child_pid(up.pid, "serve events")
        return now is not None and now != events

    asyncio.run(wait_until(restarted_events, timeout=60))
    asyncio.run(all_healthy(url, tmp_path / "data"))
    assert up.poll() is None, "up stopped when a service died"

    nats = child_pid(up.pid, "nats-server")
    assert nats is not None, children(up.pid)
    os.kill(nats, signal.SIGKILL)

    def restarted_nats() -> bool:
        now = child_pid(up.pid, "nats-server")
        return now is not None and now != nats

    asyncio.run(wait_until(restarted_nats, timeout=60))
    asyncio.run(all_healthy(url, tmp_path / "data"))  # the services reconnected to the new server

    # The CLI answers through the restarted system.
    status = subprocess.run(
        [sys.executable, "-m", "briefings", "status", "--json", "--wait", "60"],
        env={**up_env(tmp_path), "BRIEFINGS_NATS_URL": url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert json.loads(status.stdout)["healthy"] is True

    kids = set(children(up.pid))
    up.send_signal(signal.SIGTERM)
    assert up.wait(60) == 0
    assert not any(alive(pid) for pid in kids), "a child outlived up"
    log = (tmp_path / "up.stderr").read_text()
    restarts = [json.loads(line) for line in log.splitlines() if "restarting" in line]
    assert [r["event"] for r in restarts] == [
        "service exited, restarting",
        "nats-server exited, restarting",
    ], log
    assert restarts[0]["service"] == "events" and restarts[0]["backoff_s"] > 0
    report.add("fault", "kill -9 of a service under `briefings up`", 1, "restarted, answering")
    report.add("fault", "kill -9 of the embedded nats-server", 1, "restarted, answering")


def test_sigterm_during_the_health_wait_stops_promptly(tmp_path: Path, report: Report) -> None:
    """NATS unreachable: the services wait for it and ``up`` waits for their health. A
    SIGTERM then stops ``up`` and every child at once (before: ignored for the 90 s wait,
    and the services ignored SIGTERM for as long as they retried)."""
    nowhere = f"nats://127.0.0.1:{free_port()}"
    up = subprocess.Popen(
        [sys.executable, "-m", "briefings", "up"],
        env={**up_env(tmp_path), "BRIEFINGS_NATS_URL": nowhere},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Waiting for health: every service is running and retrying its connection.
        asyncio.run(wait_until(lambda: len(children(up.pid)) == len(SERVICES), timeout=60))
        logs = tmp_path / "data" / "logs"

        def all_retrying() -> bool:
            return all(
                "nats unavailable, retrying" in _read(logs / f"{name}.log") for name in SERVICES
            )

        asyncio.run(wait_until(all_retrying, timeout=60))
        kids = set(children(up.pid))
        up.send_signal(signal.SIGTERM)
        up.communicate(timeout=30)  # "promptly": well before the 90 s health wait
    finally:
        kill_tree(up)
    assert up.returncode == 0
    assert not any(alive(pid) for pid in kids), "a service outlived up"
    for name in SERVICES:
        assert "stopped before NATS was reached" in _read(logs / f"{name}.log")
    report.add("fault", "SIGTERM to `up` during the start-up health wait", 1, "stopped at once")


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def test_conflicting_settings_are_an_error(tmp_path: Path, nats_server: NatsServer) -> None:
    """BRIEFINGS_NATS_URL set and ``--nats-port``: before, ``up`` silently started no
    server on that port."""
    up = subprocess.Popen(
        [sys.executable, "-m", "briefings", "up", "--nats-port", str(free_port())],
        env={**up_env(tmp_path), "BRIEFINGS_NATS_URL": nats_server.url},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = up.communicate(timeout=60)
    finally:
        kill_tree(up)
    assert up.returncode == 2, out + err
    assert "BRIEFINGS_NATS_URL" in err and "--nats-port" in err
    assert not (tmp_path / "data" / "logs").exists(), "something was started"

    # --exit-after-demo without --demo would run for ever instead of exiting: an error too.
    alone = subprocess.Popen(
        [sys.executable, "-m", "briefings", "up", "--exit-after-demo", "--nats-port", "0"],
        env=up_env(tmp_path),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, err = alone.communicate(timeout=60)
    finally:
        kill_tree(alone)
    assert alone.returncode == 2 and "--demo" in err, err
    assert not (tmp_path / "data" / "logs").exists(), "something was started"
