"""Helpers the tests share: real nats-servers, databases, services in and out of process."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from sqlalchemy import text

from runtime.nats_server import NatsServer
from runtime.service import ServiceHost
from runtime.settings import Settings
from runtime.sql import make_engine

ROOT = Path(__file__).resolve().parent.parent
LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


def postgres_base_url() -> str | None:
    """An explicit URL first, then testcontainers when a Docker engine answers, then the
    local server. ``None`` only when none of them is reachable."""
    explicit = os.environ.get("BRIEFINGS_TEST_POSTGRES_URL")
    if explicit:
        return explicit
    if docker_answers():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:16-alpine", driver="psycopg")
        container.start()
        return str(container.get_connection_url())
    try:
        engine = make_engine(LOCAL_POSTGRES)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return LOCAL_POSTGRES
    except Exception:
        return None


@contextlib.contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh schema in the PostgreSQL database; the URL's search_path points at it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = make_engine(base_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def settings_for(
    nats_url: str, data_dir: Path, database_url: str | None = None, **extra: Any
) -> Settings:
    return Settings(nats_url=nats_url, data_dir=data_dir, database_url=database_url, **extra)


@contextlib.asynccontextmanager
async def running_service(
    name: str, settings: Settings, timeout: float = 20.0
) -> AsyncIterator[ServiceHost]:
    """A service in this process (fast); for crash tests use ``ServiceProcess``."""
    module = importlib.import_module(f"services.{name}.entrypoints.service")
    host: ServiceHost = module.build(settings)
    task = asyncio.create_task(host.serve(handle_signals=False))
    deadline = time.monotonic() + timeout
    while not host.ready:
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            task.cancel()
            raise TimeoutError(f"{name} did not become ready")
        await asyncio.sleep(0.02)
    try:
        yield host
    finally:
        host.stop()
        await asyncio.wait_for(task, 30)


class ServiceProcess:
    """``briefings serve NAME`` as a real child process."""

    def __init__(self, name: str, settings: Settings, log_path: Path) -> None:
        self.name = name
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "BRIEFINGS_NATS_URL": self.settings.nats_url,
                "BRIEFINGS_DATA_DIR": str(self.settings.data_dir),
                "BRIEFINGS_LOG_FORMAT": "json",
                "BRIEFINGS_LOG_LEVEL": "info",
            }
        )
        if self.settings.database_url:
            env["BRIEFINGS_DATABASE_URL"] = self.settings.database_url
        if self.settings.nats_user:
            env["BRIEFINGS_NATS_USER"] = self.settings.nats_user
            env["BRIEFINGS_NATS_PASSWORD"] = self.settings.nats_password or ""
        return env

    def start(self) -> ServiceProcess:
        out = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "briefings", "serve", self.name],
            env=self.env(),
            stdout=out,
            stderr=out,
            cwd=ROOT,
        )
        return self

    def terminate(self, timeout: float = 20) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


async def wait_healthy(nc: Client, service: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            msg = await nc.request(f"health.{service}", b"{}", timeout=1)
            last = json.loads(msg.data)
            if last.get("healthy"):
                return dict(last)
        except Exception as exc:
            last = exc
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{service} not healthy: {last}")


async def request(
    nc: Client, subject: str, payload: dict[str, Any] | bytes, timeout: float = 10
) -> dict[str, Any]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload, default=str).encode()
    msg = await nc.request(subject, body, timeout=timeout)
    result: dict[str, Any] = json.loads(msg.data)
    return result


def new_nats(tmp: Path) -> NatsServer:
    return NatsServer(tmp / "nats", log_file=tmp / "nats.log").start()


async def connect(url: str) -> Client:
    return await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
