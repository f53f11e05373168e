"""Followers tell data errors from outages, and health tells the truth (issue #14).

A data error (a value the database refuses) is permanent: set aside after bounded retries,
named in health, later events flow. An outage (the database refusing writes, the dead-letter
queue refusing letters, a store that blocks) is transient: retried, never set aside, and the
service is unhealthy while it lasts. A rebuild meets every bad message again and adds no
second letter for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js.errors import ServiceUnavailableError
from sqlalchemy import text

from contracts import roster as r
from contracts.subjects import DLQ_STREAM, event_streams
from runtime.deadletter import DLQ_MAX_MSG_BYTES, read_letters
from runtime.eventstore import EventStore, StoredEvent, stream_config
from runtime.nats_server import NatsServer
from runtime.settings import Settings
from runtime.sql import make_engine
from tests.reliability.conftest import Report
from tests.reliability.test_dlq import briefings
from tests.security.support import Principal, Secured, deployed, who

__all__ = ["deployed", "who"]  # the secured deployment's fixtures
from tests.reporting.factories import Streams, publish
from tests.support import (
    connect,
    postgres_base_url,
    postgres_schema,
    request,
    running_service,
    settings_for,
)

ROSTER_COPY = "events.roster-copy:ROSTER"
DEADLINE_S = 90.0


def _member(s: Streams, member_id: str, name: str) -> StoredEvent:
    return s.add(
        r.MemberEnrolled(
            member_id=member_id,
            full_name=name,
            role=r.Role.PROPAGANDIST,
            unit_id="city",
            effective_on=date(2022, 1, 2),
        )
    )


async def _health(nc: Client, service: str) -> dict[str, Any]:
    return await request(nc, f"health.{service}", b"{}")


async def _until(nc: Client, service: str, what: str, check: Any) -> dict[str, Any]:
    """Poll ``service``'s health until ``check(reply)``; the bound only ends a hung test."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        reply = await _health(nc, service)
        if check(reply):
            return reply
        assert time.monotonic() < deadline, f"{service}: never {what}: {reply}"
        await asyncio.sleep(0.2)


def _follower(reply: dict[str, Any], name: str = "roster-copy:ROSTER") -> dict[str, Any]:
    followers: dict[str, Any] = reply["detail"]["followers"]
    return dict(followers[name])


def _caught_up(reply: dict[str, Any]) -> bool:
    f = _follower(reply)
    return bool(reply["healthy"]) and f["applied"] >= f["last"] > 0


@pytest.fixture
def pg_base() -> str:
    base = postgres_base_url()
    if base is None:
        pytest.skip("no PostgreSQL: no explicit URL, no Docker engine, nothing on 127.0.0.1:5432")
    return base


@pytest.fixture
def pg_url(pg_base: str) -> Iterator[str]:
    with postgres_schema(pg_base) as url:
        yield url


async def test_a_value_the_database_refuses_is_set_aside_after_retries_and_named_in_health(
    settings: Settings, nc: Client, pg_url: str, report: Report
) -> None:
    """A name with a NUL character (PostgreSQL text refuses it): the events service's roster
    copy used to retry that write for ever while health said fine."""
    s = Streams()
    refused = _member(s, "m-long", "Lê\x00Lan")
    later = _member(s, "m-ok", "Lê Thị Lan")
    await publish(nc.jetstream(), s.events)
    async with running_service("events", settings.with_(database_url=pg_url)) as host:
        reply = await _until(nc, "events", "caught up past the refused value", _caught_up)
        follower = _follower(reply)
        assert sum(follower["set_aside"].values()) == 1, follower
        assert reply["detail"]["problems"] == []
        roster = host.service.queries.roster  # type: ignore[union-attr]
        assert roster.member("m-ok") is not None  # later events flowed
        assert roster.member("m-long") is None
    letters = [e.letter for e in await read_letters(EventStore(nc), ROSTER_COPY)]
    assert [(x.sequence, x.data) for x in letters] == [(refused.sequence, refused.data)]
    assert letters[0].reason in {"handler_failed", "invalid_payload"}
    assert letters[0].deliveries >= 3 or letters[0].reason == "invalid_payload"
    report.add(
        "input",
        "a roster value the events copy's column refuses (PostgreSQL)",
        1,
        f"set aside after {letters[0].deliveries} tries ({letters[0].reason}); sequence "
        f"{later.sequence} applied after it; health names the letter",
    )


@contextlib.contextmanager
def _role(pg_base: str, pg_url: str) -> Iterator[tuple[str, str]]:
    """A login role of its own in the test schema: the service connects as it."""
    role = f"t_writer_{uuid.uuid4().hex[:8]}"
    schema = pg_url.rsplit("search_path%3D", 1)[1]
    admin = make_engine(pg_base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f'GRANT USAGE, CREATE ON SCHEMA "{schema}" TO {role}'))
    try:
        yield role, pg_url.replace("postgres@", f"{role}@", 1)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role} CASCADE"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


