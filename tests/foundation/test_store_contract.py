"""One contract, two event stores: every behaviour runs against JetStream (a real nats-server)
and against the in-memory store, and both must answer alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from contracts.headers import EVENT_TYPE_HEADER, EVENT_VERSION_HEADER
from contracts.subjects import StreamSpec, event_streams
from runtime.eventport import (
    MAX_MESSAGE_BYTES,
    ConcurrencyConflict,
    EventStorePort,
    MessageTooLarge,
    StoredEvent,
    StreamNotFound,
    WrongStream,
    subject_matches,
)
from runtime.eventstore import EventStore
from runtime.memory_store import InMemoryEventStore, MemoryFollower
from runtime.sql import make_engine
from runtime.statestore import StateStore
from tests.support import connect, new_nats

A = "ev.roster.unit.a"
B = "ev.roster.unit.b"


@pytest_asyncio.fixture(params=["jetstream", pytest.param("memory", marks=pytest.mark.fast)])
async def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[EventStorePort]:
    if request.param == "memory":
        memory = InMemoryEventStore()
        await memory.ensure_streams(event_streams())
        yield memory
        return
    server = new_nats(tmp_path_factory.mktemp("nats"))
    nc = await connect(server.url)
    try:
        jetstream = EventStore(nc, timeout=5)
        await jetstream.ensure_streams(event_streams())
        yield jetstream
    finally:
        await nc.close()
        server.stop()


def shape(events: list[StoredEvent]) -> list[tuple[int, str, bytes, str | None]]:
    """What both stores must agree on (the stored time differs by nature)."""
    return [(e.sequence, e.subject, e.data, e.msg_id) for e in events]


async def test_an_empty_store(store: EventStorePort) -> None:
    assert await store.stream_last_sequence("ROSTER") == 0
    assert await store.last_sequence("ROSTER", A) == 0
    assert await store.last_event("ROSTER", A) is None
    assert await store.read_subject("ROSTER", A) == []
    assert [e async for e in store.iterate("ROSTER")] == []


async def test_sequences_count_per_stream_and_reads_keep_order(store: EventStorePort) -> None:
    assert await store.append_encoded("ROSTER", A, [("a1", b'{"n":1}')], 0) == [1]
    assert await store.append_encoded("ROSTER", B, [("b1", b'{"n":2}')], 0) == [2]
    assert await store.append_encoded("ROSTER", A, [("a2", b"x"), ("a3", b"y")], 1) == [3, 4]
    assert await store.append_encoded("EVENTS", "ev.events.conference.c", [("c1", b"z")], 0) == [1]
    assert await store.stream_last_sequence("ROSTER") == 4
    assert await store.last_sequence("ROSTER", A) == 4
    assert await store.last_sequence("ROSTER", B) == 2
    assert shape(await store.read_subject("ROSTER", A)) == [
        (1, A, b'{"n":1}', "a1"),
        (3, A, b"x", "a2"),
        (4, A, b"y", "a3"),
    ]
    assert shape(await store.read_subject("ROSTER", A, after=1)) == [
        (3, A, b"x", "a2"),
        (4, A, b"y", "a3"),
    ]
    assert [e.sequence for e in await store.read_subject("ROSTER", "ev.roster.unit.*")] == [
        1,
        2,
        3,
        4,
    ]
    assert await store.last_sequence("ROSTER", "ev.roster.>") == 4


async def test_direct_get_of_the_last_event(store: EventStorePort) -> None:
    await store.append_encoded("ROSTER", A, [("a1", b"one"), ("a2", b"two")], 0)
    await store.append_encoded("ROSTER", B, [("b1", b"three")], 0)
    last = await store.last_event("ROSTER", A)
    assert last is not None
    assert (last.stream, last.sequence, last.subject, last.data, last.msg_id) == (
        "ROSTER",
        2,
        A,
        b"two",
        "a2",
    )
    assert last.time is not None
    assert last.headers is not None and last.headers["Nats-Msg-Id"] == "a2"


async def test_stored_events_carry_their_type_headers(store: EventStorePort) -> None:
    envelope = b'{"type":"UnitRenamed","schema_version":2}'
    await store.append_encoded("ROSTER", A, [("e1", envelope)], 0)
    read = await store.read_subject("ROSTER", A)
    iterated = [e async for e in store.iterate("ROSTER")]
    for found in (await store.last_event("ROSTER", A), *read, *iterated):
        assert found is not None and found.headers is not None
        assert found.headers[EVENT_TYPE_HEADER] == "UnitRenamed"
        assert found.headers[EVENT_VERSION_HEADER] == "2"


async def test_a_stale_expectation_is_a_conflict_and_stores_nothing(
    store: EventStorePort,
) -> None:
    await store.append_encoded("ROSTER", A, [("a1", b"1")], 0)
    with pytest.raises(ConcurrencyConflict) as caught:
        await store.append_encoded("ROSTER", A, [("x", b"2")], 0)  # "must be empty"
    assert caught.value.subject == A and caught.value.expected == 0
    with pytest.raises(ConcurrencyConflict):
        await store.append_encoded("ROSTER", A, [("y", b"2")], 7)  # ahead of the subject
    with pytest.raises(ConcurrencyConflict):
        await store.append_encoded("ROSTER", B, [("z", b"2")], 1)  # empty subject
    assert await store.stream_last_sequence("ROSTER") == 1


async def test_racing_appends_with_one_expectation_one_wins(store: EventStorePort) -> None:
    await store.append_encoded("ROSTER", A, [("a0", b"0")], 0)
    results = await asyncio.gather(
        *(store.append_encoded("ROSTER", A, [(f"w{i}", b"w")], 1) for i in range(10)),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, list)]
    assert won == [[2]]
    assert all(isinstance(r, ConcurrencyConflict) for r in results if not isinstance(r, list))
    assert [e.sequence for e in await store.read_subject("ROSTER", A)] == [1, 2]


async def test_a_batch_stops_at_the_first_conflict(store: EventStorePort) -> None:
    await store.append_encoded("ROSTER", A, [("a1", b"1")], 0)
    with pytest.raises(ConcurrencyConflict):
        await store.append_encoded("ROSTER", A, [("n1", b"1"), ("n2", b"2")], 0)
    assert await store.stream_last_sequence("ROSTER") == 1


async def test_a_seen_msg_id_is_stored_once(store: EventStorePort) -> None:
    assert await store.append_encoded("ROSTER", A, [("m1", b"first")], 0) == [1]
    await store.append_encoded("ROSTER", B, [("m2", b"other")], 0)
    # The id alone decides, whatever the payload, even on another subject.
    assert await store.append_encoded("ROSTER", A, [("m1", b"changed")], 1) == [1]
    assert await store.append_encoded("ROSTER", "ev.roster.unit.c", [("m1", b"c")], 0) == [1]
    assert await store.stream_last_sequence("ROSTER") == 2
    assert shape(await store.read_subject("ROSTER", A)) == [(1, A, b"first", "m1")]


async def test_the_retry_trap_a_landed_append_is_not_a_conflict(store: EventStorePort) -> None:
    """A retry with the expectation of the first attempt, which landed: JetStream answers
    "wrong last sequence" (it checks that before the duplicate window); the store sees its
    own msg id as the subject's last message and answers that sequence."""
    await store.append_encoded("ROSTER", A, [("a1", b"1")], 0)
    assert await store.append_encoded("ROSTER", A, [("a2", b"2")], 1) == [2]
    assert await store.append_encoded("ROSTER", A, [("a2", b"2")], 1) == [2]
    assert await store.stream_last_sequence("ROSTER") == 2
    # Someone wrote after it: the same retry is now a conflict, not a success.
    await store.append_encoded("ROSTER", A, [("a3", b"3")], 2)
    with pytest.raises(ConcurrencyConflict):
        await store.append_encoded("ROSTER", A, [("a2", b"2")], 1)
    assert await store.stream_last_sequence("ROSTER") == 3


