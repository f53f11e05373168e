"""The example outside service (examples/awards-follower) as a real process against a real
nats-server with the deployment's permissions and with the embedded default's, connected as
the subscriber role: it follows
AWARDS from the first event, skips what it does not know without decoding it, deduplicates
redeliveries by event id, and survives its own restart, a crash and a NATS restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client

from contracts.awards import AwardGranted, AwardRevoked
from contracts.canonical import GENESIS_HASH
from contracts.envelope import DomainEvent, EventEnvelope
from contracts.headers import EVENT_TYPE_HEADER, EVENT_VERSION_HEADER
from contracts.subjects import event_streams
from runtime.eventstore import EventStore
from runtime.nats_server import NatsServer
from runtime.settings import credentials_path
from tests.security.support import deployed_server, embedded_server

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "awards-follower"
DURABLE = "subscriber_AWARDS"


@dataclass
class Follower:
    """The example app as its own process (its README's run command)."""

    url: str
    credentials: dict[str, str]
    """AWARDS_FOLLOWER_NATS_USER/_PASSWORD, or AWARDS_FOLLOWER_CREDENTIALS (a file)."""
    db: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(EXAMPLE),
            "AWARDS_FOLLOWER_NATS_URL": self.url,
            **self.credentials,
            "AWARDS_FOLLOWER_DB": str(self.db),
        }
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "awards_follower"],
                cwd=EXAMPLE,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        with sqlite3.connect(self.db) as db:
            try:
                return list(db.execute(sql))
            except sqlite3.OperationalError:  # tables not made yet
                return []

    def awards(self) -> dict[str, tuple[str, int]]:
        return {a: (s, v) for a, s, v in self.rows("select award_id, status, version from awards")}

    def applied(self) -> list[tuple[str, int, str, int]]:
        return [
            (e, q, t, a)
            for e, q, t, a in self.rows("select * from applied_events order by stream_seq")
        ]

    async def until(self, what: str, check: Any) -> None:
        """Wait for the follower's table to reach a state (a wait, not a timing assertion)."""
        for _ in range(600):
            if check():
                return
            assert self.process is not None
            assert self.process.poll() is None, self.log.read_text()
            await asyncio.sleep(0.1)
        raise AssertionError(f"follower never reached: {what}\n{self.log.read_text()[-4000:]}")


@dataclass
class World:
    server: NatsServer
    passwords: dict[str, str]
    follower: Follower
    versions: dict[str, tuple[int, str]] = field(default_factory=dict)


