"""Event sequences for the reporting tests, built from the contracts' own event models."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from contracts import awards as a
from contracts import events as e
from contracts import roster as r
from contracts.envelope import DomainEvent, EventEnvelope
from contracts.subjects import event_subject
from runtime.eventstore import StoredEvent

CONTEXT = {"unit": "roster", "member": "roster", "conference": "events", "award": "awards"}
ID_FIELD = {
    "unit": "unit_id",
    "member": "member_id",
    "conference": "conference_id",
    "award": "award_id",
}


class Streams:
    """Appends events to three in-memory streams as JetStream would number them."""

    def __init__(self, start: datetime = datetime(2022, 1, 1, tzinfo=UTC)) -> None:
        self.clock = start
        self.last: Counter[str] = Counter()
        self.versions: Counter[str] = Counter()
        self.events: list[StoredEvent] = []

    def add(self, event: DomainEvent, recorded_at: datetime | None = None) -> StoredEvent:
        agg_type = event.aggregate_type
        agg_id = getattr(event, ID_FIELD[agg_type])
        context = CONTEXT[agg_type]
        stream = context.upper()
        self.last[stream] += 1
        self.versions[agg_id] += 1
        self.clock = recorded_at or self.clock + timedelta(seconds=1)
        envelope = EventEnvelope(
            event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{stream}/{self.last[stream]}"),
            type=event.event_type,
            schema_version=event.schema_version,
            aggregate_type=agg_type,
            aggregate_id=agg_id,
            aggregate_version=self.versions[agg_id],
            occurred_at=self.clock,
            recorded_at=self.clock,
            correlation_id="test",
            causation_id="test",
            actor="test",
            payload=event.model_dump(mode="json"),
        )
        stored = StoredEvent(
            stream,
            self.last[stream],
            event_subject(context, agg_type, agg_id),
            envelope.to_canonical(),
            str(envelope.event_id),
            self.clock,
        )
        self.events.append(stored)
        return stored

    def raw(self, stream: str, subject: str, data: bytes) -> StoredEvent:
        """A message as it may arrive from a stream that holds anything (for dead letters)."""
        self.last[stream] += 1
        stored = StoredEvent(stream, self.last[stream], subject, data)
        self.events.append(stored)
        return stored

    def of(self, stream: str) -> list[StoredEvent]:
        return [s for s in self.events if s.stream == stream]


CONFERENCE_DAYS = [
    date(2022, m, d)
    for m, d in (
        (1, 14),
        (2, 18),
        (3, 16),
        (4, 15),
        (5, 17),
        (6, 16),
        (7, 14),
        (9, 15),
        (10, 14),
        (12, 9),
    )
]
THEMATIC = {date(2022, 4, 15), date(2022, 9, 15)}


def sample_year(s: Streams | None = None) -> Streams:
    """A year shaped like the article's: 19 reporters, 189 propagandists, 08 information and
    02 thematic conferences (the 9 Dec one also the review), 1,712 member attendances,
    3 collective and 5 individual awards (plus one revoked)."""
    s = s or Streams()
    d0 = date(2021, 6, 1)
    s.add(
        r.UnitRegistered(
            unit_id="city", kind=r.UnitKind.CITY, name="Cấp thành phố", effective_on=d0
        )
    )
    for u in range(1, 11):
        s.add(
            r.UnitRegistered(
                unit_id=f"cell{u:02d}",
                kind=r.UnitKind.PARTY_CELL,
                name=f"Chi bộ {u:02d}",
                effective_on=d0,
            )
        )
    for i in range(19):
        s.add(
            r.MemberEnrolled(
                member_id=f"rep{i:02d}",
                full_name=f"Báo cáo viên {i:02d}",
                role=r.Role.REPORTER,
                unit_id="city",
                effective_on=d0,
            )
        )
    for i in range(190):
        s.add(
            r.MemberEnrolled(
                member_id=f"pro{i:03d}",
                full_name=f"Tuyên truyền viên {i:03d}",
                role=r.Role.PROPAGANDIST,
                unit_id=f"cell{i % 10 + 1:02d}",
                core=i % 20 == 0,
                effective_on=d0,
            )
        )
    # one propagandist retires mid-year: 189 at year end
    s.add(r.MemberRetired(member_id="pro189", reason="moved", effective_on=date(2022, 6, 30)))
    members = [f"rep{i:02d}" for i in range(19)] + [f"pro{i:03d}" for i in range(189)]
    total = 0
    for n, day in enumerate(CONFERENCE_DAYS):
        kinds = [e.ConferenceKind.THEMATIC] if day in THEMATIC else [e.ConferenceKind.INFORMATION]
        if day == date(2022, 12, 9):
            kinds.append(e.ConferenceKind.REVIEW)
        cid = f"conf{n:02d}"
        s.add(
            e.ConferenceScheduled(
                conference_id=cid, kinds=kinds, title=f"Hội nghị {day:%m/%Y}", planned_on=day
            )
        )
        s.add(
            e.ConferenceHeld(
                conference_id=cid,
                kinds=kinds,
                held_on=day,
                title=f"Hội nghị {day:%m/%Y}",
                presenters=[
                    e.Presenter(name="Nguyễn Quán Phú", affiliation="Ban Tuyên giáo Trung ương")
                ]
                if day.month == 12
                else [],
            )
        )
        count = 171 if n < 9 else 173  # 9 * 171 + 173 = 1,712
        for mid in members[:count]:
            s.add(e.AttendanceRecorded(conference_id=cid, member_id=mid))
        total += count
        s.add(
            e.GuestAttendanceRecorded(
                conference_id=cid, category=e.GuestCategory.OTHER, headcount=20
            )
        )
    # a mistaken attendance, withdrawn, then recorded for someone else
    s.add(e.AttendanceRecorded(conference_id="conf00", member_id="pro188"))
    s.add(e.AttendanceCorrected(conference_id="conf00", member_id="pro188", attended=False))
    review = date(2022, 12, 9)
    for k in range(3):
        s.add(
            a.AwardGranted(
                award_id=f"col{k}",
                recipient_type=a.RecipientType.COLLECTIVE,
                recipient_id=f"cell{k + 1:02d}",
                recipient_name=f"Chi bộ {k + 1:02d}",
                award_kind="certificate_of_merit",
                title="Giấy khen",
                period="2022",
                decision_number=f"QĐ-{k}",
                decision_date=review,
            )
        )
    for k in range(6):
        s.add(
            a.AwardGranted(
                award_id=f"ind{k}",
                recipient_type=a.RecipientType.INDIVIDUAL,
                recipient_id=f"pro{k * 20:03d}",
                recipient_name=f"Tuyên truyền viên {k * 20:03d}",
                award_kind="certificate_of_merit",
                title="Giấy khen",
                period="2022",
                decision_number=f"QĐ-i{k}",
                decision_date=review,
            )
        )
    s.add(a.AwardRevoked(award_id="ind5", decision_number="QĐ-r", decision_date=review))
    assert total == 1712
    return s


async def publish(js: Any, events: list[StoredEvent], window: int = 1000) -> None:
    """Store ``events`` in their streams (the streams number them as the factory did)."""
    import asyncio

    from contracts.subjects import event_streams
    from runtime.eventstore import EventStore

    store = EventStore(js._nc) if hasattr(js, "_nc") else None
    if store is not None:
        await store.ensure_streams(event_streams())
    futures = []
    for stored in events:
        futures.append(
            await js.publish_async(
                stored.subject,
                stored.data,
                stream=stored.stream,
            )
        )
        if len(futures) >= window:
            await asyncio.wait_for(asyncio.gather(*futures), 30)
            futures = []
    if futures:
        await asyncio.wait_for(asyncio.gather(*futures), 30)


def busy_years(conferences: int = 60, s: Streams | None = None) -> Streams:
    """The sample year plus ``conferences`` more in 2023, each attended by the whole roster:
    about 208 events per conference (for rebuild and throughput runs)."""
    s = sample_year(s)
    members = [f"rep{i:02d}" for i in range(19)] + [f"pro{i:03d}" for i in range(189)]
    for n in range(conferences):
        day = date(2023, 1 + n % 12, 1 + n % 28)
        cid = f"busy{n:04d}"
        s.add(
            e.ConferenceHeld(
                conference_id=cid,
                kinds=[e.ConferenceKind.INFORMATION],
                held_on=day,
                title=f"Busy {n}",
            )
        )
        for mid in members:
            s.add(e.AttendanceRecorded(conference_id=cid, member_id=mid))
    return s


def mixed_history(seed: int, s: Streams | None = None) -> Streams:
    """A random history over 2018-2025 with everything a period query has to get right:
    back-dated and future-dated member changes (transfers, roles, core flags, retirements,
    re-enrolments, name corrections effective after the period), attendance of members not
    (yet) enrolled, withdrawn attendances, scheduled and cancelled conferences, several
    conferences on one day, renamed and dissolved units, revoked awards."""
    import random

    rng = random.Random(seed)
    s = s or Streams()

    def day(first: int = 2019, last: int = 2024) -> date:
        span = (date(last, 12, 31) - date(first, 1, 1)).days
        return date(first, 1, 1) + timedelta(days=rng.randrange(span))

    roles = list(r.Role)
    units = [f"u{i}" for i in range(6)]
    for u in units:
        s.add(
            r.UnitRegistered(
                unit_id=u,
                kind=rng.choice(list(r.UnitKind)),
                name=f"Unit {u}",
                effective_on=day(2018, 2020),
            )
        )
    for u in units[:2]:
        s.add(r.UnitRenamed(unit_id=u, name=f"Renamed {u}", previous_name=u, effective_on=day()))
    s.add(r.UnitDissolved(unit_id=units[5], effective_on=day(2022, 2023)))
    members = [f"m{i:03d}" for i in range(60)]
    for m in members[:50]:
        s.add(
            r.MemberEnrolled(
                member_id=m,
                full_name=f"Name {rng.choice('ABCDE')} {m}",
                role=rng.choice(roles),
                unit_id=rng.choice(units),
                core=rng.random() < 0.2,
                effective_on=day(2018, 2023),
            )
        )
    for _ in range(80):
        m, k, on = rng.choice(members[:50]), rng.randrange(8), day()
        if k == 0:
            s.add(
                r.MemberTransferred(
                    member_id=m,
                    from_unit_id=units[0],
                    to_unit_id=rng.choice(units),
                    effective_on=on,
                )
            )
        elif k == 1:
            s.add(
                r.MemberRoleChanged(
                    member_id=m,
                    role=rng.choice(roles),
                    previous_role=r.Role.REPORTER,
                    effective_on=on,
                )
            )
        elif k == 2:
            s.add(r.MemberCoreFlagSet(member_id=m, effective_on=on))
        elif k == 3:
            s.add(r.MemberCoreFlagCleared(member_id=m, effective_on=on))
        elif k == 4:
            s.add(r.MemberRetired(member_id=m, effective_on=on))
        elif k == 5:
            s.add(
                r.MemberReenrolled(
                    member_id=m, role=rng.choice(roles), unit_id=rng.choice(units), effective_on=on
                )
            )
        elif k == 6:
            s.add(
                r.MemberDetailsCorrected(
                    member_id=m,
                    full_name=f"Fixed {rng.choice('ABC')} {m}",
                    effective_on=day(2019, 2026),
                )
            )
        else:
            s.add(r.MemberExternalCodeChanged(member_id=m, external_code=None, effective_on=on))
    for n in range(40):
        cid, on, k = f"c{n:03d}", day(), rng.randrange(10)
        kinds = rng.sample(list(e.ConferenceKind), rng.randrange(1, 3))
        if k < 2:
            s.add(
                e.ConferenceScheduled(conference_id=cid, kinds=kinds, title=f"T{n}", planned_on=on)
            )
            if k == 1:
                s.add(e.ConferenceCancelled(conference_id=cid, cancelled_on=on))
            continue
        s.add(
            e.ConferenceHeld(
                conference_id=cid,
                kinds=kinds,
                title=f"T{n}",
                held_on=on if n % 7 else date(2022, 6, 15),
                presenters=[e.Presenter(name=f"P{n}")],
            )
        )
        for m in rng.sample(members, rng.randrange(0, 40)):
            s.add(
                e.AttendanceRecorded(
                    conference_id=cid, member_id=m, unit_id=rng.choice([None, *units])
                )
            )
            if rng.random() < 0.05:
                s.add(e.AttendanceCorrected(conference_id=cid, member_id=m, attended=False))
        for category in rng.sample(list(e.GuestCategory), rng.randrange(0, 3)):
            s.add(
                e.GuestAttendanceRecorded(
                    conference_id=cid, category=category, headcount=rng.randrange(0, 30)
                )
            )
    for m in members[50:55]:  # enrolled after (some of) their attendances
        s.add(
            r.MemberEnrolled(
                member_id=m,
                full_name=f"Late {m}",
                role=rng.choice(roles),
                unit_id=rng.choice(units),
                effective_on=day(2021, 2025),
            )
        )
    for n in range(20):
        collective = rng.random() < 0.5
        s.add(
            a.AwardGranted(
                award_id=f"a{n}",
                recipient_type=(
                    a.RecipientType.COLLECTIVE if collective else a.RecipientType.INDIVIDUAL
                ),
                recipient_id=rng.choice(units if collective else members),
                recipient_name=rng.choice(["", "Given"]),
                award_kind="k",
                title="t",
                period="2022",
                decision_number=f"d{n}",
                decision_date=day(),
            )
        )
        if rng.random() < 0.2:
            s.add(a.AwardRevoked(award_id=f"a{n}", decision_number=f"r{n}", decision_date=day()))
    return s