async def test_a_database_refusing_writes_is_an_outage_retried_not_a_dead_letter(
    settings: Settings, nc: Client, pg_base: str, pg_url: str, report: Report
) -> None:
    with _role(pg_base, pg_url) as (role, role_url):
        async with running_service("events", settings.with_(database_url=role_url)):
            admin = make_engine(pg_url)
            with admin.begin() as conn:
                conn.execute(text(f"REVOKE INSERT, UPDATE ON events_roster_members FROM {role}"))
            s = Streams()
            _member(s, "m1", "Lê Thị Lan")
            await publish(nc.jetstream(), s.events)
            down = await _until(
                nc,
                "events",
                "unhealthy while the store refuses writes",
                lambda h: (
                    not h["healthy"]
                    and any("store refuses writes" in p for p in h["detail"].get("problems", []))
                ),
            )
            assert any(p.startswith(ROSTER_COPY) for p in down["detail"]["problems"]), down
            with admin.begin() as conn:
                conn.execute(text(f"GRANT INSERT, UPDATE ON events_roster_members TO {role}"))
            admin.dispose()
            up = await _until(nc, "events", "caught up once writes are allowed", _caught_up)
            assert _follower(up)["set_aside"] == {}
    assert await read_letters(EventStore(nc), ROSTER_COPY) == []
    report.add(
        "fault",
        "the events database refuses the roster copy's writes (PostgreSQL permissions)",
        1,
        "unhealthy with 'store refuses writes' while it lasts; retried, never set aside; "
        "caught up once allowed",
    )


async def test_a_follower_behind_and_not_advancing_is_unhealthy(
    settings: Settings, nc: Client, report: Report
) -> None:
    """The roster copy stuck at 2 of 7 (its database locked by another writer) was healthy."""
    stalled = settings.with_(follower_stall_s=0.0)
    s = Streams()
    for i in range(2):
        _member(s, f"m{i}", f"Thành viên {i}")
    await publish(nc.jetstream(), s.events)
    async with running_service("events", stalled):
        await _until(nc, "events", "caught up", _caught_up)
        db = sqlite3.connect(stalled.database_url_for("events").removeprefix("sqlite:///"))
        db.execute("BEGIN EXCLUSIVE")
        try:
            for i in range(2, 7):
                _member(s, f"m{i}", f"Thành viên {i}")
            await publish(nc.jetstream(), s.events[2:])
            down = await _until(nc, "events", "unhealthy while stuck", lambda h: not h["healthy"])
            follower = _follower(down)
            assert (follower["applied"], follower["last"]) == (2, 7), follower
            assert follower["state"] in {"stalled", "failing"}
            assert any(p.startswith(ROSTER_COPY) for p in down["detail"]["problems"])
        finally:
            db.rollback()
            db.close()
        await _until(nc, "events", "caught up once unlocked", _caught_up)
    report.add(
        "fault",
        "the roster copy stuck at 2 of 7 (its SQLite database locked)",
        1,
        "unhealthy, the follower named with 2/7; healthy again once it moved",
    )


async def test_dead_letters_that_cannot_be_written_make_the_service_unhealthy(
    settings: Settings, nc: Client, report: Report
) -> None:
    js = nc.jetstream()
    await EventStore(nc).ensure_streams(event_streams())
    # A DLQ that refuses every letter (each is larger than 64 bytes).
    await js.add_stream(replace(stream_config(DLQ_STREAM), max_msg_size=64))
    async with running_service("events", settings):
        poison = await js.publish("ev.roster.member.poison", b"{not json")
        down = await _until(
            nc,
            "events",
            "unhealthy while letters cannot be written",
            lambda h: (
                not h["healthy"]
                and any(
                    "dead letters cannot be written" in p for p in h["detail"].get("problems", [])
                )
            ),
        )
        assert _follower(down)["applied"] < poison.seq
        # `briefings status`: one whole line per problem, non-zero exit; --json the detail
        code, out, _ = await briefings(settings.nats_url, "status")
        assert code == 1
        lines = out.splitlines()
        assert any(line.startswith("events: UNHEALTHY") for line in lines), out
        problem = next(p for p in down["detail"]["problems"] if "dead letters" in p)
        assert problem.startswith(ROSTER_COPY + ": dead letters cannot be written: ")
        assert any(line.strip() == f"- {problem}" for line in lines), out
        code, out, _ = await briefings(settings.nats_url, "status", "--json")
        assert code == 1
        events = json.loads(out)["services"]["events"]
        assert events["healthy"] is False
        assert problem in events["detail"]["problems"]
        assert events["detail"]["followers"]["roster-copy:ROSTER"]["state"] == "failing"
        await js.update_stream(replace(stream_config(DLQ_STREAM), max_msg_size=DLQ_MAX_MSG_BYTES))
        up = await _until(nc, "events", "healthy once letters can be written", _caught_up)
        assert _follower(up)["set_aside"] == {"malformed": 1}
    letters = await read_letters(EventStore(nc), ROSTER_COPY)
    assert [e.letter.sequence for e in letters] == [poison.seq]
    report.add(
        "fault",
        "the DLQ refuses letters (max message size)",
        1,
        "unhealthy with 'dead letters cannot be written'; the message is not passed until "
        "its letter is stored",
    )


