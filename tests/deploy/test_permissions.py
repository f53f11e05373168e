"""The NATS permission model, for real: with each user's credentials, what it must not do is
refused by the server (a permissions violation), and nothing is written."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import api as js_api

from contracts.subjects import DLQ_STREAM, event_streams
from runtime.deadletter import ensure_dlq_stream
from runtime.eventstore import EventStore
from runtime.nats_server import NatsServer, free_port
from services.reporting.adapters.consumer import durable_name
from tests.deploy.compose import NATS_DIR, filled_env, nats_users

USERS = ("roster", "events", "awards", "reporting", "auditor", "clerk", "operator")
REPORTING_DURABLE = durable_name(1, "ROSTER")


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
        )
        return self

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

    async def try_publish(self, subject: str, body: bytes = b"{}") -> str:
        assert self.nc is not None
        await self.nc.publish(subject, body, reply=self.nc.new_inbox())
        await self.nc.flush()
        return await self.refused("Publish", subject)

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[NatsServer, dict[str, str]]]:
    """nats-server with deploy/nats/nats.conf and fresh passwords in its environment."""
    env = filled_env()
    users = nats_users()
    server = NatsServer(
        tmp_path / "nats",
        config_file=NATS_DIR / "nats.conf",
        extra_args=["-m", str(free_port())],
        env=env,
        log_file=tmp_path / "nats.log",
    ).start()
    yield server, {u: env[users[u]] for u in USERS}
    server.stop()


@pytest_asyncio.fixture
async def who(secured: tuple[NatsServer, dict[str, str]]) -> AsyncIterator[dict[str, Principal]]:
    server, passwords = secured
    principals = {u: await Principal(u).connect(server.url, passwords[u]) for u in USERS}
    # the deployment's set-up: the operator makes the streams; roster writes one event;
    # reporting makes its durable consumer
    op = principals["operator"].nc
    assert op is not None
    es = EventStore(op)
    await es.ensure_streams(event_streams())
    await ensure_dlq_stream(es.js)
    roster = principals["roster"].nc
    assert roster is not None
    await roster.jetstream().publish("ev.roster.unit.u1", b'{"seed": true}', stream="ROSTER")
    reporting = principals["reporting"].nc
    assert reporting is not None
    await reporting.jetstream().add_consumer(
        "ROSTER",
        js_api.ConsumerConfig(durable_name=REPORTING_DURABLE, ack_policy=js_api.AckPolicy.ALL),
    )
    yield principals
    for p in principals.values():
        await p.close()


async def stored(who: dict[str, Principal], stream: str, subject: str) -> int:
    """Messages on ``subject`` (operator's view)."""
    op = who["operator"].nc
    assert op is not None
    info = await op.jetstream().stream_info(stream, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


# ------------------------------------------------------------------ positive controls


async def test_each_user_can_do_its_own_job(who: dict[str, Principal]) -> None:
    roster = who["roster"].nc
    assert roster is not None
    ack = await roster.jetstream().publish("ev.roster.member.m1", b"{}", stream="ROSTER")
    assert ack.seq == 2
    auditor = who["auditor"].nc
    assert auditor is not None
    seen: list[int] = []
    sub = await auditor.jetstream().subscribe("ev.roster.>", stream="ROSTER", ordered_consumer=True)
    for _ in range(2):
        msg = await sub.next_msg(timeout=5)
        seen.append(msg.metadata.sequence.stream)
    await sub.unsubscribe()
    assert seen == [1, 2]
    last = await auditor.jetstream().get_last_msg("ROSTER", "ev.roster.member.m1", direct=True)
    assert last.seq == 2
    reporting = who["reporting"].nc
    assert reporting is not None
    pull = await reporting.jetstream().pull_subscribe_bind(
        durable=REPORTING_DURABLE, stream="ROSTER"
    )
    msgs = await pull.fetch(2, timeout=5)
    await msgs[-1].ack_sync()
    assert all(p.errors == [] for p in who.values()), {u: p.errors for u, p in who.items()}


# ------------------------------------------------------------------- forbidden writes


@pytest.mark.parametrize(
    ("user", "subject", "stream"),
    [
        ("reporting", "ev.roster.unit.forged", "ROSTER"),  # reporting publishing a roster event
        ("roster", "ev.awards.award.forged", "AWARDS"),  # roster publishing an award
        ("events", "ev.roster.member.forged", "ROSTER"),
        ("awards", "ev.events.conference.forged", "EVENTS"),
        ("auditor", "ev.roster.unit.forged", "ROSTER"),
        ("clerk", "ev.roster.unit.forged", "ROSTER"),
        ("operator", "ev.roster.unit.forged", "ROSTER"),
        ("auditor", "dlq.reporting.ROSTER.letter", "DLQ"),
    ],
)
async def test_an_event_outside_the_users_domain_is_refused(
    who: dict[str, Principal], user: str, subject: str, stream: str
) -> None:
    nc = who[user].nc
    assert nc is not None
    with pytest.raises((NatsTimeoutError, NoRespondersError)):
        await nc.jetstream(timeout=1).publish(subject, b'{"forged": true}', stream=stream)
    await who[user].refused("Publish", subject)
    assert await stored(who, stream, subject) == 0


@pytest.mark.parametrize("user", ["auditor", "reporting"])
async def test_auditors_and_reporting_cannot_send_commands(
    who: dict[str, Principal], user: str
) -> None:
    await who[user].try_publish("cmd.roster.register_unit")
    await who[user].try_publish("$KV.roster_external_codes.c_x")


# --------------------------------------------------- auditors and reporting's consumers


async def test_an_auditor_cannot_create_or_drive_a_consumer_that_acks_for_reporting(
    who: dict[str, Principal],
) -> None:
    auditor = who["auditor"]
    assert auditor.nc is not None
    config = js_api.ConsumerConfig(durable_name=REPORTING_DURABLE, ack_policy=js_api.AckPolicy.ALL)
    body = json.dumps({"stream_name": "ROSTER", "config": config.as_dict()}).encode()
    for subject in (
        f"$JS.API.CONSUMER.DURABLE.CREATE.ROSTER.{REPORTING_DURABLE}",
        f"$JS.API.CONSUMER.CREATE.ROSTER.{REPORTING_DURABLE}",
        f"$JS.API.CONSUMER.CREATE.ROSTER.{REPORTING_DURABLE}.ev.roster.>",
        f"$JS.API.CONSUMER.DELETE.ROSTER.{REPORTING_DURABLE}",
        f"$JS.API.CONSUMER.MSG.NEXT.ROSTER.{REPORTING_DURABLE}",
        f"$JS.ACK.ROSTER.{REPORTING_DURABLE}.1.1.1.0.0",
    ):
        await auditor.try_publish(subject, body)
    # the legacy ephemeral subject it may use refuses a durable name (server-side check)
    reply = await auditor.nc.request("$JS.API.CONSUMER.CREATE.ROSTER", body, timeout=5)
    assert "error" in json.loads(reply.data)
    # reporting's consumer is untouched: nothing acknowledged, one message pending
    reporting = who["reporting"].nc
    assert reporting is not None
    info = await reporting.jetstream().consumer_info("ROSTER", REPORTING_DURABLE)
    assert info.ack_floor.stream_seq == 0 and info.num_pending == 1
    assert info.config.ack_policy == js_api.AckPolicy.ALL


# ------------------------------------------------------------- nobody deletes a stream


@pytest.mark.parametrize("user", USERS)
async def test_nobody_can_delete_or_purge_a_stream(who: dict[str, Principal], user: str) -> None:
    principal = who[user]
    assert principal.nc is not None
    with pytest.raises((NatsTimeoutError, NoRespondersError)):
        await principal.nc.jetstream(timeout=1).delete_stream("ROSTER")
    await principal.refused("Publish", "$JS.API.STREAM.DELETE.ROSTER")
    for stream in ("EVENTS", "AWARDS", DLQ_STREAM.name):
        await principal.try_publish(f"$JS.API.STREAM.DELETE.{stream}")
    await principal.try_publish("$JS.API.STREAM.PURGE.ROSTER")
    await principal.try_publish("$JS.API.STREAM.MSG.DELETE.ROSTER", b'{"seq": 1}')
    op = who["operator"].nc
    assert op is not None
    names = {s.config.name for s in await op.jetstream().streams_info()}
    assert {"ROSTER", "EVENTS", "AWARDS", "DLQ"} <= names
    assert await stored(who, "ROSTER", "ev.roster.unit.u1") == 1


async def test_a_connection_without_credentials_is_refused(
    secured: tuple[NatsServer, dict[str, str]],
) -> None:
    server, passwords = secured
    for options in ({}, {"user": "roster", "password": passwords["auditor"]}):
        with pytest.raises(Exception, match=r"[Aa]uthorization"):
            await nats.connect(
                server.url,
                max_reconnect_attempts=0,
                allow_reconnect=False,
                connect_timeout=3,
                **options,
            )
