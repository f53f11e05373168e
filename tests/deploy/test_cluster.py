"""Three nats-servers with deploy/nats/cluster.conf form a JetStream cluster; the streams are at
R3; while commands are being sent the ROSTER stream's leader is killed and later restarted.
Every acknowledged command's event is in the stream exactly once and the read models agree."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from runtime.eventstore import EventStore
from runtime.nats_server import NatsServer, free_port
from tests.deploy.compose import NATS_DIR, filled_env, nats_users
from tests.support import ServiceProcess, settings_for

NODES = 3
WORKERS = 4


class Cluster:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        route_ports = [free_port() for _ in range(NODES)]
        routes = ",".join(f"nats://127.0.0.1:{p}" for p in route_ports)
        self.nodes: list[NatsServer] = []
        for i in range(NODES):
            self.nodes.append(
                NatsServer(
                    tmp / f"n{i + 1}",
                    config_file=NATS_DIR / "cluster.conf",
                    extra_args=[
                        "-m",
                        str(free_port()),
                        "--cluster",
                        f"nats://127.0.0.1:{route_ports[i]}",
                        "--routes",
                        routes,
                    ],
                    env={**env, "NATS_SERVER_NAME": f"n{i + 1}"},
                    log_file=tmp / f"n{i + 1}.log",
                )
            )

    @property
    def url(self) -> str:
        return ",".join(n.url for n in self.nodes)

    def node(self, name: str) -> NatsServer:
        return self.nodes[int(name.removeprefix("n")) - 1]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Cluster, dict[str, str]]]:
    env = filled_env()
    c = Cluster(tmp_path, env)
    for node in c.nodes:
        node.start()
    users = nats_users()
    yield c, {u: env[var] for u, var in users.items()}
    for node in c.nodes:
        node.stop()


async def connect(url: str, user: str, password: str) -> Client:
    return await nats.connect(
        servers=url.split(","),
        user=user,
        password=password,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
        connect_timeout=3,
    )


async def until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = predicate()
            if inspect.isawaitable(last):
                last = await last
            if last:
                return last
        await asyncio.sleep(0.3)
    raise TimeoutError(f"{what}: {last}")


async def send(nc: Client, command_id: str, stop_at: float) -> dict[str, Any] | None:
    """Send one command, retrying with the same command_id until it is acknowledged."""
    body = json.dumps(
        {
            "command_id": command_id,
            "actor": "cluster-test",
            "kind": "party_cell",
            "name": f"Cell {command_id[:8]}",
        }
    ).encode()
    while time.monotonic() < stop_at:
        try:
            msg = await nc.request("cmd.roster.register_unit", body, timeout=5)
            reply: dict[str, Any] = json.loads(msg.data)
            if reply.get("ok"):
                return reply
        except Exception:
            pass  # no responders / timeout while a node is down: retry the same command
        await asyncio.sleep(0.2)
    return None


@pytest.mark.timeout(300)  # three servers and two services on two busy cores
async def test_a_node_killed_mid_load_loses_nothing(
    cluster: tuple[Cluster, dict[str, str]], tmp_path: Path
) -> None:
    c, passwords = cluster
    op = await connect(c.url, "operator", passwords["operator"])
    await until(lambda: op.jetstream().account_info(), 60, "JetStream meta leader")

    # the compose one-shot job, as bootstrap, at 3 replicas
    job_env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFINGS_")}
    job_env.update(
        BRIEFINGS_NATS_URL=c.url,
        BRIEFINGS_NATS_USER="bootstrap",
        BRIEFINGS_NATS_PASSWORD=passwords["bootstrap"],
        BRIEFINGS_STREAM_REPLICAS="3",
    )

    async def init_streams(*args: str) -> str:
        job = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "briefings", "ops", "init-streams", *args],
            env=job_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert job.returncode == 0, job.stdout + job.stderr
        return job.stdout

    # as a single-node deployment had them (R1), then grown into the cluster (R3)
    assert "ROSTER: R1" in await init_streams("--replicas", "1")
    assert "ROSTER: R1 -> R3" in await init_streams()
    for stream in ("ROSTER", "EVENTS", "AWARDS", "DLQ"):
        info = await op.jetstream().stream_info(stream)
        assert info.config.num_replicas == 3 and info.config.deny_delete

    services = {}
    for name in ("roster", "reporting"):
        s = settings_for(
            c.url, tmp_path / f"data-{name}", nats_user=name, nats_password=passwords[name]
        )
        services[name] = ServiceProcess(name, s, tmp_path / f"{name}.log").start()
    clerk = await connect(c.url, "clerk", passwords["clerk"])
    try:
        for name in services:
            await until(lambda n=name: _healthy(clerk, n), 120, f"{name} healthy")

        acknowledged: dict[str, str] = {}
        acked_at: list[float] = []
        sent: set[str] = set()
        stop = asyncio.Event()
        give_up_at = time.monotonic() + 90

        async def worker() -> None:
            while not stop.is_set():
                command_id = str(uuid.uuid4())
                sent.add(command_id)
                reply = await send(clerk, command_id, give_up_at)
                if reply is not None:
                    acknowledged[command_id] = reply["aggregate_id"]
                    acked_at.append(time.monotonic())

        tasks = [asyncio.create_task(worker()) for _ in range(WORKERS)]
        await until(lambda: len(acknowledged) >= 20, 60, "load started")
        placement = (await op.jetstream().stream_info("ROSTER")).cluster
        assert placement is not None and placement.leader is not None
        leader = placement.leader
        victim = c.node(leader)
        victim.kill()  # SIGKILL: no goodbye to the cluster
        killed_at = time.monotonic()
        before_kill = len(acknowledged)
        await until(lambda: len(acknowledged) >= before_kill + 20, 60, "load after the kill")
        await asyncio.sleep(2)
        victim.start()
        after_restart = len(acknowledged)
        await until(lambda: len(acknowledged) >= after_restart + 20, 60, "load after restart")
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 100)
        assert sent == set(acknowledged), "every command was acknowledged in the end"

        # the restarted node has caught up: every replica current
        async def replicas_current() -> bool:
            info = await op.jetstream().stream_info("ROSTER")
            peers = (info.cluster.replicas if info.cluster else None) or []
            return len(peers) == 2 and all(p.current for p in peers)

        await until(replicas_current, 60, "replicas current")

        # every acknowledged command's event, exactly once
        es = EventStore(op)
        by_command: Counter[str] = Counter()
        subjects: dict[str, str] = {}
        async for stored in es.iterate("ROSTER"):
            command_id = stored.envelope().command_id or ""
            by_command[command_id] += 1
            subjects[command_id] = stored.subject
        assert set(by_command) == set(acknowledged)
        duplicated = {k: n for k, n in by_command.items() if n != 1}
        assert duplicated == {}
        for command_id, unit_id in acknowledged.items():
            assert subjects[command_id] == f"ev.roster.unit.{unit_id}"

        # the read models agree with the stream
        last = (await op.jetstream().stream_info("ROSTER")).state.last_seq
        assert last == len(acknowledged)
        units = await until(lambda: _units(clerk, len(acknowledged)), 30, "roster view")
        assert {u["unit_id"] for u in units} == set(acknowledged.values())
        await until(lambda: _reporting_applied(clerk, last), 60, "reporting caught up")
        for proc in services.values():
            assert proc.proc is not None and proc.proc.poll() is None, proc.log()[-3000:]
        times = sorted(acked_at)
        gap = max((b - a for a, b in itertools.pairwise(times) if b > killed_at), default=0.0)
        print(
            f"cluster: {len(acknowledged)} commands acknowledged, leader {leader} killed "
            f"after {before_kill}, restarted after {after_restart}; longest pause in "
            f"acknowledgements after the kill {gap:.2f}s"
        )
    finally:
        for proc in services.values():
            with contextlib.suppress(Exception):
                proc.terminate(30)
            proc.kill()
        await clerk.close()
        await op.close()


async def _healthy(nc: Client, service: str) -> bool:
    msg = await nc.request(f"health.{service}", b"{}", timeout=2)
    return bool(json.loads(msg.data).get("healthy"))


async def _units(nc: Client, expected: int) -> list[dict[str, Any]] | None:
    msg = await nc.request("qry.roster.list_units", b"{}", timeout=5)
    units: list[dict[str, Any]] = json.loads(msg.data)["data"]
    return units if len(units) >= expected else None


async def _reporting_applied(nc: Client, last: int) -> bool:
    msg = await nc.request("health.reporting", b"{}", timeout=2)
    reply = json.loads(msg.data)
    lag = reply["detail"]["lag"]["ROSTER"]
    return bool(reply["healthy"]) and lag["applied"] == lag["last"] == last
