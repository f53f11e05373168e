"""Issue #13's findings 1-3, each as the reviewer ran it, against a real nats-server with the
deployment's configuration (findings 4 and the embedded default: test_embedded.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from nats.js import api as js_api

from contracts.subjects import event_streams
from runtime.deadletter import DeadLetter, ensure_dlq_stream, read_letters, set_aside
from runtime.eventstore import EventStore
from tests.security.support import (
    REPORTING_DURABLE,
    SUBSCRIBER_DURABLE,
    Principal,
    Secured,
    snapshot,
)
from tests.support import request, running_service, settings_for


async def test_finding_1_the_auditor_cannot_update_reportings_consumer(
    who: dict[str, Principal],
) -> None:
    """``$JS.API.CONSUMER.CREATE.ROSTER`` naming reporting's durable with headers_only."""
    before = await snapshot(who["operator"].client)
    body = {
        "stream_name": "ROSTER",
        "config": {
            "name": REPORTING_DURABLE,
            "durable_name": REPORTING_DURABLE,
            "headers_only": True,
            "ack_policy": "all",
        },
    }
    for user in ("auditor", "roster", "events", "awards", "subscriber", "operator", "clerk"):
        await who[user].try_publish("$JS.API.CONSUMER.CREATE.ROSTER", json.dumps(body).encode())
    info = await who["reporting"].client.jetstream().consumer_info("ROSTER", REPORTING_DURABLE)
    assert not info.config.headers_only
    assert await snapshot(who["operator"].client) == before


async def test_finding_1_what_a_consumer_delivers_onto_a_request_subject_is_ignored(
    deployed: Secured, who: dict[str, Principal], tmp_path: Path
) -> None:
    """The one role that may create a push consumer (its own durable) points it at
    ``cmd.reporting.rebuild`` with idle heartbeats: reporting neither rebuilds nor acks."""
    settings = settings_for(deployed.url, tmp_path / "data").with_(
        nats_user="reporting", nats_password=deployed.passwords["reporting"]
    )
    awards = who["awards"].client.jetstream()
    await awards.publish("ev.awards.award.a1", b'{"not": "an event"}', stream="AWARDS")
    operator = who["operator"].client
    async with running_service("reporting", settings):
        before = (await request(operator, "qry.reporting.status", {}))["data"]["generation"]
        js = who["subscriber"].client.jetstream()
        await js.delete_consumer("AWARDS", SUBSCRIBER_DURABLE)
        await js.add_consumer(
            "AWARDS",
            js_api.ConsumerConfig(
                durable_name=SUBSCRIBER_DURABLE,
                deliver_subject="cmd.reporting.rebuild",
                deliver_group="reporting-workers",  # reporting's queue group
                ack_policy=js_api.AckPolicy.EXPLICIT,
                ack_wait=0.5,
                idle_heartbeat=0.5,
            ),
        )
        # Wait until the stored message was delivered there three times: nobody acked it.
        while True:
            info = await js.consumer_info("AWARDS", SUBSCRIBER_DURABLE)
            if info.delivered is not None and (info.delivered.consumer_seq or 0) >= 3:
                break
            await asyncio.sleep(0.1)
        assert (info.ack_floor.stream_seq if info.ack_floor else 0) == 0
        after = (await request(operator, "qry.reporting.status", {}))["data"]
        assert after["generation"] == before and after.get("rebuild") is None
        await js.delete_consumer("AWARDS", SUBSCRIBER_DURABLE)


async def test_finding_2_the_operator_cannot_cut_or_forge_history_by_stream_update(
    who: dict[str, Principal],
) -> None:
    roster = who["roster"].client.jetstream()
    for n in range(5):
        await roster.publish(f"ev.roster.unit.u{n}", b"{}", stream="ROSTER")
    before = await snapshot(who["operator"].client)
    op = who["operator"]
    info = await op.client.jetstream().stream_info("ROSTER")
    cut = info.config.as_dict() | {"max_msgs": 3, "discard": "old"}
    forge = info.config.as_dict() | {
        "subjects": ["ev.roster.>", "cmd.forge.>"],
        "subject_transform": {"src": "cmd.forge.>", "dest": "ev.roster.>"},
    }
    for config in (cut, forge):
        await op.try_publish("$JS.API.STREAM.UPDATE.ROSTER", json.dumps(config).encode())
    await op.try_publish("cmd.forge.unit.u9", b'{"actor": "clerk"}')
    after = await snapshot(who["operator"].client)
    assert after == before and after["ROSTER"][1] == 6


@pytest.mark.parametrize("service", ["roster", "events", "awards", "reporting"])
async def test_finding_3_every_service_can_write_its_dead_letters(
    who: dict[str, Principal], service: str
) -> None:
    """What a follower does with a message it cannot apply, with the service's own user."""
    es = EventStore(who[service].client)
    await ensure_dlq_stream(es.js)
    for spec in event_streams():
        await es.stream_last_sequence(spec.name)
    letter = DeadLetter(
        consumer=f"{service}.ROSTER",
        error="malformed",
        reason="undecodable",
        data=b"{not json",
        stream="ROSTER",
        sequence=1,
        subject="ev.roster.unit.u1",
        dead_letter_id=f"{service}-letter",
    )
    assert await set_aside(es.js, letter) > 0
    letters = await read_letters(EventStore(who["operator"].client))
    assert [e.letter.dead_letter_id for e in letters] == [f"{service}-letter"]
    assert who[service].errors == []
