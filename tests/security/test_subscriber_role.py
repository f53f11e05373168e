"""The subscriber role (issue #20) against a real nats-server with deploy/nats/nats.conf and
one with the embedded default's configuration (as ``briefings up`` writes it): it follows the
event streams through its own durable consumers and every other action is refused by the
server, with the data unchanged. (tests/security/test_attacks.py attacks it among every user.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import api as js_api

from contracts.subjects import ISSUED_REPORTS_STREAM, event_streams
from runtime.deadletter import ensure_dlq_stream
from runtime.eventstore import EventStore
from services.reporting.adapters.consumer import durable_name
from tests.security.support import Secured

# The template's names: one durable per stream, subscriber_<STREAM>; its own inboxes.
SUBSCRIBER = "subscriber"
OWN = "subscriber_AWARDS"
INBOX = "_INBOX_subscriber"
OTHERS = durable_name(1, "ROSTER")  # reporting's durable consumer


class Principal:
    """One user's connection that records the server's permission refusals."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.nc: Client | None = None
        self.errors: list[str] = []
        self._changed = asyncio.Event()

    async def connect(self, url: str, password: str, **options: object) -> Principal:
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
            **options,
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

    async def try_publish(self, subject: str, body: bytes = b"{}") -> str:
        await self.client.publish(subject, body, reply=self.client.new_inbox())
        await self.client.flush()
        return await self.refused("Publish", subject)

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()


@pytest_asyncio.fixture
async def who(deployed: Secured) -> AsyncIterator[dict[str, Principal]]:
    """On the deployment's configuration and on the embedded default's (``deployed``):
    streams made by bootstrap, one event in each stream, reporting's durable consumer, and
    the subscriber connected with its own inbox prefix."""
    url, passwords = deployed.url, deployed.passwords
    users = ("bootstrap", "operator", "roster", "events", "awards", "reporting")
    principals = {u: await Principal(u).connect(url, passwords[u]) for u in users}
    principals[SUBSCRIBER] = await Principal(SUBSCRIBER).connect(
        url, passwords[SUBSCRIBER], inbox_prefix=INBOX
    )
    es = EventStore(principals["bootstrap"].client)
    await es.ensure_streams([*event_streams(), ISSUED_REPORTS_STREAM])
    await ensure_dlq_stream(es.js)
    for context, subject in (
        ("roster", "ev.roster.unit.u1"),
        ("events", "ev.events.conference.c1"),
        ("awards", "ev.awards.award.a1"),
        ("reporting", "ev.reporting.report.r1"),
    ):
        js = principals[context].client.jetstream()
        await js.publish(subject, b'{"seed": true}', stream=context.upper())
    await (
        principals["reporting"]
        .client.jetstream()
        .add_consumer(
            "ROSTER",
            js_api.ConsumerConfig(durable_name=OTHERS, ack_policy=js_api.AckPolicy.ALL),
        )
    )
    yield principals
    for p in principals.values():
        await p.close()


async def messages(who: dict[str, Principal], stream: str) -> int:
    info = await who["operator"].client.jetstream().stream_info(stream)
    return int(info.state.messages)


# ------------------------------------------------------------------ what it may do


async def test_the_subscriber_follows_every_event_stream_with_its_own_durable(
    who: dict[str, Principal],
) -> None:
    sub = who[SUBSCRIBER]
    js = sub.client.jetstream()
    for stream, context in (
        ("ROSTER", "roster"),
        ("EVENTS", "events"),
        ("AWARDS", "awards"),
        ("REPORTING", "reporting"),  # issued reports
    ):
        own = f"{SUBSCRIBER}_{stream}"
        pull = await js.pull_subscribe(f"ev.{context}.>", durable=own, stream=stream)
        [msg] = await pull.fetch(1, timeout=5)
        assert json.loads(msg.data) == {"seed": True}
        await msg.ack_sync()
        info = await js.consumer_info(stream, own)
        assert info.ack_floor.stream_seq == 1
        await pull.unsubscribe()
    # it may remove its own consumer (to follow again from the first event)
    assert await js.delete_consumer("AWARDS", OWN)
    assert sub.errors == []


# --------------------------------------------------------------- what it may not do


@pytest.mark.parametrize(
    ("subject", "stream"),
    [
        ("ev.roster.member.forged", "ROSTER"),
        ("ev.events.conference.forged", "EVENTS"),
        ("ev.awards.award.forged", "AWARDS"),
        ("ev.reporting.report.forged", "REPORTING"),
        ("dlq.reporting.ROSTER.letter", "DLQ"),
    ],
)
async def test_the_subscriber_cannot_write_an_event_or_a_dead_letter(
    who: dict[str, Principal], subject: str, stream: str
) -> None:
    before = await messages(who, stream)
    sub = who[SUBSCRIBER]
    with pytest.raises((NatsTimeoutError, NoRespondersError)):
        await sub.client.jetstream(timeout=1).publish(subject, b'{"forged": true}', stream=stream)
    await sub.refused("Publish", subject)
    assert await messages(who, stream) == before


