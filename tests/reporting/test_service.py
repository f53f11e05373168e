"""The reporting service against a real nats-server: catch-up, queries, lag, dead letters."""

from __future__ import annotations

import asyncio
import json

from nats.aio.client import Client

from contracts import events as e
from contracts.registry import registry
from contracts.subjects import event_streams
from runtime.deadletter import letter_subject
from runtime.eventstore import EventStore
from runtime.settings import Settings
from tests.reporting.factories import Streams, publish, sample_year
from tests.support import request, running_service, wait_healthy


async def _caught_up(nc: Client, timeout: float = 30) -> dict:
    await wait_healthy(nc, "reporting")  # the subscriptions have reached the server
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = (await request(nc, "qry.reporting.status", {}))["data"]
        if all(v["applied"] == v["last"] for v in status["lag"].values()) and not status["rebuild"]:
            return status
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.1)


async def test_summary_of_the_sample_year_over_nats(
    settings: Settings, nc: Client, database_url: str
) -> None:
    settings = settings.with_(database_url=database_url)
    s = sample_year()
    await EventStore(nc).ensure_streams(event_streams())
    await publish(nc.jetstream(), s.events)
    async with running_service("reporting", settings):
        status = await _caught_up(nc)
        assert status["lag"]["EVENTS"] == {
            "applied": len(s.of("EVENTS")),
            "last": len(s.of("EVENTS")),
        }
        health = await wait_healthy(nc, "reporting")
        assert health["detail"]["lag"]["ROSTER"]["applied"] == len(s.of("ROSTER"))
        reply = await request(nc, "qry.reporting.annual_summary", {"year": 2022})
        summary = reply["data"]
        assert summary["roster"]["at_end"]["reporter"] == 19
        assert summary["roster"]["at_end"]["propagandist"] == 189
        assert summary["conferences"]["by_kind"] == {"information": 8, "thematic": 2, "review": 1}
        assert summary["attendance"]["member_attendances"] == 1712
        assert (summary["awards"]["collective"], summary["awards"]["individual"]) == (3, 5)

        # live: a new attendance is applied and visible to the next query
        later = Streams()
        later.last.update(s.last)
        later.add(e.AttendanceRecorded(conference_id="conf03", member_id="pro188"))
        await publish(nc.jetstream(), later.events)
        summary = (await request(nc, "qry.reporting.annual_summary", {"year": 2022}))["data"]
        assert summary["attendance"]["member_attendances"] == 1713

        part = (await request(nc, "qry.reporting.participation", {"year": 2022}))["data"]
        rep = next(m for m in part["members"] if m["member_id"] == "rep00")
        assert (rep["conferences_eligible"], rep["conferences_attended"]) == (10, 10)
        retired = next(m for m in part["members"] if m["member_id"] == "pro189")
        assert retired["conferences_eligible"] == 6 and not retired["active_at_end"]

        bad = await request(nc, "qry.reporting.annual_summary", {"start": "2022-05-01"})
        assert bad["ok"] is False and bad["rule"] == "PeriodMustBeGiven"


async def test_as_of_a_moment_of_knowledge(settings: Settings, nc: Client) -> None:
    s = sample_year()
    cut = s.clock
    s.add(e.ConferenceCancelled(conference_id="conf01", cancelled_on=s.clock.date()))
    await publish(nc.jetstream(), s.events)
    async with running_service("reporting", settings):
        await _caught_up(nc)
        now = (await request(nc, "qry.reporting.annual_summary", {"year": 2022}))["data"]
        then = (
            await request(
                nc, "qry.reporting.annual_summary", {"year": 2022, "as_of": cut.isoformat()}
            )
        )["data"]
        assert now["conferences"]["held"] == 9
        assert then["conferences"]["held"] == 10 and then["period"]["as_of"].startswith("2022-")


