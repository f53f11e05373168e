"""Load: N concurrent clients send a realistic mix of commands to the real services (child
processes: two roster instances, events, reporting) for a bounded time. Then every
acknowledged command has exactly its events, no reply was lost, refused commands wrote
nothing, and both read models agree with the streams.

LOAD_CLIENTS (16) and LOAD_SECONDS (6; scripts/reliability.sh uses 15) set the size.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from contracts.subjects import CONTEXTS, stream_name
from runtime.eventstore import EventStore
from runtime.settings import Settings
from runtime.sql import make_engine
from services.reporting.read_model import ReadModel, memory_engine
from tests.reliability.conftest import Report
from tests.reliability.helpers import FaultyService, stream_envelopes
from tests.support import connect, request, wait_healthy

CLIENTS = int(os.environ.get("LOAD_CLIENTS", "16"))
SECONDS = float(os.environ.get("LOAD_SECONDS", "6"))
CELLS = [f"cell-{i}" for i in range(5)]
HELD_ON = "2022-03-10"


@dataclass
class Tally:
    sent: int = 0
    acked: int = 0
    refused: int = 0
    conflicts_retried: int = 0
    unanswered: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    by_command: Counter[str] = field(default_factory=Counter)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused_ids: set[str] = field(default_factory=set)
    error_replies: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class World:
    members: list[str] = field(default_factory=list)
    conferences: list[str] = field(default_factory=list)


async def send(
    nc: Client, tally: Tally, context: str, name: str, body: dict[str, Any]
) -> dict[str, Any] | None:
    """One clerk's command: conflicts and unanswered requests are retried with the same id."""
    body = {"command_id": str(uuid.uuid4()), "actor": "load", **body}
    subject = f"cmd.{context}.{name}"
    tally.by_command[name] += 1
    for _ in range(10):
        tally.sent += 1
        started = time.perf_counter()
        try:
            reply = await request(nc, subject, body, timeout=15)
        except Exception:
            tally.unanswered += 1
            continue
        tally.latencies.append(time.perf_counter() - started)
        if reply["ok"]:
            tally.acked += 1
            tally.accepted[body["command_id"]] = reply
            return reply
        if reply["code"] == "conflict":
            tally.conflicts_retried += 1
            continue
        if reply["code"] in ("internal", "unavailable", "validation_failed"):
            tally.errors += 1
            tally.error_replies.append(reply)
            return None
        tally.refused += 1  # a business rule said no: nothing may be written
        tally.refused_ids.add(body["command_id"])
        return None
    tally.errors += 1
    return None


async def client(url: str, world: World, tally: Tally, until: float, seed: int) -> None:
    rng = random.Random(seed)
    nc = await connect(url)
    try:
        while time.monotonic() < until:
            roll = rng.random()
            member = rng.choice(world.members)
            if roll < 0.25:
                reply = await send(
                    nc,
                    tally,
                    "roster",
                    "enroll_member",
                    {
                        "full_name": f"Người {rng.randrange(10**6)}",
                        "role": "propagandist",
                        "unit_id": rng.choice(CELLS),
                        "effective_on": "2022-01-02",
                    },
                )
                if reply:
                    world.members.append(reply["aggregate_id"])
            elif roll < 0.35:
                await send(
                    nc,
                    tally,
                    "roster",
                    "transfer_member",
                    {"member_id": member, "to_unit_id": rng.choice(CELLS)},
                )
            elif roll < 0.45:
                await send(
                    nc,
                    tally,
                    "roster",
                    "set_member_core",
                    {"member_id": member, "core": rng.random() < 0.5},
                )
            elif roll < 0.50:
                await send(
                    nc,
                    tally,
                    "roster",
                    "rename_unit",
                    {"unit_id": rng.choice(CELLS), "name": f"Chi bộ {rng.randrange(10**6)}"},
                )
            elif roll < 0.55:
                await send(
                    nc,
                    tally,
                    "roster",
                    "correct_member_details",
                    {"member_id": member, "full_name": f"Người {rng.randrange(10**6)}"},
                )
            elif roll < 0.90:
                await send(
                    nc,
                    tally,
                    "events",
                    "record_attendance",
                    {"conference_id": rng.choice(world.conferences), "member_id": member},
                )
            elif roll < 0.95:
                await send(
                    nc,
                    tally,
                    "events",
                    "record_guest_attendance",
                    {
                        "conference_id": rng.choice(world.conferences),
                        "category": "other",
                        "headcount": rng.randrange(100),
                    },
                )
            else:
                reply = await send(
                    nc,
                    tally,
                    "events",
                    "schedule_conference",
                    {
                        "kinds": ["information"],
                        "title": f"Hội nghị {rng.randrange(10**6)}",
                        "planned_on": "2022-03-03",
                    },
                )
                if reply:
                    held = await send(
                        nc,
                        tally,
                        "events",
                        "hold_conference",
                        {"conference_id": reply["aggregate_id"], "held_on": HELD_ON},
                    )
                    if held:
                        world.conferences.append(reply["aggregate_id"])
    finally:
        await nc.close()


