"""kill -9 the reporting service at random points during catch-up, restart it: its tables
equal a clean rebuild (the offline ReadModel fed every stream), and no letter is doubled."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from pathlib import Path

from nats.aio.client import Client

from contracts.subjects import CONTEXTS, stream_name
from runtime.deadletter import read_letters
from runtime.eventstore import EventStore
from runtime.settings import Settings
from runtime.sql import make_engine
from services.reporting.read_model import ReadModel, memory_engine
from tests.reliability.conftest import Report
from tests.reliability.helpers import FaultyService
from tests.reliability.seed import publish_all, year_of_events
from tests.support import request, wait_healthy

KILLS = 4


def positions(db: Path) -> int:
    """How far the service's own tables got: read-only, never creating anything."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            gen = conn.execute(
                "select value from reporting_meta where key = 'active_gen'"
            ).fetchone()
            if gen is None:
                return 0
            row = conn.execute(
                f"select coalesce(sum(sequence), 0) from reporting_g{int(gen[0])}_positions"
            ).fetchone()
            return int(row[0])
    except sqlite3.Error:  # tables not made yet, or locked for a moment
        return 0


async def test_reporting_killed_during_catch_up_equals_a_clean_rebuild(
    settings: Settings, nc: Client, tmp_path: Path, report: Report
) -> None:
    events = year_of_events(members=1500, conferences=24)
    bad = [
        ("ev.roster.member.broken", b"{not json"),
        ("ev.events.conference.future", b'{"type": "ConferenceHeld", "schema_version": 7}'),
    ]
    await publish_all(nc, events[:100] + bad + events[100:])
    total = len(events) + len(bad)
    rng = random.Random()
    targets = sorted(rng.uniform(0.02, 0.95) * total for _ in range(KILLS))
    db = settings.data_dir / "reporting.db"
    killed_at: list[int] = []
    for i, target in enumerate(targets):
        service = FaultyService("reporting", settings, tmp_path / f"reporting-{i}.log").start()
        reached = killed_at[-1] if killed_at else 0
        try:
            # Kill once this run has made progress and passed its random target.
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                now = positions(db)
                if now >= total or (now > reached and now >= target):
                    break
                assert service.proc is not None and service.proc.poll() is None, service.log()
                await asyncio.sleep(0.01)
        finally:
            service.kill()  # SIGKILL, wherever it is: mid-batch, mid-transaction, mid-ack
        killed_at.append(positions(db))
    mid = [k for k in killed_at if 0 < k < total]
    assert len(mid) >= KILLS // 2, killed_at  # most kills landed during catch-up

    service = FaultyService("reporting", settings, tmp_path / "reporting-final.log").start()
    try:
        await wait_healthy(nc, "reporting", timeout=90)
        deadline = time.monotonic() + 90
        while True:
            status = (await request(nc, "qry.reporting.status", {}))["data"]
            lag = status["lag"]
            if all(v["applied"] >= v["last"] for v in lag.values()):
                break
            assert time.monotonic() < deadline, status
            await asyncio.sleep(0.2)
    finally:
        service.terminate()

    es = EventStore(nc)
    clean = ReadModel(memory_engine())
    for context in CONTEXTS:
        stream = stream_name(context)
        batch = [s async for s in es.iterate(stream)]
        if batch:
            clean.apply(batch)
    engine = make_engine(f"sqlite:///{db}")
    try:
        live = ReadModel(engine)
        assert live.positions() == clean.positions()
        live_dump, clean_dump = live.dump(), clean.dump()
    finally:
        engine.dispose()
    assert live_dump.keys() == clean_dump.keys()
    for table in clean_dump:
        assert live_dump[table] == clean_dump[table], table
    letters = await read_letters(es)
    assert sorted(e.letter.sequence or 0 for e in letters) == sorted(
        {e.letter.sequence or 0 for e in letters}
    ) and len(letters) == len(bad)
    info = await nc.jetstream().stream_info("DLQ")
    assert info.state.messages == len(bad)  # re-set-aside after a crash is deduplicated
    rows = sum(len(v) for v in clean_dump.values())
    report.add(
        "fault",
        f"reporting SIGKILL x{KILLS} during catch-up of {total} events",
        KILLS,
        f"killed at positions {killed_at}; after restart {rows} rows equal a clean "
        f"rebuild; {len(bad)} letters, none doubled",
    )
