"""The per-stream running digest the read model keeps with its positions (what a report
receipt names), on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import random
import threading

from briefings.audit.records import AuditRecord
from briefings.audit.replay import EventsDigest
from contracts import events as e
from contracts.canonical import GENESIS_HASH, canonical_json
from contracts.envelope import hash_of_stored
from contracts.reporting import AnnualSummaryQuery
from runtime.eventstore import StoredEvent
from runtime.sql import make_engine
from services.reporting.domain import digest
from services.reporting.read_model import ReadModel, memory_engine, snapshot
from tests.reporting.factories import sample_year

Y2022 = AnnualSummaryQuery(year=2022)


def _by_hand(events: list[StoredEvent]) -> dict[str, tuple[int, str]]:
    """The algorithm of contracts/HASHING.md §6, written out again."""
    out: dict[str, tuple[int, str]] = {}
    for stored in events:
        count, d = out.get(stored.stream, (0, GENESIS_HASH))
        try:
            h = hash_of_stored(stored.data)
        except ValueError:
            h = hashlib.sha256(stored.data).hexdigest()
        out[stored.stream] = (count + 1, hashlib.sha256((d + h).encode()).hexdigest())
    return out


def _kept(model: ReadModel) -> dict[str, tuple[int, str]]:
    return {s: (c.events, c.digest) for s, c in model.cut().items() if c.events}


def _with_oddities() -> list[StoredEvent]:
    s = sample_year()
    # Set aside as unappliable, yet part of what was read: they count in the digest.
    s.raw("EVENTS", "ev.events.conference.x", b"not json")
    s.raw("EVENTS", "ev.events.conference.y", b'{"type": "Nope", "n": 1.5}')
    s.add(e.AttendanceRecorded(conference_id="conf03", member_id="pro188"))
    return s.events


def test_given_any_batch_split_and_redeliveries_then_the_same_running_digest(
    database_url: str,
) -> None:
    events = _with_oddities()
    one = ReadModel(memory_engine())
    one.apply(events)
    expected = _by_hand(events)
    assert _kept(one) == expected
    assert sum(n for n, _ in expected.values()) == len(events)

    rng = random.Random(7)
    model = ReadModel(make_engine(database_url))
    i = 0
    while i < len(events):
        step = rng.randint(1, 400)
        back = rng.randint(0, min(i, 150))  # redeliver some already applied
        model.apply(events[i - back : i + step])
        i += step
    model.apply(events)  # everything again: nothing changes
    model.apply(events[:10])
    assert _kept(model) == expected
    assert model.positions() == one.positions()


def test_given_streams_interleaved_differently_then_the_same_digest() -> None:
    events = _with_oddities()
    by_stream = {s: [x for x in events if x.stream == s] for s in ("ROSTER", "EVENTS", "AWARDS")}
    a = ReadModel(memory_engine())
    a.apply(events)
    b = ReadModel(memory_engine())
    for stream in ("AWARDS", "EVENTS", "ROSTER"):  # one stream after another
        b.apply(by_stream[stream])
    assert _kept(a) == _kept(b)


def test_the_audit_replay_folds_the_same_digest_from_records() -> None:
    events = _with_oddities()
    model = ReadModel(memory_engine())
    model.apply(events)
    folded = EventsDigest()
    for stored in events:
        folded.add(
            AuditRecord.from_stored(
                stored.stream,
                stored.sequence,
                stored.subject,
                "2022-01-01T00:00:00.000000Z",
                stored.data,
            )
        )
    assert {s: (x["events"], x["digest"]) for s, x in folded.streams.items()} == _kept(model)
    basis = model.annual_summary_with_receipt(Y2022)["receipt"]
    assert basis["events_digest"] == folded.hexdigest()
    assert (
        basis["events_digest"]
        == hashlib.sha256(
            canonical_json({s: x["digest"] for s, x in folded.streams.items()})
        ).hexdigest()
    )
    assert basis["events"] == len(events) == folded.count


def test_a_non_canonical_copy_of_an_event_hashes_as_its_canonical_form() -> None:
    stored = sample_year().events[0]
    spaced = json.dumps(json.loads(stored.data), indent=1).encode()
    assert (
        digest.event_hash(spaced) == digest.event_hash(stored.data) == hash_of_stored(stored.data)
    )


def test_the_receipt_reads_facts_and_cut_in_one_snapshot(database_url: str) -> None:
    """A write committed between the two reads of a snapshot is seen by neither."""
    events = sample_year().events
    engine = make_engine(database_url)
    model = ReadModel(engine)
    model.apply(events[:500])
    with snapshot(engine) as conn:
        before = model.projection.cut(conn)
        writer = threading.Thread(target=model.apply, args=(events[500:1000],))
        writer.start()
        writer.join(60)
        assert not writer.is_alive()
        assert model.projection.cut(conn) == before
        rows = model.projection.rows(conn)
    with engine.connect() as conn:
        now = model.projection.rows(conn)
    assert sum(len(v) for v in rows.values()) < sum(len(v) for v in now.values())
    assert model.cut() != before


def test_odd_bytes_hash_and_parse_as_the_audit_records_do() -> None:
    for data in (
        b'{"a":"\\ud800"}',
        b'{"a": NaN}',
        b"[1]",
        b'{"a":1.5}',
        b'{"b":1, "a":2}',
        b"not json",
        b"",
    ):
        record = AuditRecord.from_stored("S", 1, "s", "t", data)
        assert digest.event_hash(data) == (
            record.event_hash() or hashlib.sha256(record.raw or b"").hexdigest()
        )
        assert digest.envelope_of(data) == record.envelope