async def test_unappliable_messages_are_set_aside_and_retried(
    settings: Settings, nc: Client
) -> None:
    s = Streams()
    s.add(
        e.ConferenceHeld(
            conference_id="c1",
            kinds=[e.ConferenceKind.INFORMATION],
            held_on=s.clock.date(),
            title="T",
        )
    )
    s.raw("EVENTS", "ev.events.conference.c2", b"not json at all")
    good = s.add(e.AttendanceRecorded(conference_id="c1", member_id="m1"))
    # an event from newer code: the same attendance written as schema version 2
    newer = json.loads(good.data)
    newer["schema_version"] = 2
    newer["payload"]["member_id"] = "m2"
    s.raw("EVENTS", "ev.events.conference.c1", json.dumps(newer).encode())
    s.add(e.AttendanceRecorded(conference_id="c1", member_id="m3"))
    # a type this code does not know yet (newer code will)
    taken = json.loads(good.data)
    taken["type"] = "AttendanceTaken"
    taken["payload"]["member_id"] = "m4"
    s.raw("EVENTS", "ev.events.conference.c1", json.dumps(taken).encode())
    await EventStore(nc).ensure_streams(event_streams())
    await publish(nc.jetstream(), s.events)
    async with running_service("reporting", settings):
        status = await _caught_up(nc)
        assert status["dead_letters_set_aside"] == 3
        summary = (await request(nc, "qry.reporting.annual_summary", {"year": 2022}))["data"]
        assert summary["attendance"]["member_attendances"] == 2  # m1 and m3: nothing blocked
        letters = [
            json.loads(m.data)
            async for m in EventStore(nc).iterate("DLQ")
            if m.subject == letter_subject("reporting.EVENTS")
        ]
        assert sorted(x["reason"] for x in letters) == [
            "malformed",
            "newer_version",
            "unknown_type",
        ]
        malformed = next(x for x in letters if x["reason"] == "malformed")
        reply = await request(
            nc, "cmd.reporting.dlq_retry", {"dead_letter_id": malformed["dead_letter_id"]}
        )
        assert reply["ok"] is False and reply["rule"] == "DeadLetterStillUnappliable"
        missing = await request(nc, "cmd.reporting.dlq_retry", {"dead_letter_id": "nope"})
        assert missing["code"] == "not_found"

        # the code learns the type (an upgrade); the operator retries the letter
        unknown = next(x for x in letters if x["reason"] == "unknown_type")

        class AttendanceTaken(e.AttendanceRecorded):
            event_type = "AttendanceTaken"

        registry.register(AttendanceTaken)
        try:
            reply = await request(
                nc,
                "cmd.reporting.dlq_retry",
                {"dead_letter_id": unknown["dead_letter_id"], "actor": "ops"},
            )
        finally:
            registry._types.pop("AttendanceTaken")
        assert reply["ok"] is True and reply["outcome"] == "retried", reply
        summary = (await request(nc, "qry.reporting.annual_summary", {"year": 2022}))["data"]
        assert summary["attendance"]["member_attendances"] == 3
        resolutions = [
            json.loads(m.data)
            async for m in EventStore(nc).iterate("DLQ")
            if m.subject == "dlq.reporting.EVENTS.resolution"
        ]
        assert [(r["dead_letter_id"], r["outcome"]) for r in resolutions] == [
            (unknown["dead_letter_id"], "retried")
        ]


async def test_an_event_the_database_refuses_is_set_aside_not_retried_forever(
    settings: Settings, nc: Client, database_url: str
) -> None:
    """PostgreSQL refuses NUL characters in text; SQLite stores them. Either way the stream
    goes on: on PostgreSQL the event becomes a ``handler_failed`` dead letter."""
    settings = settings.with_(database_url=database_url)
    s = Streams()
    s.add(
        e.ConferenceHeld(
            conference_id="c1",
            kinds=[e.ConferenceKind.INFORMATION],
            held_on=s.clock.date(),
            title="T1",
        )
    )
    s.add(
        e.ConferenceHeld(
            conference_id="c2",
            kinds=[e.ConferenceKind.INFORMATION],
            held_on=s.clock.date(),
            title="T2",
            venue="Hall\x00B",
        )
    )
    s.add(e.AttendanceRecorded(conference_id="c1", member_id="m1"))
    await EventStore(nc).ensure_streams(event_streams())
    await publish(nc.jetstream(), s.events)
    async with running_service("reporting", settings):
        status = await _caught_up(nc, timeout=60)
        summary = (await request(nc, "qry.reporting.annual_summary", {"year": 2022}))["data"]
        assert summary["attendance"]["member_attendances"] == 1
        letters = [json.loads(m.data) async for m in EventStore(nc).iterate("DLQ")]
        if database_url.startswith("postgresql"):
            assert status["dead_letters_set_aside"] == 1
            assert [(x["reason"], x["sequence"]) for x in letters] == [("handler_failed", 2)]
            assert summary["conferences"]["held"] == 1
        else:
            assert letters == [] and summary["conferences"]["held"] == 2
