"""Dead letters: what a consumer cannot apply is set aside with its original, counted, and
the operator lists, shows, retries (after an upgrade) or discards it with `briefings dlq`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from nats.aio.client import Client

from contracts.envelope import DomainEvent, EventEnvelope
from contracts.registry import registry
from contracts.subjects import event_streams
from runtime.deadletter import (
    SET_ASIDE_COUNTS,
    DeadLetter,
    LetterAlreadyResolved,
    LetterNotFound,
    counts,
    discard,
    ensure_dlq_stream,
    find_letter,
    read_letters,
    set_aside,
)
from runtime.eventstore import EventStore
from runtime.settings import Settings
from tests.reliability.conftest import Report
from tests.reliability.helpers import wait_until
from tests.support import ROOT, request, running_service


async def briefings(nats_url: str, *args: str) -> tuple[int, str, str]:
    """The real CLI in a child process (asyncio: in-process services keep answering)."""
    env = {
        **os.environ,
        "BRIEFINGS_NATS_URL": nats_url,
        "BRIEFINGS_LOG_LEVEL": "error",
        "COLUMNS": "200",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "briefings",
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_letters_are_read_counted_found_and_discarded(nc: Client, report: Report) -> None:
    js = nc.jetstream()
    es = EventStore(nc)
    assert await read_letters(es) == []  # no DLQ stream yet: nothing set aside
    await ensure_dlq_stream(js)
    before = sum(SET_ASIDE_COUNTS.values())
    big = os.urandom(256 * 1024)  # the largest original an event stream can hold
    letters = [
        DeadLetter(
            "reporting.ROSTER",
            "Expecting value",
            "malformed",
            b"{not json",
            "ROSTER",
            7,
            "ev.roster.member.m1",
            3,
        ),
        DeadLetter("reporting.EVENTS", "v9 is newer", "newer_version", b'{"x": 1}', "EVENTS", 2),
        DeadLetter("awards.roster", "boom", "handler_failed", big, "ROSTER", 9, deliveries=5),
    ]
    for letter in letters:
        await set_aside(js, letter)
    await set_aside(js, letters[0])  # a redelivered set-aside is stored once (same id)
    assert sum(SET_ASIDE_COUNTS.values()) - before == 4

    entries = await read_letters(es)
    assert [e.letter for e in entries] == letters  # whole, in order, the original intact
    assert [e.letter.dead_letter_id for e in await read_letters(es, "reporting")] == [
        letters[0].dead_letter_id,
        letters[1].dead_letter_id,
    ]
    assert len(await read_letters(es, "reporting.EVENTS")) == 1
    assert find_letter(entries, letters[2].dead_letter_id[:8]).letter.data == big
    with pytest.raises(LetterNotFound):
        find_letter(entries, "no-such-letter")
    with pytest.raises(LetterNotFound):
        find_letter(entries, "")

    with pytest.raises(ValueError):
        await discard(es, letters[0].dead_letter_id, "   ")
    done = await discard(es, letters[0].dead_letter_id, "garbage from a test tool", "ops")
    assert done.status == "discarded" and not done.is_open
    assert done.resolutions[0].reason == "garbage from a test tool"
    assert done.resolutions[0].actor == "ops"
    with pytest.raises(LetterAlreadyResolved):
        await discard(es, letters[0].dead_letter_id, "again")
    table = {row["consumer"]: row for row in counts(await read_letters(es))}
    assert table["reporting.ROSTER"] == {
        "consumer": "reporting.ROSTER",
        "total": 1,
        "open": 0,
        "retried": 0,
        "discarded": 1,
        "open_by_reason": {},
    }
    assert table["awards.roster"]["open_by_reason"] == {"handler_failed": 1}
    # Nothing is deleted: the letter and its resolution are both in the stream.
    info = await js.stream_info("DLQ")
    assert info.state.messages == 4
    report.add(
        "input",
        "dead letters set aside, found by prefix, discarded with a reason",
        4,
        "kept whole (256 KiB original too), counted, discard recorded, never deleted",
    )


# ------------------------------------------------ a real consumer: the reporting service


def envelope(
    event_type: str, payload: dict[str, Any], version: int = 1, aggregate_id: str = "m1"
) -> bytes:
    now = datetime(2022, 3, 1, tzinfo=UTC)
    return EventEnvelope(
        event_id=uuid.uuid4(),
        type=event_type,
        schema_version=version,
        aggregate_type="member",
        aggregate_id=aggregate_id,
        aggregate_version=1,
        occurred_at=now,
        recorded_at=now,
        correlation_id="c",
        causation_id="c",
        command_id=None,
        actor="test",
        payload=payload,
    ).to_canonical()


ENROLLED = {
    "member_id": "m9",
    "full_name": "Trần Văn An",
    "role": "propagandist",
    "unit_id": "cell-1",
    "effective_on": "2022-01-05",
}
UNIT = {"unit_id": "cell-1", "kind": "party_cell", "name": "Chi bộ 1", "effective_on": "2022-01-01"}

BAD = {
    "malformed": b'{"event_id": "not even json',
    "unknown_type": envelope("MemberNicknameSet", {"member_id": "m1", "nickname": "Hoa"}),
    "newer_version": envelope("MemberEnrolled", {**ENROLLED, "member_id": "m1"}, version=99),
    "invalid_payload": envelope("MemberEnrolled", {"member_id": "m1", "role": 5}),
}


class MemberNicknameSet(DomainEvent):
    """What an upgrade teaches the code: the event type a newer writer already used."""

    event_type = "MemberNicknameSet"
    aggregate_type = "member"
    member_id: str
    nickname: str


async def test_reporting_sets_aside_bad_messages_and_the_cli_resolves_them(
    settings: Settings, nc: Client, report: Report
) -> None:
    js = nc.jetstream()
    es = EventStore(nc)
    await es.ensure_streams(event_streams())
    unit = await js.publish(
        "ev.roster.unit.cell-1", envelope("UnitRegistered", UNIT, aggregate_id="cell-1")
    )
    bad_seq = {}
    for reason, data in BAD.items():
        bad_seq[reason] = (await js.publish(f"ev.roster.member.{reason}", data)).seq
    good = await js.publish(
        "ev.roster.member.m9", envelope("MemberEnrolled", ENROLLED, aggregate_id="m9")
    )
    assert unit.seq < min(bad_seq.values()) and good.seq > max(bad_seq.values())

    async with running_service("reporting", settings):
        await wait_until(lambda: _open_count(es, 4), timeout=60)
        status = await request(nc, "qry.reporting.status", {})
        assert status["ok"], status
        # Later messages flowed: the good event after the bad ones was applied.
        assert good.seq <= _position(status["data"], "ROSTER"), status
        assert status["data"]["dead_letters_set_aside"] == 4

        code, out, err = await briefings(settings.nats_url, "dlq", "list", "--json")
        assert code == 0, err
        listed = json.loads(out)
        by_reason = {row["reason"]: row for row in listed["letters"]}
        assert set(by_reason) == set(BAD)
        for reason, row in by_reason.items():
            assert row["consumer"] == "reporting.ROSTER" and row["stream"] == "ROSTER"
            assert row["sequence"] == bad_seq[reason] and row["status"] == "open"
            assert row["error"] and row["deliveries"] >= 1
        entry = find_letter(await read_letters(es), by_reason["malformed"]["dead_letter_id"])
        assert entry.letter.data == BAD["malformed"]

        code, out, _ = await briefings(
            settings.nats_url,
            "dlq",
            "show",
            by_reason["invalid_payload"]["dead_letter_id"][:10],
            "--json",
        )
        assert code == 0 and json.loads(out)["data_text"] == BAD["invalid_payload"].decode()
        code, out, _ = await briefings(
            settings.nats_url, "dlq", "show", by_reason["unknown_type"]["dead_letter_id"]
        )
        assert code == 0 and "MemberNicknameSet" in out and "open" in out

        code, _, err = await briefings(
            settings.nats_url,
            "dlq",
            "discard",
            by_reason["malformed"]["dead_letter_id"],
            "--reason",
            "truncated by a broken tool",
        )
        assert code == 0, err
        code, _, err = await briefings(
            settings.nats_url,
            "dlq",
            "discard",
            by_reason["malformed"]["dead_letter_id"],
            "--reason",
            "twice",
        )
        assert code == 1 and "already discarded" in err

        # Still unappliable (this code knows no v99): the retry is refused, the letter open.
        code, _, err = await briefings(
            settings.nats_url, "dlq", "retry", by_reason["newer_version"]["dead_letter_id"]
        )
        assert code == 1 and "still cannot apply" in err, err

        # The upgrade: the code now knows the type; the retry applies and resolves it.
        registry.register(MemberNicknameSet)
        try:
            code, out, err = await briefings(
                settings.nats_url,
                "dlq",
                "retry",
                by_reason["unknown_type"]["dead_letter_id"],
                "--json",
            )
        finally:
            registry._types.pop(MemberNicknameSet.event_type)  # undo the "upgrade"
        assert code == 0 and json.loads(out)["outcome"] == "retried", err
        code, _, err = await briefings(
            settings.nats_url, "dlq", "retry", by_reason["unknown_type"]["dead_letter_id"]
        )
        assert code == 1 and "already retried" in err

        code, out, _ = await briefings(settings.nats_url, "dlq", "list", "--json")
        after = json.loads(out)
        assert {r["reason"] for r in after["letters"]} == {"newer_version", "invalid_payload"}
        assert after["counts"] == [
            {
                "consumer": "reporting.ROSTER",
                "total": 4,
                "open": 2,
                "retried": 1,
                "discarded": 1,
                "open_by_reason": {"newer_version": 1, "invalid_payload": 1},
            }
        ]
        code, out, _ = await briefings(settings.nats_url, "dlq", "list", "--all")
        assert code == 0 and "discarded" in out and "retried" in out
    report.add(
        "input",
        "unappliable events in ROSTER (malformed, unknown type, newer version, "
        "invalid payload) read by reporting",
        4,
        "4 set aside with original, later events applied; CLI: 1 discarded, "
        "1 retried after upgrade, 1 retry refused (still newer), counts right",
    )


async def _open_count(es: EventStore, n: int) -> bool:
    return len([e for e in await read_letters(es) if e.is_open]) >= n


def _position(status: dict[str, Any], stream: str) -> int:
    """The applied position of ``stream`` in the reporting status (``lag``)."""
    return int(status["lag"][stream]["applied"])
