"""A realistic history for the bulk benchmarks: cities × years of the programme.

Each city-year is shaped like the article's year (11 units and 209 members enrolled in the
city's first year; 10 conferences scheduled and held, ~171 attendances and a guest count
each; 8 awards at the year's end): about 1,750 events, 1,970 in a city's first year. Years
run outer, cities inner, so the three streams interleave as a country's would. Every event is
a valid envelope of a contracts event model, with its aggregate's hash chain (``prev_hash``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from nats.aio.client import Client

from contracts import awards as a
from contracts import events as e
from contracts import roster as r
from contracts.canonical import GENESIS_HASH, canonical_json, format_datetime, sha256_hex
from contracts.envelope import DomainEvent
from contracts.subjects import event_streams, event_subject
from runtime.eventstore import EventStore

CONTEXT = {"unit": "roster", "member": "roster", "conference": "events", "award": "awards"}
ID_FIELD = {
    "unit": "unit_id",
    "member": "member_id",
    "conference": "conference_id",
    "award": "award_id",
}
FIRST_YEAR = 2016
MONTHS = (1, 2, 3, 4, 5, 6, 7, 9, 10, 12)


@dataclass(frozen=True)
class Shape:
    events: int
    cities: int
    years: int

    @property
    def last_year(self) -> int:
        return FIRST_YEAR + self.years - 1


def shape(events: int) -> Shape:
    """A decade when the history is large enough, fewer years for a small one."""
    years = max(1, min(10, events // 1750))
    cities = max(1, -(-events // (1750 * years)))
    return Shape(events, cities, years)


def _domain_events(s: Shape) -> Iterator[DomainEvent]:
    for year in range(FIRST_YEAR, FIRST_YEAR + s.years + 1):  # one spare year: cut at ``events``
        for city in range(s.cities):
            c = f"c{city:03d}"
            members = [f"{c}r{i:02d}" for i in range(19)] + [f"{c}p{i:03d}" for i in range(190)]
            cells = [f"{c}cell{u:02d}" for u in range(1, 11)]
            if year == FIRST_YEAR:
                d0 = date(FIRST_YEAR - 1, 6, 1)
                yield r.UnitRegistered(
                    unit_id=c, kind=r.UnitKind.CITY, name=f"Thành phố {city:03d}", effective_on=d0
                )
                for u, cell in enumerate(cells, 1):
                    yield r.UnitRegistered(
                        unit_id=cell,
                        kind=r.UnitKind.PARTY_CELL,
                        name=f"Chi bộ {u:02d}",
                        effective_on=d0,
                    )
                for i, m in enumerate(members):
                    reporter = i < 19
                    yield r.MemberEnrolled(
                        member_id=m,
                        full_name=f"Đảng viên {m}",
                        role=r.Role.REPORTER if reporter else r.Role.PROPAGANDIST,
                        unit_id=c if reporter else cells[i % 10],
                        core=i % 20 == 0,
                        effective_on=d0,
                    )
            for n, month in enumerate(MONTHS):
                day = date(year, month, 15)
                cid = f"{c}y{year}n{n}"
                kinds = [e.ConferenceKind.THEMATIC if n in (3, 7) else e.ConferenceKind.INFORMATION]
                title = f"Hội nghị {day:%m/%Y}"
                yield e.ConferenceScheduled(
                    conference_id=cid, kinds=kinds, title=title, planned_on=day
                )
                yield e.ConferenceHeld(conference_id=cid, kinds=kinds, title=title, held_on=day)
                for k in range(171):
                    idx = (k + n * 7) % len(members)
                    unit = c if idx < 19 else cells[idx % 10]
                    yield e.AttendanceRecorded(
                        conference_id=cid, member_id=members[idx], unit_id=unit
                    )
                yield e.GuestAttendanceRecorded(
                    conference_id=cid, category=e.GuestCategory.OTHER, headcount=20
                )
            review = date(year, 12, 15)
            for k in range(3):
                yield a.AwardGranted(
                    award_id=f"{c}y{year}col{k}",
                    recipient_type=a.RecipientType.COLLECTIVE,
                    recipient_id=cells[k],
                    recipient_name=f"Chi bộ {k + 1:02d}",
                    award_kind="certificate_of_merit",
                    title="Giấy khen",
                    period=str(year),
                    decision_number=f"QĐ-{c}-{year}-{k}",
                    decision_date=review,
                )
            for k in range(5):
                yield a.AwardGranted(
                    award_id=f"{c}y{year}ind{k}",
                    recipient_type=a.RecipientType.INDIVIDUAL,
                    recipient_id=members[19 + k * 20],
                    recipient_name=f"Đảng viên {members[19 + k * 20]}",
                    award_kind="certificate_of_merit",
                    title="Giấy khen",
                    period=str(year),
                    decision_number=f"QĐ-{c}-{year}-i{k}",
                    decision_date=review,
                )


def envelopes(s: Shape) -> Iterator[tuple[str, str, bytes]]:
    """(stream, subject, canonical envelope bytes) for ``s.events`` events, hash-chained."""
    prev: dict[str, str] = {}
    versions: dict[str, int] = {}
    clock = datetime(FIRST_YEAR - 1, 6, 1, tzinfo=UTC)
    step = timedelta(seconds=max(1, int(3.15e8 // max(s.events, 1))))
    for i, ev in enumerate(_domain_events(s)):
        if i >= s.events:
            return
        agg_type = ev.aggregate_type
        agg_id = getattr(ev, ID_FIELD[agg_type])
        context = CONTEXT[agg_type]
        version = versions.get(agg_id, 0) + 1
        versions[agg_id] = version
        clock += step
        at = format_datetime(clock)
        data = canonical_json(
            {
                "event_id": str(uuid.UUID(int=i + 1)),
                "type": ev.event_type,
                "schema_version": ev.schema_version,
                "aggregate_type": agg_type,
                "aggregate_id": agg_id,
                "aggregate_version": version,
                "occurred_at": at,
                "recorded_at": at,
                "correlation_id": "bench",
                "causation_id": f"bench-{i}",
                "command_id": f"bench-{i}",
                "actor": "bench",
                "prev_hash": prev.get(agg_id, GENESIS_HASH),
                "payload": ev.model_dump(mode="json"),
            }
        )
        prev[agg_id] = sha256_hex(data)
        yield context.upper(), event_subject(context, agg_type, agg_id), data


async def publish_history(
    nc: Client, s: Shape, window: int = 2000, progress: bool = False
) -> dict[str, int]:
    """Store the history (windowed async publishes); returns each stream's last sequence."""
    await EventStore(nc).ensure_streams(event_streams())
    js = nc.jetstream(timeout=60)
    futures: list[asyncio.Future[Any]] = []
    began = time.monotonic()
    for i, (stream, subject, data) in enumerate(envelopes(s), 1):
        futures.append(await js.publish_async(subject, data, stream=stream))
        if len(futures) >= window:
            await asyncio.gather(*futures)
            futures.clear()
            if progress and i % 100_000 < window:
                print(f"  published {i:,} ({i / (time.monotonic() - began):,.0f}/s)", flush=True)
    await asyncio.gather(*futures)
    return {spec.name: (await js.stream_info(spec.name)).state.last_seq for spec in event_streams()}
