"""Every appended event carries its type and schema version as headers (issue #20), so a
subscriber or a headers-only consumer picks events without decoding payloads; events stored
before the headers existed are still read."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from nats.aio.client import Client
from nats.js import api as js_api

from contracts.awards import AwardGranted
from contracts.envelope import EventEnvelope
from contracts.headers import (
    EVENT_TYPE_HEADER,
    EVENT_VERSION_HEADER,
    event_headers,
    event_type_of,
)
from contracts.registry import registry
from contracts.subjects import event_streams
from runtime.eventstore import EventStore
from runtime.settings import Settings
from tests.roster.helpers import CITY, roster_running, send

SUBJECT = "ev.awards.award.a1"


def granted(version: int = 1, prev_hash: str | None = None) -> EventEnvelope:
    now = datetime(2022, 12, 20, tzinfo=UTC)
    event = AwardGranted(
        award_id="a1",
        recipient_type="individual",
        recipient_id="m1",
        award_kind="certificate_of_merit",
        title="Giấy khen",
        period="2022",
        decision_number="12/QĐ",
        decision_date=date(2022, 12, 20),
    )
    extra = {"prev_hash": prev_hash} if prev_hash else {}
    return EventEnvelope(
        event_id=uuid.uuid4(),
        type=AwardGranted.event_type,
        schema_version=AwardGranted.schema_version,
        aggregate_type="award",
        aggregate_id="a1",
        aggregate_version=version,
        occurred_at=now,
        recorded_at=now,
        correlation_id="c",
        causation_id="c",
        actor="test",
        payload=event.model_dump(mode="json"),
        **extra,
    )


async def test_an_appended_event_carries_its_type_and_version_as_headers(nc: Client) -> None:
    es = EventStore(nc)
    await es.ensure_streams(event_streams())
    await es.append("AWARDS", SUBJECT, [granted()], 0)
    [stored] = await es.read_subject("AWARDS", SUBJECT)
    assert stored.headers is not None
    assert stored.headers[EVENT_TYPE_HEADER] == "AwardGranted"
    assert stored.headers[EVENT_VERSION_HEADER] == "1"
    # a consumer that asks for headers only still sees the type: no payload to decode
    sub = await nc.jetstream().pull_subscribe(
        "ev.awards.>",
        stream="AWARDS",
        config=js_api.ConsumerConfig(headers_only=True, ack_policy=js_api.AckPolicy.NONE),
    )
    [msg] = await sub.fetch(1, timeout=5)
    assert msg.data == b""
    assert msg.headers is not None
    assert msg.headers[EVENT_TYPE_HEADER] == "AwardGranted"
    assert msg.headers[EVENT_VERSION_HEADER] == str(AwardGranted.schema_version)


async def test_an_event_stored_without_the_headers_is_still_read(nc: Client) -> None:
    """An event as the code before the headers appended it: only Nats-Msg-Id."""
    es = EventStore(nc)
    await es.ensure_streams(event_streams())
    old = granted()
    await nc.jetstream().publish(
        SUBJECT,
        old.to_canonical(),
        stream="AWARDS",
        headers={"Nats-Msg-Id": str(old.event_id)},
    )
    new = granted(version=2, prev_hash=old.hash())
    await es.append("AWARDS", SUBJECT, [new], 1)
    first, second = await es.read_subject("AWARDS", SUBJECT)
    assert EVENT_TYPE_HEADER not in (first.headers or {})
    assert first.envelope() == old
    assert isinstance(registry.decode(first.envelope()), AwardGranted)
    # the fallback a subscriber uses: headers when present, else the envelope
    assert event_type_of(first.headers, first.data) == ("AwardGranted", 1)
    assert event_type_of(second.headers, second.data) == ("AwardGranted", 1)
    assert second.headers is not None and second.headers[EVENT_TYPE_HEADER] == "AwardGranted"
    # the stream order reader sees both
    seen = [e.envelope().event_id async for e in es.iterate("AWARDS")]
    assert seen == [old.event_id, new.event_id]


@pytest.mark.fast
def test_bytes_that_are_no_envelope_get_no_headers() -> None:
    assert event_headers(b"not json") == {}
    assert event_headers(b"[1, 2]") == {}
    assert event_headers(b'{"type": "X", "schema_version": "1"}') == {}
    assert event_headers(b'{"type": "X", "schema_version": 2}') == {
        EVENT_TYPE_HEADER: "X",
        EVENT_VERSION_HEADER: "2",
    }
    assert event_type_of({EVENT_TYPE_HEADER: "X", EVENT_VERSION_HEADER: "bad"}, b"{}") is None


async def test_events_a_service_appends_carry_the_headers(nc: Client, settings: Settings) -> None:
    """Through the real command path: roster registers a unit."""
    async with roster_running(settings, nc):
        reply = await send(nc, "register_unit", **CITY)
        assert reply["ok"], reply
    last = await EventStore(nc).last_event("ROSTER", "ev.roster.unit.city")
    assert last is not None and last.headers is not None
    envelope = last.envelope()
    assert last.headers[EVENT_TYPE_HEADER] == envelope.type == "UnitRegistered"
    assert last.headers[EVENT_VERSION_HEADER] == str(envelope.schema_version)
