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
from pathlib import Path
from typing import Any

import nats
import pytest
from sqlalchemy import create_engine, inspect, text

from briefings.runtime.connection import connect_options
from briefings.runtime.nats_server import NatsServer, free_port
from briefings.runtime.settings import Settings
from tests.deploy.compose import APP_SERVICES, NATS_DIR, ROOT, filled_env, local_env, project

PG_HOST = "127.0.0.1:5432"
PG_ADMIN = f"postgresql+psycopg://postgres@{PG_HOST}/postgres"
VENV_BIN = str(Path(sys.executable).parent)


def base_env() -> dict[str, str]:
    """What a container has before compose adds its environment: no BRIEFINGS_* leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFINGS_")}
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    return env


def pg_ready() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres"],
                          capture_output=True, timeout=10).returncode == 0


def run(command: list[str], env: dict[str, str], timeout: float = 60,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env={**base_env(), **env}, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def run_many(jobs: dict[str, tuple[list[str], dict[str, str]]],
             timeout: float = 60) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run commands side by side; their results by name."""
    started = {name: subprocess.Popen(cmd, env={**base_env(), **env}, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for name, (cmd, env) in jobs.items()}
    results = {}
    for name, proc in started.items():
        out, err = proc.communicate(timeout=timeout)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return results


async def wait_all_healthy(clerk: dict[str, str], procs: dict[str, subprocess.Popen[bytes]],
                           logs: Path, timeout: float = 150) -> None:
    settings = Settings.from_env(clerk)
    nc = await nats.connect(**connect_options(settings, "deploy-test"))
    try:
        deadline = time.monotonic() + timeout
        pending = set(procs)
        while pending:
            for name in pending:
                assert procs[name].poll() is None, (
                    f"{name} exited:\n{(logs / f'{name}.log').read_text()[-3000:]}")
            assert time.monotonic() < deadline, f"not healthy: {pending}"
            for name in list(pending):
                with contextlib.suppress(Exception):
                    reply = await nc.request(f"health.{name}", b"{}", timeout=1)
                    if json.loads(reply.data).get("healthy"):
                        pending.discard(name)
            await asyncio.sleep(0.5)
    finally:
        await nc.close()


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[str]:
    """Run deploy/postgres/init-databases.sh (the compose init script) with this test's prefix;
    drop what it made afterwards."""
    if not pg_ready():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    prefix = f"briefings_t_{uuid.uuid4().hex[:8]}"
    yield prefix
    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for service in APP_SERVICES:
            name = f"{prefix}_{service}"
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
    engine.dispose()


def test_compose_services_run_as_processes(tmp_path: Path, databases: str) -> None:
    env = filled_env()
    services: dict[str, Any] = project(env)["services"]

    # postgres: the compose init script creates one role and database per service
    pg = services["postgres"]
    init = next(v for v in pg["volumes"] if "docker-entrypoint-initdb.d" in v).split(":")[0]
    made = run(["sh", str(ROOT / init)], {**pg["environment"], "DB_PREFIX": databases,
                                          "PGHOST": "127.0.0.1", "PGPORT": "5432"})
    assert made.returncode == 0, made.stderr
    health = pg["healthcheck"]["test"][1:]
    assert run([*health, "-h", "127.0.0.1"], {}).returncode == 0

    # nats: the compose command's configuration, with the compose service's environment
    nats_cfg = services["nats"]
    conf = NATS_DIR / Path(nats_cfg["command"][nats_cfg["command"].index("--config") + 1]).name
    monitor = free_port()
    server = NatsServer(tmp_path / "nats", config_file=conf, extra_args=["-m", str(monitor)],
                        env=nats_cfg["environment"], log_file=tmp_path / "nats.log").start()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        healthz = nats_cfg["healthcheck"]["test"][-1].replace("127.0.0.1:8222",
                                                              f"127.0.0.1:{monitor}")
        with urllib.request.urlopen(healthz, timeout=5) as resp:
            assert resp.status == 200

        def env_of(name: str) -> dict[str, str]:
            return local_env(services[name]["environment"], {"nats": server.url}, PG_HOST,
                             databases)

        # the one-shot job that creates the streams, as the operator user
        job = run(services["init-streams"]["command"], env_of("init-streams"), timeout=120,
                  cwd=tmp_path)
        assert job.returncode == 0, job.stdout + job.stderr
        assert "ROSTER: R1" in job.stdout

        for name in APP_SERVICES:
            log = open(tmp_path / f"{name}.log", "wb")
            procs[name] = subprocess.Popen(services[name]["command"],
                                           env={**base_env(), **env_of(name)},
                                           stdout=log, stderr=log, cwd=tmp_path)

        # wait cheaply (in this process) until every service answers healthy, then run each
        # container's health check command once, with that container's credentials
        asyncio.run(wait_all_healthy(env_of("cli"), procs, tmp_path))
        checks = run_many({n: (services[n]["healthcheck"]["test"][1:], env_of(n))
                           for n in APP_SERVICES})
        for name, check in checks.items():
            assert check.returncode == 0, f"{name}: {check.stdout}{check.stderr}"

        # the clerks' CLI container writes, the auditors' reads
        clerk = env_of("cli")
        unit = run(["briefings", "roster", "register-unit", "Ward 7", "--kind", "city",
                    "--json"], clerk)
        assert unit.returncode == 0, unit.stdout + unit.stderr
        unit_id = json.loads(unit.stdout)["aggregate_id"]
        listed = run(["briefings", "roster", "units", "--json"], clerk)
        assert listed.returncode == 0 and unit_id in listed.stdout, listed.stderr
        tools = run_many({
            "cli": (services["cli"]["command"], env_of("cli")),
            "audit": (services["audit"]["command"], env_of("audit")),
            "verify": (["briefings", "audit", "verify"], env_of("audit")),
            "lag": (["briefings", "reporting", "status"], env_of("cli")),
        })
        for done in tools.values():
            assert done.returncode == 0, done.stdout + done.stderr

        # each service keeps its state in its own database
        for name in APP_SERVICES:
            engine = create_engine(f"postgresql+psycopg://postgres@{PG_HOST}/{databases}_{name}")
            tables = inspect(engine).get_table_names()
            engine.dispose()
            assert tables, f"{name} wrote nothing to its database"

        violations = [line for line in (tmp_path / "nats.log").read_text().splitlines()
                      if "Violation" in line]
        assert violations == [], "the services need a permission they lack:\n" + "\n".join(
            violations[:20])

        # a rolling stop: SIGTERM, requests in hand finish, exit 0 within the grace period
        for name in APP_SERVICES:
            procs[name].send_signal(signal.SIGTERM)
        for name in APP_SERVICES:
            assert procs[name].wait(30) == 0, (tmp_path / f"{name}.log").read_text()[-3000:]
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        server.stop()