@pytest.fixture(params=["deploy", "embedded"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The deployment's configuration (the password from the environment) and the embedded
    default's as ``briefings up`` writes it (the follower reads the credentials file)."""
    if request.param == "deploy":
        secured = deployed_server(tmp_path)
        credentials = {
            "AWARDS_FOLLOWER_NATS_USER": "subscriber",
            "AWARDS_FOLLOWER_NATS_PASSWORD": secured.passwords["subscriber"],
        }
    else:
        secured = embedded_server(tmp_path)
        path = credentials_path(tmp_path / "data", "subscriber")
        credentials = {"AWARDS_FOLLOWER_CREDENTIALS": str(path)}
    follower = Follower(
        secured.url, credentials, tmp_path / "follower.db", tmp_path / "follower.log"
    )
    yield World(secured.server, secured.passwords, follower)
    follower.stop(signal.SIGKILL)
    secured.server.stop()


async def connect(world: World, user: str, **options: Any) -> Client:
    return await nats.connect(
        world.server.url,
        user=user,
        password=world.passwords[user],
        max_reconnect_attempts=5,
        **options,
    )


@pytest_asyncio.fixture
async def awards(world: World) -> AsyncIterator[EventStore]:
    """The awards service's NATS user writing through the event store; streams by
    bootstrap."""
    op = await connect(world, "bootstrap")
    await EventStore(op).ensure_streams(event_streams())
    await op.close()
    nc = await connect(world, "awards")
    yield EventStore(nc)
    await nc.close()


def grant(award_id: str) -> AwardGranted:
    return AwardGranted(
        award_id=award_id,
        recipient_type="individual",
        recipient_id=f"m-{award_id}",
        recipient_name="Nguyễn Thị Hoa",
        award_kind="certificate_of_merit",
        title="Giấy khen báo cáo viên xuất sắc",
        period="2022",
        decision_number=f"{award_id}/QĐ-TTCT",
        decision_date=date(2022, 12, 20),
    )


def envelope(world: World, award_id: str, event: DomainEvent) -> EventEnvelope:
    version, prev = world.versions.get(award_id, (0, GENESIS_HASH))
    now = datetime(2022, 12, 20, 3, tzinfo=UTC)
    env = EventEnvelope(
        event_id=uuid.uuid4(),
        type=event.event_type,
        schema_version=event.schema_version,
        aggregate_type="award",
        aggregate_id=award_id,
        aggregate_version=version + 1,
        occurred_at=now,
        recorded_at=now,
        correlation_id="follower-test",
        causation_id="follower-test",
        actor="test",
        prev_hash=prev,
        payload=event.model_dump(mode="json"),
    )
    world.versions[award_id] = (version + 1, env.hash())
    return env


async def append(world: World, es: EventStore, award_id: str, event: DomainEvent) -> None:
    env = envelope(world, award_id, event)
    subject = f"ev.awards.award.{award_id}"
    await es.append("AWARDS", subject, [env], await es.last_sequence("AWARDS", subject))


async def test_the_follower_keeps_its_own_table_of_awards(world: World, awards: EventStore) -> None:
    f = world.follower
    # history before the follower exists: an event stored before the type headers (only
    # Nats-Msg-Id), two with headers, and an event type it does not know whose body is no
    # JSON at all: it must be skipped by its headers alone
    old = envelope(world, "a1", grant("a1"))
    await awards.js.publish(
        "ev.awards.award.a1",
        old.to_canonical(),
        stream="AWARDS",
        headers={"Nats-Msg-Id": str(old.event_id)},
    )
    await append(world, awards, "a2", grant("a2"))
    await append(world, awards, "a3", grant("a3"))
    unknown_id = str(uuid.uuid4())
    await awards.js.publish(
        "ev.awards.award.a3",
        b"\x00 a future event type, not for this follower",
        stream="AWARDS",
        headers={
            "Nats-Msg-Id": unknown_id,
            EVENT_TYPE_HEADER: "AwardAmended",
            EVENT_VERSION_HEADER: "1",
        },
    )

    # 1. from the first event
    f.start()
    await f.until("four events", lambda: len(f.applied()) == 4)
    assert f.awards() == {"a1": ("granted", 1), "a2": ("granted", 1), "a3": ("granted", 1)}
    assert [(t, a) for _, _, t, a in f.applied()] == [
        ("AwardGranted", 1),
        ("AwardGranted", 1),
        ("AwardGranted", 1),
        ("AwardAmended", 0),
    ]
    assert f.applied()[3][0] == unknown_id

    # 2. its own restart: what was written while it was down is applied after
    f.stop()
    await append(
        world,
        awards,
        "a2",
        AwardRevoked(award_id="a2", decision_number="9/QĐ", decision_date=date(2023, 1, 5)),
    )
    f.start()
    await f.until("a2 revoked", lambda: f.awards().get("a2") == ("revoked", 2))

    # 3. a crash, then its consumer removed: everything is delivered again from the first
    # event, and every redelivery is recognised by its event id
    f.stop(signal.SIGKILL)
    sub = await connect(world, "subscriber", inbox_prefix="_INBOX_subscriber")
    assert await sub.jetstream().delete_consumer("AWARDS", DURABLE)
    before = (f.awards(), f.applied())
    offset = len(f.log.read_text())  # count only what this run logs
    f.start()
    await f.until("five duplicates", lambda: f.log.read_text()[offset:].count(": duplicate") == 5)
    info = await sub.jetstream().consumer_info("AWARDS", DURABLE)
    assert info.delivered.stream_seq == 5
    assert (f.awards(), f.applied()) == before

    await sub.close()

    # 4. a NATS restart under the running follower
    world.server.stop()
    world.server.start()
    writer = await connect(world, "awards")
    await append(world, EventStore(writer), "a4", grant("a4"))
    await f.until("a4 after the restart", lambda: "a4" in f.awards())
    assert f.awards() == {
        "a1": ("granted", 1),
        "a2": ("revoked", 2),
        "a3": ("granted", 1),
        "a4": ("granted", 1),
    }
    stream = await writer.jetstream().stream_info("AWARDS")
    assert len(f.applied()) == stream.state.messages == 6
    assert len({e for e, _, _, _ in f.applied()}) == 6
    await writer.close()
    f.stop()
    assert f.process is not None and f.process.returncode == 0, f.log.read_text()
    assert "Permissions Violation" not in f.log.read_text()