@pytest.mark.parametrize(
    "subject",
    [
        "cmd.roster.register_unit",
        "cmd.awards.grant_award",
        "cmd.reporting.rebuild",
        "qry.reporting.annual_summary",
        "qry.roster.list_members",
        "health.roster",
        "$KV.roster_external_codes.c_x",
    ],
)
async def test_the_subscriber_sends_no_command_query_or_kv_write(
    who: dict[str, Principal], subject: str
) -> None:
    await who[SUBSCRIBER].try_publish(subject)


async def test_the_subscriber_cannot_touch_another_consumer(who: dict[str, Principal]) -> None:
    """Reporting's durable consumer: not created over, updated, read, driven, acked for or
    deleted; and no consumer of its own name on a stream that is no event stream."""
    sub = who[SUBSCRIBER]
    config = js_api.ConsumerConfig(
        durable_name=OTHERS, ack_policy=js_api.AckPolicy.ALL, headers_only=True
    )
    body = json.dumps({"stream_name": "ROSTER", "config": config.as_dict()}).encode()
    for subject in (
        f"$JS.API.CONSUMER.DURABLE.CREATE.ROSTER.{OTHERS}",
        f"$JS.API.CONSUMER.CREATE.ROSTER.{OTHERS}",
        f"$JS.API.CONSUMER.CREATE.ROSTER.{OTHERS}.ev.roster.>",
        f"$JS.API.CONSUMER.INFO.ROSTER.{OTHERS}",
        f"$JS.API.CONSUMER.DELETE.ROSTER.{OTHERS}",
        f"$JS.API.CONSUMER.MSG.NEXT.ROSTER.{OTHERS}",
        f"$JS.ACK.ROSTER.{OTHERS}.1.1.1.0.0",
        "$JS.API.CONSUMER.CREATE.ROSTER",  # an unnamed (ephemeral) consumer
        "$JS.API.CONSUMER.LIST.ROSTER",
        "$JS.API.CONSUMER.NAMES.ROSTER",
        f"$JS.API.CONSUMER.CREATE.ROSTER.{OWN}",  # its AWARDS name on another stream
        f"$JS.API.CONSUMER.CREATE.DLQ.{SUBSCRIBER}_DLQ",
        f"$JS.API.CONSUMER.CREATE.DLQ.{SUBSCRIBER}_DLQ.dlq.>",
        f"$JS.API.CONSUMER.CREATE.KV_roster_external_codes.{SUBSCRIBER}_KV",
    ):
        await sub.try_publish(subject, body)
    info = await who["reporting"].client.jetstream().consumer_info("ROSTER", OTHERS)
    assert info.ack_floor.stream_seq == 0 and info.num_pending == 1
    assert not info.config.headers_only
    assert info.config.ack_policy == js_api.AckPolicy.ALL


async def test_the_subscriber_cannot_change_or_read_around_a_stream(
    who: dict[str, Principal],
) -> None:
    """No stream create/update (limits, subjects, transforms, sources, mirrors), delete,
    purge or message delete; no direct reads outside its consumers."""
    op_js = who["operator"].client.jetstream()
    before = await op_js.stream_info("AWARDS")
    sub = who[SUBSCRIBER]
    cut = {**before.config.as_dict(), "max_msgs": 3, "discard": "old"}
    transform = {
        **before.config.as_dict(),
        "subjects": ["ev.awards.>", "cmd.forge.>"],
        "subject_transform": {"src": "cmd.forge.>", "dest": "ev.roster.>"},
    }
    mirror = {"name": "SHADOW", "mirror": {"name": "AWARDS"}}
    sourced = {**before.config.as_dict(), "sources": [{"name": "ROSTER"}]}
    for subject, request in (
        ("$JS.API.STREAM.UPDATE.AWARDS", cut),
        ("$JS.API.STREAM.UPDATE.AWARDS", transform),
        ("$JS.API.STREAM.UPDATE.AWARDS", sourced),
        ("$JS.API.STREAM.CREATE.SHADOW", mirror),
        ("$JS.API.STREAM.DELETE.AWARDS", {}),
        ("$JS.API.STREAM.PURGE.AWARDS", {}),
        ("$JS.API.STREAM.MSG.DELETE.AWARDS", {"seq": 1}),
        ("$JS.API.STREAM.MSG.GET.AWARDS", {"seq": 1}),
        ("$JS.API.DIRECT.GET.AWARDS", {"seq": 1}),
        ("$JS.API.DIRECT.GET.AWARDS.ev.awards.award.a1", {}),
        ("$JS.API.STREAM.INFO.DLQ", {}),
        ("$JS.API.STREAM.INFO.KV_roster_external_codes", {}),
    ):
        await sub.try_publish(subject, json.dumps(request).encode())
    after = await op_js.stream_info("AWARDS")
    assert after.config == before.config
    assert after.state.messages == before.state.messages == 1
    names = {s.config.name for s in await op_js.streams_info()}
    assert "SHADOW" not in names


@pytest.mark.parametrize("subject", ["_INBOX.>", "ev.>", "cmd.>", "qry.>", "$JS.ACK.>", ">"])
async def test_the_subscriber_cannot_listen_outside_its_inbox(
    who: dict[str, Principal], subject: str
) -> None:
    """Not other clients' replies (query results), nor the raw subjects."""
    sub = who[SUBSCRIBER]
    await sub.client.subscribe(subject)
    await sub.client.flush()
    await sub.refused("Subscription", subject)
