"""As every user (and anonymously), every write it must not have, against a real nats-server
with the deployment's configuration: each is refused by the server (a permissions violation)
and nothing changes (streams' configs and contents, consumers' configs and progress)."""

from __future__ import annotations

import json

import nats
import pytest

from briefings.access import KV_BUCKET
from contracts.subjects import CONTEXTS
from tests.security.support import (
    REPORTING_DURABLE,
    SUBSCRIBER_DURABLE,
    USERS,
    Principal,
    Secured,
    snapshot,
)

STREAMS = ("ROSTER", "EVENTS", "AWARDS", "REPORTING", "DLQ", f"KV_{KV_BUCKET}")
EVERYONE = frozenset(USERS)


def _stream(name: str, **config: object) -> bytes:
    return json.dumps({"name": name, "subjects": [f"ev.{name.lower()}.>"], **config}).encode()


def _consumer(stream: str, name: str | None, **config: object) -> bytes:
    body: dict[str, object] = {"ack_policy": "none", **config}
    if name:
        body["name"] = name
        body["durable_name"] = name
    return json.dumps({"stream_name": stream, "config": body}).encode()


def attacks() -> list[tuple[str, bytes, frozenset[str]]]:
    """``(subject, body, users allowed to publish there)``: everyone else is refused."""
    out: list[tuple[str, bytes, frozenset[str]]] = []
    # forging events, on every context's subjects
    for context in (*CONTEXTS, "reporting"):
        out.append((f"ev.{context}.unit.forged", b'{"forged": true}', frozenset({context})))
    out.append((f"$KV.{KV_BUCKET}.c_forged", b"{}", frozenset({"roster"})))
    # stream configuration: limits, discard, subjects with a transform, sources, mirrors
    for stream in STREAMS:
        for body in (
            _stream(stream, max_msgs=3, discard="old"),
            _stream(
                stream,
                subjects=["cmd.forge.>"],
                subject_transform={"src": "cmd.forge.>", "dest": "ev.roster.>"},
            ),
            _stream(stream, sources=[{"name": "ROSTER"}]),
        ):
            out.append((f"$JS.API.STREAM.UPDATE.{stream}", body, frozenset({"bootstrap"})))
        for api in ("DELETE", "PURGE", "MSG.DELETE"):
            out.append((f"$JS.API.STREAM.{api}.{stream}", b'{"seq": 1}', frozenset()))
    for body in (
        _stream("FORGED", mirror={"name": "ROSTER"}, subjects=[]),
        _stream("FORGED", sources=[{"name": "ROSTER"}]),
    ):
        out.append(("$JS.API.STREAM.CREATE.FORGED", body, frozenset()))
    out.append(("$JS.API.STREAM.RESTORE.FORGED", b"{}", frozenset()))
    # others' consumers: reporting's durable on ROSTER, the subscriber's on AWARDS
    for stream, name, owner in (
        ("ROSTER", REPORTING_DURABLE, "reporting"),
        ("AWARDS", SUBSCRIBER_DURABLE, "subscriber"),
    ):
        hijack = _consumer(stream, name, headers_only=True)
        owned = frozenset({owner})
        out += [
            # the legacy unnamed create takes any name from its body: nobody has it
            (f"$JS.API.CONSUMER.CREATE.{stream}", hijack, frozenset()),
            (f"$JS.API.CONSUMER.CREATE.{stream}.{name}", hijack, owned),
            (f"$JS.API.CONSUMER.CREATE.{stream}.{name}.ev.>", hijack, owned),
            (f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{name}", hijack, owned),
            (f"$JS.API.CONSUMER.DELETE.{stream}.{name}", b"", owned),
            (f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}", b'{"batch": 1}', owned),
            (f"$JS.ACK.{stream}.{name}.1.1.1.0.0", b"", owned),
        ]
    # a push consumer delivering onto a request subject (finding 1's heartbeat trick)
    for stream in ("ROSTER", "EVENTS", "AWARDS"):
        onto_cmd = _consumer(
            stream, "attacker", deliver_subject="cmd.reporting.rebuild", idle_heartbeat=10**9
        )
        out.append((f"$JS.API.CONSUMER.CREATE.{stream}.attacker", onto_cmd, frozenset()))
        out.append((f"$JS.API.CONSUMER.CREATE.{stream}", onto_cmd, frozenset()))
    # operator-only requests; dead letters of another service
    out.append(("cmd.reporting.rebuild", b"{}", frozenset({"operator"})))
    out.append(("cmd.roster.dlq_retry", b"{}", frozenset({"operator"})))
    out.append(("dlq.reporting.ROSTER.letter", b"{}", frozenset({"reporting"})))
    out.append(("dlq.roster.roster:ROSTER.letter", b"{}", frozenset({"roster"})))
    return out


ATTACKS = attacks()


@pytest.mark.parametrize("user", USERS)
async def test_every_forbidden_write_is_refused_and_changes_nothing(
    who: dict[str, Principal], user: str
) -> None:
    principal = who[user]
    before = await snapshot(who["operator"].client)
    refused = [(s, b) for s, b, allowed in ATTACKS if user not in allowed]
    assert len(refused) > 40
    for subject, body in refused:
        await principal.attempt(subject, body)
    await principal.client.flush()
    for subject, _ in refused:
        await principal.refused("Publish", subject)
    assert await snapshot(who["operator"].client) == before
    assert not principal.client.is_closed


async def test_an_anonymous_or_wrong_password_connection_is_refused(deployed: Secured) -> None:
    for options in (
        {},
        {"user": "roster", "password": deployed.passwords["auditor"]},
        {"user": "nobody", "password": "x"},
    ):
        with pytest.raises(Exception, match=r"[Aa]uthorization"):
            await nats.connect(
                deployed.url,
                max_reconnect_attempts=0,
                allow_reconnect=False,
                connect_timeout=3,
                **options,
            )
