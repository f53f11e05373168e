"""The canonical form and the hash chain, as contracts/HASHING.md documents them."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from contracts.canonical import GENESIS_HASH, canonical_json
from contracts.envelope import EventEnvelope, hash_of_stored

pytestmark = pytest.mark.fast


def envelope(**changes: object) -> EventEnvelope:
    base = dict(
        event_id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
        type="MemberEnrolled",
        schema_version=1,
        aggregate_type="member",
        aggregate_id="m1",
        aggregate_version=1,
        occurred_at=datetime(2022, 12, 9, 8, 0, tzinfo=timezone(timedelta(hours=7))),
        recorded_at=datetime(2022, 12, 9, 1, 0, 0, 5, tzinfo=UTC),
        correlation_id="c",
        causation_id="c",
        command_id="c",
        actor="clerk",
        payload={"full_name": "Nguyễn Quán Phú", "note": 'a "quote"\n'},
    )
    base.update(changes)
    return EventEnvelope(**base)  # type: ignore[arg-type]


def test_canonical_form_is_sorted_compact_utf8() -> None:
    assert (
        canonical_json({"b": 1, "a": ["é", None, True]}) == '{"a":["é",null,true],"b":1}'.encode()
    )


def test_floats_have_no_canonical_form() -> None:
    with pytest.raises(ValueError):
        canonical_json({"rate": 0.5})


def test_timestamps_are_utc_with_microseconds() -> None:
    data = json.loads(envelope().to_canonical())
    assert data["occurred_at"] == "2022-12-09T01:00:00.000000Z"
    assert data["recorded_at"] == "2022-12-09T01:00:00.000005Z"


def test_hash_is_sha256_of_the_stored_bytes_and_survives_a_round_trip() -> None:
    e = envelope()
    data = e.to_canonical()
    assert e.hash() == hashlib.sha256(data).hexdigest() == hash_of_stored(data)
    assert EventEnvelope.from_bytes(data).to_canonical() == data
    # re-serialised with other whitespace and key order, the hash is the same
    assert hash_of_stored(json.dumps(json.loads(data), indent=3).encode()) == e.hash()


def test_any_change_changes_the_hash() -> None:
    e = envelope()
    assert envelope(actor="someone else").hash() != e.hash()
    assert envelope(prev_hash="1" * 64).hash() != e.hash()
    assert e.prev_hash == GENESIS_HASH
