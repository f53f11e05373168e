"""An event stored at v1 is read by v2 code through an upcaster."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from nats.aio.client import Client

from contracts.envelope import DomainEvent, EventEnvelope
from contracts.registry import EventRegistry, NewerSchemaVersion
from contracts.subjects import StreamSpec
from runtime.eventstore import EventStore


class ConferenceHeldV2(DomainEvent):
    """v2 splits v1's single ``presenter`` string into a list of presenters."""

    event_type: ClassVar[str] = "ConferenceHeldX"
    schema_version: ClassVar[int] = 2
    aggregate_type: ClassVar[str] = "conference"
    title: str
    presenters: list[str]


def v2_registry() -> EventRegistry:
    reg = EventRegistry()
    reg.register(ConferenceHeldV2)

    @reg.upcaster("ConferenceHeldX", 1)
    def split_presenter(payload: dict[str, Any]) -> dict[str, Any]:
        rest = {k: v for k, v in payload.items() if k != "presenter"}
        return {**rest, "presenters": [payload["presenter"]] if payload.get("presenter") else []}

    return reg


def stored_v1(version: int = 1) -> EventEnvelope:
    now = datetime(2022, 3, 1, tzinfo=UTC)
    return EventEnvelope(
        event_id=uuid.uuid4(),
        type="ConferenceHeldX",
        schema_version=version,
        aggregate_type="conference",
        aggregate_id="c1",
        aggregate_version=1,
        occurred_at=now,
        recorded_at=now,
        correlation_id="x",
        causation_id="x",
        actor="test",
        payload={"title": "Thông tin thời sự tháng 3", "presenter": "Nguyễn Quán Phú"},
    )


async def test_v1_event_in_the_stream_reads_as_v2(nc: Client) -> None:
    es = EventStore(nc)
    await es.ensure_stream(StreamSpec("VERSIONS", ("ev.versions.>",)))
    await es.append("VERSIONS", "ev.versions.conference.c1", [stored_v1()], 0)
    [stored] = await es.read_subject("VERSIONS", "ev.versions.conference.c1")
    event = v2_registry().decode(stored.envelope())
    assert isinstance(event, ConferenceHeldV2)
    assert event.presenters == ["Nguyễn Quán Phú"]


def test_a_newer_version_than_the_code_is_refused_not_guessed() -> None:
    try:
        v2_registry().decode(stored_v1(version=3))
    except NewerSchemaVersion:
        return
    raise AssertionError("v3 decoded by v2 code")
