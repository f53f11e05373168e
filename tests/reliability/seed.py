"""A realistic year of events published straight into the streams (fast: async publish),
for the tests that need many events before a consumer starts."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from nats.aio.client import Client

from contracts.canonical import GENESIS_HASH
from contracts.envelope import EventEnvelope
from contracts.subjects import event_streams
from runtime.eventstore import EventStore


class Seeder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.out: list[tuple[str, bytes]] = []
        self.versions: dict[str, tuple[int, str]] = {}

    def add(
        self,
        context: str,
        aggregate_type: str,
        aggregate_id: str,
        event_type: str,
        payload: dict[str, Any],
        on: date,
    ) -> None:
        subject = f"ev.{context}.{aggregate_type}.{aggregate_id}"
        version, prev = self.versions.get(subject, (0, GENESIS_HASH))
        when = datetime.combine(on, datetime.min.time(), UTC)
        env = EventEnvelope(
            event_id=uuid.UUID(int=self.rng.getrandbits(128)),
            type=event_type,
            schema_version=1,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            aggregate_version=version + 1,
            occurred_at=when,
            recorded_at=when + timedelta(hours=1),
            correlation_id=f"seed-{len(self.out)}",
            causation_id=f"seed-{len(self.out)}",
            command_id=f"seed-{len(self.out)}",
            actor="seed",
            prev_hash=prev,
            payload=payload,
        )
        self.versions[subject] = (version + 1, env.hash())
        self.out.append((subject, env.to_canonical()))


def year_of_events(
    members: int = 600, conferences: int = 12, seed: int = 7
) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    s = Seeder(rng)
    start = date(2022, 1, 3)
    s.add(
        "roster",
        "unit",
        "city",
        "UnitRegistered",
        {"unit_id": "city", "kind": "city", "name": "Cấp thành phố", "effective_on": "2022-01-01"},
        start,
    )
    cells = [f"cell-{i}" for i in range(12)]
    for cell in cells:
        s.add(
            "roster",
            "unit",
            cell,
            "UnitRegistered",
            {
                "unit_id": cell,
                "kind": "party_cell",
                "name": f"Chi bộ {cell}",
                "parent_id": "city",
                "effective_on": "2022-01-01",
            },
            start,
        )
    member_units: dict[str, str] = {}
    for i in range(members):
        mid = f"m{i}"
        reporter = i % 10 == 0
        unit = "city" if reporter else rng.choice(cells)
        member_units[mid] = unit
        s.add(
            "roster",
            "member",
            mid,
            "MemberEnrolled",
            {
                "member_id": mid,
                "full_name": f"Người số {i}",
                "role": "reporter" if reporter else "propagandist",
                "unit_id": unit,
                "core": rng.random() < 0.2,
                "effective_on": "2022-01-02",
            },
            start,
        )
    for i in rng.sample(range(members), members // 10):
        mid = f"m{i}"
        if member_units[mid] == "city":
            continue
        to = rng.choice([c for c in cells if c != member_units[mid]])
        s.add(
            "roster",
            "member",
            mid,
            "MemberTransferred",
            {
                "member_id": mid,
                "from_unit_id": member_units[mid],
                "to_unit_id": to,
                "effective_on": "2022-05-01",
            },
            date(2022, 5, 1),
        )
        member_units[mid] = to
    for k in range(conferences):
        cid = f"conf-{k}"
        on = date(2022, 1 + k % 12, 10)
        kinds = ["thematic"] if k % 6 == 5 else ["information"]
        s.add(
            "events",
            "conference",
            cid,
            "ConferenceScheduled",
            {
                "conference_id": cid,
                "kinds": kinds,
                "title": f"Hội nghị {k}",
                "planned_on": on.isoformat(),
            },
            on - timedelta(days=7),
        )
        s.add(
            "events",
            "conference",
            cid,
            "ConferenceHeld",
            {
                "conference_id": cid,
                "kinds": kinds,
                "title": f"Hội nghị {k}",
                "held_on": on.isoformat(),
            },
            on,
        )
        attendees = rng.sample(sorted(member_units), int(members * 0.6))
        for mid in attendees:
            s.add(
                "events",
                "conference",
                cid,
                "AttendanceRecorded",
                {"conference_id": cid, "member_id": mid, "unit_id": member_units[mid]},
                on,
            )
        for mid in attendees[:5]:
            s.add(
                "events",
                "conference",
                cid,
                "AttendanceCorrected",
                {
                    "conference_id": cid,
                    "member_id": mid,
                    "attended": False,
                    "reason": "signed twice",
                },
                on,
            )
        s.add(
            "events",
            "conference",
            cid,
            "GuestAttendanceRecorded",
            {"conference_id": cid, "category": "other", "headcount": rng.randint(5, 40)},
            on,
        )
    return s.out


async def publish_all(nc: Client, events: list[tuple[str, bytes]], window: int = 500) -> None:
    es = EventStore(nc)
    await es.ensure_streams(event_streams())
    js = nc.jetstream()
    for i in range(0, len(events), window):
        acks = [await js.publish_async(subject, data) for subject, data in events[i : i + window]]
        await asyncio.wait_for(asyncio.gather(*acks), 60)