async def test_unknown_streams_are_named(store: EventStorePort) -> None:
    with pytest.raises(StreamNotFound):
        await store.stream_last_sequence("NOPE")
    with pytest.raises(StreamNotFound):
        await store.last_sequence("NOPE", "ev.nope.x.1")
    with pytest.raises(StreamNotFound):
        await store.last_event("NOPE", "ev.nope.x.1")
    with pytest.raises(StreamNotFound):
        await store.read_subject("NOPE", "ev.nope.x.1")
    with pytest.raises(StreamNotFound):
        await store.append_encoded("NOPE", "ev.roster.unit.a", [("n", b"1")], 0)
    with pytest.raises(StreamNotFound):
        [e async for e in store.iterate("NOPE")]


async def test_subjects_outside_the_stream_and_oversized_messages_are_refused(
    store: EventStorePort,
) -> None:
    with pytest.raises(WrongStream):
        await store.append_encoded("EVENTS", A, [("w1", b"1")], 0)  # ROSTER captures it
    with pytest.raises(WrongStream):
        await store.append_encoded("ROSTER", "zz.unit.a", [("w2", b"1")], 0)  # nobody does
    with pytest.raises(MessageTooLarge):
        await store.append_encoded("ROSTER", A, [("w3", b"x" * (MAX_MESSAGE_BYTES + 1))], 0)
    assert await store.stream_last_sequence("ROSTER") == 0
    assert await store.stream_last_sequence("EVENTS") == 0
    # The largest allowed message still fits (the server adds headers; leave it room).
    assert await store.append_encoded("ROSTER", A, [("w4", b"x" * (MAX_MESSAGE_BYTES - 512))], 0)