async def _rebuilt(nc: Client, generation: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        status = (await request(nc, "qry.reporting.status", {}))["data"]
        if status["generation"] == generation and status["rebuild"] is None:
            return
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.2)


async def test_every_rebuild_adds_no_duplicate_letters(
    settings: Settings, nc: Client, report: Report
) -> None:
    js = nc.jetstream()
    await EventStore(nc).ensure_streams(event_streams())
    # Letters are deduplicated by NATS only within the DLQ's duplicate window (minutes);
    # a rebuild days later is past it. Here the window is a tenth of a second.
    await js.add_stream(replace(stream_config(DLQ_STREAM), duplicate_window=0.1))
    s = Streams()
    _member(s, "m1", "Lê Thị Lan")
    await publish(js, s.events)
    bad = await js.publish("ev.roster.member.bad", b"{not json")
    async with running_service("reporting", settings):
        for generation in (2, 3):
            await asyncio.sleep(0.2)  # past the duplicate window
            reply = await request(nc, "cmd.reporting.rebuild", {})
            assert reply["ok"], reply
            await _rebuilt(nc, generation)
    letters = await read_letters(EventStore(nc), "reporting.ROSTER")
    assert [e.letter.sequence for e in letters] == [bad.seq]
    raw = [m async for m in EventStore(nc).iterate(DLQ_STREAM.name)]
    assert len(raw) == 1, [m.subject for m in raw]
    report.add(
        "input",
        "one malformed message, two rebuilds past the DLQ's duplicate window",
        3,
        "one letter in the DLQ stream (was one more per rebuild)",
    )


async def test_an_event_store_that_refuses_writes_answers_unavailable_and_is_unhealthy(
    tmp_path: Path, report: Report
) -> None:
    """With JetStream's store full, commands got `internal: ServiceUnavailableError` and
    health said fine."""
    conf = tmp_path / "small.conf"
    conf.write_text("jetstream { max_file_store: 1MB }\n")
    server = NatsServer(tmp_path / "nats", config_file=conf).start()
    try:
        nc = await connect(server.url)
        try:
            settings = settings_for(server.url, tmp_path / "data")
            async with running_service("roster", settings):
                js = nc.jetstream()
                await js.add_stream(name="FILL", subjects=["fill.>"])
                with contextlib.suppress(ServiceUnavailableError):
                    for i in range(10_000):  # until the store is full
                        await js.publish(f"fill.{i}", b"x" * 4000)
                reply = await request(
                    nc,
                    "cmd.roster.register_unit",
                    {"command_id": "u1", "kind": "city", "name": "Cấp thành phố"},
                )
                assert reply["ok"] is False and reply["code"] == "unavailable", reply
                assert "event store refuses writes" in reply["message"]
                health = await _health(nc, "roster")
                assert health["healthy"] is False
                assert any(
                    p.startswith("the event store refuses writes")
                    for p in health["detail"]["problems"]
                ), health
        finally:
            await nc.close()
    finally:
        server.stop()
    report.add(
        "fault",
        "JetStream's store full (max_file_store 1 MB)",
        1,
        "commands answer `unavailable` (the event store refuses writes), health unhealthy",
    )


async def test_a_service_under_its_deployment_role_sets_a_poison_message_aside(
    deployed: Secured, who: dict[str, Principal], tmp_path: Path
) -> None:
    """The events service may write its letters but not read the DLQ (its role): the letter
    is still written and the roster copy moves past the message."""
    settings = settings_for(deployed.url, tmp_path / "data").with_(
        nats_user="events", nats_password=deployed.passwords["events"]
    )
    roster = who["roster"].client.jetstream()
    poison = await roster.publish("ev.roster.member.poison", b"{not json", stream="ROSTER")
    async with running_service("events", settings):
        nc = who["events"].client
        reply = await _until(
            nc,
            "events",
            "past the poison message",
            lambda h: h["healthy"] and _follower(h)["applied"] >= poison.seq,
        )
        assert _follower(reply)["set_aside"].get("malformed", 0) >= 1
    letters = await read_letters(EventStore(who["operator"].client), ROSTER_COPY)
    assert poison.seq in [e.letter.sequence for e in letters]
