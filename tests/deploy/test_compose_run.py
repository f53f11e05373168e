"""The compose services as processes: the same commands, the same environment (each host name
pointed at a local server), a nats-server started with the same ``deploy/`` configuration and
the local PostgreSQL set up by the same init script."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
from sqlalchemy import create_engine, inspect, text

from runtime.connection import connect_options
from runtime.nats_server import NatsServer, free_port
from runtime.settings import Settings
from tests.deploy.compose import APP_SERVICES, NATS_DIR, ROOT, filled_env, local_env, project

PG_HOST = "127.0.0.1:5432"
PG_ADMIN = f"postgresql+psycopg://postgres@{PG_HOST}/postgres"
VENV_BIN = str(Path(sys.executable).parent)
# Four services and a dozen CLI processes: slow when the machine is busy.
pytestmark = pytest.mark.timeout(400)


def base_env() -> dict[str, str]:
    """What a container has before compose adds its environment: no BRIEFINGS_* leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFINGS_")}
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    return env


def pg_ready() -> bool:
    return (
        subprocess.run(
            ["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres"],
            capture_output=True,
            timeout=10,
        ).returncode
        == 0
    )


def run(
    command: list[str], env: dict[str, str], timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env={**base_env(), **env}, capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def run_many(
    jobs: dict[str, tuple[list[str], dict[str, str]]], timeout: float = 60
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run commands side by side; their results by name."""
    started = {
        name: subprocess.Popen(
            cmd,
            env={**base_env(), **env},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name, (cmd, env) in jobs.items()
    }
    results = {}
    for name, proc in started.items():
        out, err = proc.communicate(timeout=timeout)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return results


async def wait_all_healthy(
    clerk: dict[str, str],
    procs: dict[str, subprocess.Popen[bytes]],
    logs: Path,
    timeout: float = 150,
) -> None:
    settings = Settings.from_env(clerk)
    nc = await nats.connect(**connect_options(settings, "deploy-test"))
    try:
        deadline = time.monotonic() + timeout
        pending = set(procs)
        while pending:
            for name in pending:
                assert procs[name].poll() is None, (
                    f"{name} exited:\n{(logs / f'{name}.log').read_text()[-3000:]}"
                )
            assert time.monotonic() < deadline, f"not healthy: {pending}"
            for name in list(pending):
                with contextlib.suppress(Exception):
                    reply = await nc.request(f"health.{name}", b"{}", timeout=1)
                    if json.loads(reply.data).get("healthy"):
                        pending.discard(name)
            await asyncio.sleep(0.5)
    finally:
        await nc.close()


@dataclass
class Stack:
    """The compose project running as local processes."""

    tmp: Path
    services: dict[str, Any]
    databases: str
    server: NatsServer
    monitor: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env_of(self, name: str) -> dict[str, str]:
        return local_env(
            self.services[name]["environment"], {"nats": self.server.url}, PG_HOST, self.databases
        )

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-3000:]


def _drop(prefix: str) -> None:
    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for service in APP_SERVICES:
            name = f"{prefix}_{service}"
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
    engine.dispose()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """postgres set up by the compose init script, nats-server with the compose command's
    configuration and environment, the init-streams job, then the four services."""
    if not pg_ready():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    tmp = tmp_path_factory.mktemp("compose")
    services: dict[str, Any] = project(filled_env())["services"]
    prefix = f"briefings_t_{uuid.uuid4().hex[:8]}"

    pg = services["postgres"]
    init = next(v for v in pg["volumes"] if "docker-entrypoint-initdb.d" in v).split(":")[0]
    made = run(
        ["sh", str(ROOT / init)],
        {**pg["environment"], "DB_PREFIX": prefix, "PGHOST": "127.0.0.1", "PGPORT": "5432"},
    )
    try:
        assert made.returncode == 0, made.stderr
        nats_cfg = services["nats"]
        command = nats_cfg["command"]
        conf = NATS_DIR / Path(command[command.index("--config") + 1]).name
        monitor = free_port()
        server = NatsServer(
            tmp / "nats",
            config_file=conf,
            extra_args=["-m", str(monitor)],
            env=nats_cfg["environment"],
            log_file=tmp / "nats.log",
        ).start()
        s = Stack(tmp, services, prefix, server, monitor)
        try:
            job = run(
                services["init-streams"]["command"], s.env_of("init-streams"), timeout=120, cwd=tmp
            )
            assert job.returncode == 0, job.stdout + job.stderr
            assert "ROSTER: R1" in job.stdout
            for name in APP_SERVICES:
                log = open(tmp / f"{name}.log", "wb")
                s.procs[name] = subprocess.Popen(
                    services[name]["command"],
                    env={**base_env(), **s.env_of(name)},
                    stdout=log,
                    stderr=log,
                    cwd=tmp,
                )
            # wait cheaply (in this process) until every service answers healthy
            asyncio.run(wait_all_healthy(s.env_of("cli"), s.procs, tmp))
            yield s
        finally:
            for proc in s.procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            server.stop()
    finally:
        _drop(prefix)


def test_health_checks_pass_with_each_containers_credentials(stack: Stack) -> None:
    pg = stack.services["postgres"]["healthcheck"]["test"][1:]
    assert run([*pg, "-h", "127.0.0.1"], {}).returncode == 0
    nats_check = stack.services["nats"]["healthcheck"]["test"][-1]
    healthz = nats_check.replace("127.0.0.1:8222", f"127.0.0.1:{stack.monitor}")
    with urllib.request.urlopen(healthz, timeout=5) as resp:
        assert resp.status == 200
    checks = run_many(
        {n: (stack.services[n]["healthcheck"]["test"][1:], stack.env_of(n)) for n in APP_SERVICES}
    )
    for name, check in checks.items():
        assert check.returncode == 0, f"{name}: {check.stdout}{check.stderr}"


def test_the_clerks_send_the_sample_year_and_the_auditors_verify_it(stack: Stack) -> None:
    # every service's commands; awards asks reporting; nothing is refused
    year = run(["briefings", "demo", "load", "--quiet", "--json"], stack.env_of("cli"), timeout=300)
    assert year.returncode == 0, year.stdout + year.stderr
    loaded = json.loads(year.stdout)
    assert loaded["applied"] == loaded["sent"] == loaded["expected"]["commands"] > 0
    tools = run_many(
        {
            "cli": (stack.services["cli"]["command"], stack.env_of("cli")),
            "audit": (stack.services["audit"]["command"], stack.env_of("audit")),
            "verify": (["briefings", "audit", "verify"], stack.env_of("audit")),
            "lag": (["briefings", "reporting", "status"], stack.env_of("cli")),
        }
    )
    for done in tools.values():
        assert done.returncode == 0, done.stdout + done.stderr
    # each service keeps its state in its own database
    for name in APP_SERVICES:
        engine = create_engine(f"postgresql+psycopg://postgres@{PG_HOST}/{stack.databases}_{name}")
        tables = inspect(engine).get_table_names()
        engine.dispose()
        assert tables, f"{name} wrote nothing to its database"


def test_no_service_needed_a_permission_it_lacks(stack: Stack) -> None:
    violations = [
        line for line in (stack.tmp / "nats.log").read_text().splitlines() if "Violation" in line
    ]
    assert violations == [], "\n".join(violations[:20])


def test_sigterm_stops_every_service_cleanly(stack: Stack) -> None:
    """A rolling stop: requests in hand finish, exit 0 within the grace period."""
    for name in APP_SERVICES:
        assert stack.procs[name].poll() is None, stack.log(name)
        stack.procs[name].send_signal(signal.SIGTERM)
    for name in APP_SERVICES:
        assert stack.procs[name].wait(30) == 0, stack.log(name)