async def setup_world(nc: Client, tally: Tally) -> World:
    world = World()
    city = await send(
        nc,
        tally,
        "roster",
        "register_unit",
        {"unit_id": "city", "kind": "city", "name": "Cấp thành phố", "effective_on": "2022-01-01"},
    )
    assert city is not None
    for cell in CELLS:
        assert await send(
            nc,
            tally,
            "roster",
            "register_unit",
            {
                "unit_id": cell,
                "kind": "party_cell",
                "name": f"Chi bộ {cell}",
                "parent_id": "city",
                "effective_on": "2022-01-01",
            },
        )
    for i in range(20):
        reply = await send(
            nc,
            tally,
            "roster",
            "enroll_member",
            {
                "full_name": f"Thành viên {i}",
                "role": "propagandist",
                "unit_id": CELLS[i % 5],
                "effective_on": "2022-01-02",
            },
        )
        assert reply is not None
        world.members.append(reply["aggregate_id"])
    for k in range(3):
        reply = await send(
            nc,
            tally,
            "events",
            "schedule_conference",
            {"kinds": ["information"], "title": f"Hội nghị {k}", "planned_on": "2022-03-01"},
        )
        assert reply is not None, tally.error_replies
        assert await send(
            nc,
            tally,
            "events",
            "hold_conference",
            {"conference_id": reply["aggregate_id"], "held_on": HELD_ON},
        )
        world.conferences.append(reply["aggregate_id"])
    return world


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def wait_reporting_caught_up(nc: Client, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = (await request(nc, "qry.reporting.status", {}))["data"]
        if all(v["applied"] >= v["last"] for v in status["lag"].values()):
            return dict(status)
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.2)


async def count_members(nc: Client) -> int:
    """Every member the roster lists, page after page (a reply holds at most one page)."""
    count, after = 0, None
    while True:
        page = await request(nc, "qry.roster.list_members", {"after": after} if after else {})
        count += len(page["data"])
        after = page.get("next")
        if not after:
            return count


async def test_concurrent_clients_lose_nothing_and_duplicate_nothing(
    settings: Settings, nc: Client, tmp_path: Path, report: Report
) -> None:
    # Two roster instances (each its own store) share the requests: concurrent writers to
    # one aggregate really conflict, and each follows the other's writes.
    second = settings.with_(data_dir=settings.data_dir.parent / "roster-b")
    services = [
        FaultyService(name, s, tmp_path / f"{name}-{i}.log").start()
        for i, (name, s) in enumerate(
            [
                ("roster", settings),
                ("roster", second),
                ("events", settings),
                ("reporting", settings),
            ]
        )
    ]
    tally = Tally()
    try:
        for name in ("roster", "events", "reporting"):
            await wait_healthy(nc, name, timeout=60)
        world = await setup_world(nc, tally)
        started = time.monotonic()
        until = started + SECONDS
        await asyncio.wait_for(
            asyncio.gather(
                *(client(settings.nats_url, world, tally, until, seed) for seed in range(CLIENTS))
            ),
            timeout=SECONDS + 180,
        )
        elapsed = time.monotonic() - started
        status = await wait_reporting_caught_up(nc)
        enrolled_now = len(
            [e for e in await stream_envelopes(nc, "ROSTER") if e["type"] == "MemberEnrolled"]
        )
        deadline = time.monotonic() + 60
        while True:  # both instances' followers catch up with each other's writes
            listed = [await count_members(nc) for _ in range(6)]
            if set(listed) == {enrolled_now} or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        for service in services:
            service.terminate()

    envelopes = []
    for context in ("roster", "events"):
        envelopes += await stream_envelopes(nc, stream_name(context))
    by_command: dict[str, list[str]] = {}
    for env in envelopes:
        by_command.setdefault(env["command_id"], []).append(env["event_id"])
    lost = duplicated = 0
    for command_id, reply in tally.accepted.items():
        written = by_command.get(command_id, [])
        if written != reply["event_ids"]:
            lost += len(set(reply["event_ids"]) - set(written))
            duplicated += max(0, len(written) - len(reply["event_ids"]))
    stray = set(by_command) - set(tally.accepted)  # events no acknowledged command explains
    refused_wrote = tally.refused_ids & set(by_command)

    enrolled = [e for e in envelopes if e["type"] == "MemberEnrolled"]
    clean = ReadModel(memory_engine())
    es = EventStore(nc)
    for context in CONTEXTS:
        batch = [s async for s in es.iterate(stream_name(context))]
        if batch:
            clean.apply(batch)
    engine = make_engine(settings.database_url_for("reporting"))
    try:
        live = ReadModel(engine)
        read_model_agrees = live.dump() == clean.dump() and live.positions() == clean.positions()
    finally:
        engine.dispose()

    p50 = percentile(tally.latencies, 50) * 1000
    p99 = percentile(tally.latencies, 99) * 1000
    figures = {
        "clients": CLIENTS,
        "seconds": round(elapsed, 1),
        "commands": sum(tally.by_command.values()),
        "requests_sent": tally.sent,
        "acknowledged": tally.acked,
        "refused_by_rules": tally.refused,
        "conflicts_retried": tally.conflicts_retried,
        "unanswered": tally.unanswered,
        "errors": tally.errors,
        "events_written": len(envelopes),
        "lost": lost,
        "duplicated": duplicated,
        "stray": len(stray),
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "acked_per_s": round(tally.acked / elapsed, 1),
    }
    print("\nload figures: " + json.dumps(figures))
    print("mix: " + json.dumps(dict(tally.by_command)))
    assert tally.errors == 0, tally.error_replies[:5]
    assert tally.unanswered == 0  # no reply was lost
    assert lost == 0 and duplicated == 0 and not stray, (lost, duplicated, sorted(stray)[:5])
    assert not refused_wrote
    assert set(listed) == {len(enrolled)}, listed  # every instance's member list
    assert status["dead_letters_set_aside"] == 0
    assert read_model_agrees
    report.add(
        "load",
        f"{CLIENTS} clients x {figures['seconds']} s, realistic mix",
        figures["commands"],
        f"acked {tally.acked}, refused {tally.refused}, conflicts retried "
        f"{tally.conflicts_retried}, errors {tally.errors}, lost 0, duplicated 0, "
        f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms; read models agree",
        **figures,
    )