async def test_iterate_in_stream_order_between_bounds(store: EventStorePort) -> None:
    for i in range(1, 6):
        subject = A if i % 2 else B
        await store.append_encoded(
            "ROSTER", subject, [(f"m{i}", str(i).encode())], 0 if i < 3 else i - 2
        )
    assert [e.sequence async for e in store.iterate("ROSTER")] == [1, 2, 3, 4, 5]
    assert [e.sequence async for e in store.iterate("ROSTER", 2, 4)] == [2, 3, 4]
    assert [e.sequence async for e in store.iterate("ROSTER", subject=B)] == [2, 4]
    assert [e.data async for e in store.iterate("ROSTER", 5)] == [b"5"]


async def test_ensure_streams_is_idempotent_and_keeps_history(store: EventStorePort) -> None:
    await store.append_encoded("AWARDS", "ev.awards.award.x", [("x1", b"1")], 0)
    await store.ensure_streams(event_streams())
    await store.ensure_streams([StreamSpec("AWARDS", ("ev.awards.>",))])
    assert await store.stream_last_sequence("AWARDS") == 1


@pytest.mark.fast
async def test_memory_store_forgets_msg_ids_after_the_window() -> None:
    """As JetStream does after ``duplicate_window``; only the fake's clock can be moved."""
    now = [0.0]
    memory = InMemoryEventStore(clock=lambda: now[0], duplicate_window=120)
    await memory.ensure_streams(event_streams())
    await memory.append_encoded("ROSTER", A, [("m1", b"1")], 0)
    await memory.append_encoded("ROSTER", B, [("m2", b"2")], 0)
    now[0] = 119.0
    assert await memory.append_encoded("ROSTER", A, [("m1", b"1")], 1) == [1]
    now[0] = 121.0
    assert await memory.append_encoded("ROSTER", A, [("m1", b"1")], 1) == [3]


@pytest.mark.fast
@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("ev.roster.>", "ev.roster.unit.a", True),
        ("ev.roster.>", "ev.roster", False),
        ("ev.*.unit.a", "ev.roster.unit.a", True),
        ("ev.*.unit", "ev.roster.unit.a", False),
        ("ev.roster.unit.a", "ev.roster.unit.a", True),
        ("ev.roster.unit.a", "ev.roster.unit.ab", False),
    ],
)
def test_subject_matching(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches


def _unit_event(number: int) -> bytes:
    """A real stored envelope: the follower is the runtime projector, which decodes."""
    from datetime import date

    from contracts import roster as r
    from tests.reporting.factories import Streams

    streams = Streams()
    for i in range(number):
        stored = streams.add(
            r.UnitRenamed(
                unit_id="a", name=f"U{i + 1}", previous_name=f"U{i}", effective_on=date(2022, 1, 1)
            )
        )
    return stored.data


@pytest.mark.fast
async def test_memory_follower_applies_each_message_once_with_its_position(tmp_path: Path) -> None:
    memory = InMemoryEventStore()
    await memory.ensure_streams(event_streams())
    store = StateStore(make_engine(f"sqlite:///{tmp_path / 's.db'}"), "t")
    seen: list[int] = []
    follower = MemoryFollower(
        memory,
        store,
        "ROSTER",
        "f",
        lambda conn, events: seen.extend(e.stored.sequence for e in events),
    )
    await memory.append_encoded("ROSTER", A, [("m1", _unit_event(1))], 0)
    await follower.start()
    assert await follower.catch_up()
    assert seen == [1] and store.position("f") == 1
    await memory.append_encoded("ROSTER", A, [("m2", _unit_event(2)), ("m3", _unit_event(3))], 1)
    assert await follower.wait_for(3)  # the follower runs as messages arrive
    await follower.stop()
    assert seen == [1, 2, 3] and store.position("f") == 3
    again = MemoryFollower(memory, store, "ROSTER", "f", lambda conn, events: seen.extend([0]))
    await again.start()
    assert await again.catch_up()  # a restart from the stored position applies nothing twice
    await again.stop()
    assert seen == [1, 2, 3]
