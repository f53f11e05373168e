"""The attacker suite's parts: a real nats-server with the deployment's configuration and one
with the embedded default's (as ``briefings up`` writes it), a connection per user that records the
server's permission refusals, and the state every attack must leave unchanged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.js import api as js_api

from briefings.access import DEPLOY_ROLES, ensure_embedded_access, password_variable, subscriber
from contracts.subjects import ISSUED_REPORTS_STREAM, event_streams
from runtime.deadletter import ensure_dlq_stream
from runtime.eventstore import EventStore
from runtime.nats_server import NatsServer, free_port
from runtime.settings import credentials_path
from services.reporting.adapters.consumer import durable_name
from services.roster.adapters.codes import CodeReservations
from tests.deploy.compose import NATS_DIR, filled_env

USERS = DEPLOY_ROLES
REPORTING_DURABLE = durable_name(1, "ROSTER")
SUBSCRIBER_DURABLE = dict(subscriber().consumers)["AWARDS"]


class Principal:
    """One user's connection that records the server's permission refusals."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.nc: Client | None = None
        self.errors: list[str] = []
        self._changed = asyncio.Event()

    async def connect(self, url: str, password: str) -> Principal:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc))
            self._changed.set()

        self.nc = await nats.connect(
            url,
            user=self.user,
            password=password,
            error_cb=on_error,
            max_reconnect_attempts=0,
            connect_timeout=5,
            # the subscriber may listen on its own inbox prefix only
            inbox_prefix=f"_INBOX_{self.user}" if self.user == "subscriber" else "_INBOX",
        )
        return self

    @property
    def client(self) -> Client:
        assert self.nc is not None
        return self.nc

    async def refused(self, kind: str, subject: str, timeout: float = 10) -> str:
        """Wait for the server's ``Permissions Violation for <kind> to "<subject>"``."""
        needle = f'permissions violation for {kind} to "{subject}"'.lower()
        async with asyncio.timeout(timeout):
            while True:
                for err in self.errors:
                    if needle in err.lower():
                        return err
                self._changed.clear()
                await self._changed.wait()

    async def attempt(self, subject: str, body: bytes = b"{}") -> None:
        await self.client.publish(subject, body, reply=self.client.new_inbox())

    async def try_publish(self, subject: str, body: bytes = b"{}") -> str:
        await self.attempt(subject, body)
        await self.client.flush()
        return await self.refused("Publish", subject)

    async def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()


@dataclass
class Secured:
    server: NatsServer
    passwords: dict[str, str]
    kind: str

    @property
    def url(self) -> str:
        return self.server.url


def deployed_server(tmp_path: Path) -> Secured:
    """nats-server with deploy/nats/nats.conf and fresh passwords in its environment."""
    env = filled_env()
    server = NatsServer(
        tmp_path / "nats",
        config_file=NATS_DIR / "nats.conf",
        extra_args=["-m", str(free_port())],
        env=env,
        log_file=tmp_path / "nats.log",
    ).start()
    return Secured(server, {u: env[password_variable(u)] for u in USERS}, "deploy")


def embedded_server(tmp_path: Path) -> Secured:
    """nats-server with the configuration ``briefings up`` writes into its data folder
    (briefings/supervisor.py), its passwords read back from the credential files."""
    data = tmp_path / "data"
    config = ensure_embedded_access(data)
    server = NatsServer(data / "nats", config_file=config, log_file=tmp_path / "nats.log").start()
    passwords = {}
    for user in USERS:
        found = json.loads(credentials_path(data, user).read_text())
        assert found["user"] == user
        passwords[user] = str(found["password"])
    return Secured(server, passwords, "embedded")


@pytest.fixture(params=["deploy", "embedded"])
def deployed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Secured]:
    """The deployment's configuration and the embedded default's: the same attacks on both."""
    make = deployed_server if request.param == "deploy" else embedded_server
    secured = make(tmp_path)
    yield secured
    secured.server.stop()


async def seed(who: dict[str, Principal]) -> None:
    """The deployment's set-up: bootstrap makes the streams and the KV bucket; roster writes
    one event; reporting and the subscriber make their durables."""
    es = EventStore(who["bootstrap"].client)
    await es.ensure_streams([*event_streams(), ISSUED_REPORTS_STREAM])
    await ensure_dlq_stream(es.js)
    await CodeReservations().open(es.js)
    roster = who["roster"].client.jetstream()
    await roster.publish("ev.roster.unit.u1", b'{"seed": true}', stream="ROSTER")
    await (
        who["reporting"]
        .client.jetstream()
        .add_consumer(
            "ROSTER",
            js_api.ConsumerConfig(durable_name=REPORTING_DURABLE, ack_policy=js_api.AckPolicy.ALL),
        )
    )
    await (
        who["subscriber"]
        .client.jetstream()
        .add_consumer(
            "AWARDS",
            js_api.ConsumerConfig(
                durable_name=SUBSCRIBER_DURABLE, ack_policy=js_api.AckPolicy.EXPLICIT
            ),
        )
    )


@pytest_asyncio.fixture
async def who(deployed: Secured) -> AsyncIterator[dict[str, Principal]]:
    principals = {u: await Principal(u).connect(deployed.url, deployed.passwords[u]) for u in USERS}
    await seed(principals)
    yield principals
    for p in principals.values():
        await p.close()


async def snapshot(nc: Client) -> dict[str, Any]:
    """What no attack may change: every stream's config and state, every consumer's config
    and progress (read as the operator)."""
    js = nc.jetstream()
    out: dict[str, Any] = {}
    for info in await js.streams_info():
        name = info.config.name
        config = info.config.as_dict()
        state = info.state
        consumers = {}
        for c in await js.consumers_info(name):
            cfg = c.config.as_dict()
            consumers[c.name] = (cfg, c.ack_floor.stream_seq if c.ack_floor else 0)
        out[str(name)] = (
            json.dumps(config, sort_keys=True),
            state.messages,
            state.last_seq,
            consumers,
        )
    return out
