"""The projection on SQLite and PostgreSQL: positions, redelivery, semantics, interleavings."""

from __future__ import annotations

import json
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from contracts import awards as a
from contracts import events as e
from contracts import roster as r
from contracts.reporting import AnnualSummaryQuery
from runtime.eventstore import StoredEvent
from runtime.sql import make_engine
from services.reporting.read_model import ReadModel, memory_engine
from tests.reporting.factories import Streams, sample_year

Y2022 = AnnualSummaryQuery(year=2022)


def _model(url: str) -> ReadModel:
    return ReadModel(make_engine(url))


def test_given_the_sample_year_then_the_articles_figures(database_url: str) -> None:
    model = _model(database_url)
    model.apply(sample_year().events)
    s = model.annual_summary(Y2022)
    assert s["roster"]["at_end"] == {"reporter": 19, "propagandist": 189, "total": 208, "core": 10}
    assert s["roster"]["changes"] == {"retired": 1}
    assert s["conferences"]["held"] == 10
    assert s["conferences"]["by_kind"] == {"information": 8, "thematic": 2, "review": 1}
    assert s["attendance"]["member_attendances"] == 1712
    assert s["attendance"]["guest_attendances"] == 200
    assert (s["awards"]["collective"], s["awards"]["individual"], s["awards"]["revoked"]) == (
        3,
        5,
        1,
    )
    assert s["conferences"]["list"][-1]["presenters"][0]["name"] == "Nguyễn Quán Phú"


def test_yes_no_fields_are_stored_as_booleans(database_url: str) -> None:
    """``active`` and ``core`` are booleans in the tables (they were the strings "1"/"0")."""
    model = _model(database_url)
    model.apply(sample_year().events)
    changes = model.projection.t.member_changes
    with model.engine.connect() as conn:
        rows = conn.execute(
            select(changes.c.field, changes.c.value, changes.c.flag).where(
                changes.c.field.in_(("active", "core"))
            )
        ).all()
    assert rows and {type(flag) for _, _, flag in rows} == {bool}
    assert {value for _, value, _ in rows} == {None}
    assert {(field, flag) for field, _, flag in rows} >= {("active", True), ("core", True)}
    units = model.projection.t.unit_changes
    with model.engine.connect() as conn:
        flags = conn.execute(select(units.c.flag).where(units.c.field == "active")).scalars()
        assert set(flags) == {True}


def test_redelivered_and_replayed_events_are_skipped(database_url: str) -> None:
    events = sample_year().events
    model = _model(database_url)
    model.apply(events[:1000])
    model.apply(events[500:1500])  # overlaps: the first 500 again
    model.apply(events)  # everything again
    clean = ReadModel(memory_engine())
    clean.apply(events)
    assert model.annual_summary(Y2022) == clean.annual_summary(Y2022)
    assert model.positions() == {"ROSTER": 221, "EVENTS": 1744, "AWARDS": 10}


def test_attendance_counts_once_and_a_correction_withdraws_or_reinstates(database_url: str) -> None:
    s = Streams()
    s.add(
        r.UnitRegistered(
            unit_id="u", kind=r.UnitKind.PARTY_CELL, name="U", effective_on=date(2022, 1, 1)
        )
    )
    for m in ("m1", "m2"):
        s.add(
            r.MemberEnrolled(
                member_id=m,
                full_name=m,
                role=r.Role.PROPAGANDIST,
                unit_id="u",
                effective_on=date(2022, 1, 1),
            )
        )
    s.add(
        e.ConferenceHeld(
            conference_id="c",
            kinds=[e.ConferenceKind.INFORMATION, e.ConferenceKind.REVIEW],
            held_on=date(2022, 3, 1),
            title="C",
        )
    )
    s.add(e.AttendanceRecorded(conference_id="c", member_id="m1"))
    s.add(e.AttendanceRecorded(conference_id="c", member_id="m1"))  # counted once
    s.add(e.AttendanceRecorded(conference_id="c", member_id="m2"))
    s.add(e.AttendanceCorrected(conference_id="c", member_id="m2", attended=False))
    s.add(e.GuestAttendanceRecorded(conference_id="c", category=e.GuestCategory.OTHER, headcount=5))
    s.add(e.GuestAttendanceRecorded(conference_id="c", category=e.GuestCategory.OTHER, headcount=7))
    model = _model(database_url)
    model.apply(s.events)
    got = model.annual_summary(Y2022)
    assert got["attendance"]["member_attendances"] == 1
    assert got["attendance"]["guest_attendances"] == 7  # replaced, not added
    assert (
        got["conferences"]["by_kind"]["information"] == 1 == got["conferences"]["by_kind"]["review"]
    )
    s.add(e.AttendanceCorrected(conference_id="c", member_id="m2", attended=True))
    model.apply(s.events)
    assert model.annual_summary(Y2022)["attendance"]["member_attendances"] == 2


def test_history_answers_as_of_any_date(database_url: str) -> None:
    s = Streams()
    d = date
    s.add(
        r.UnitRegistered(
            unit_id="city", kind=r.UnitKind.CITY, name="City", effective_on=d(2020, 1, 1)
        )
    )
    s.add(
        r.MemberEnrolled(
            member_id="m",
            full_name="M",
            role=r.Role.PROPAGANDIST,
            unit_id="city",
            effective_on=d(2021, 3, 1),
        )
    )
    s.add(
        r.MemberRoleChanged(
            member_id="m",
            role=r.Role.REPORTER,
            previous_role=r.Role.PROPAGANDIST,
            effective_on=d(2022, 6, 1),
        )
    )
    s.add(r.MemberRetired(member_id="m", effective_on=d(2023, 2, 1)))
    # recorded late, effective earlier: a retirement backdated into 2022 for another member
    s.add(
        r.MemberEnrolled(
            member_id="n",
            full_name="N",
            role=r.Role.REPORTER,
            unit_id="city",
            effective_on=d(2021, 1, 1),
        )
    )
    s.add(r.MemberRetired(member_id="n", effective_on=d(2022, 3, 1)))
    model = _model(database_url)
    model.apply(s.events)
    y21 = model.annual_summary(AnnualSummaryQuery(year=2021))["roster"]["at_end"]
    y22 = model.annual_summary(AnnualSummaryQuery(year=2022))
    y23 = model.annual_summary(AnnualSummaryQuery(year=2023))["roster"]["at_end"]
    assert (y21["reporter"], y21["propagandist"]) == (1, 1)
    assert (y22["roster"]["at_end"]["reporter"], y22["roster"]["at_end"]["propagandist"]) == (1, 0)
    assert y22["roster"]["changes"] == {"retired": 1, "role_changed": 1}
    assert y23["total"] == 0


def test_awards_revoked_are_not_counted(database_url: str) -> None:
    s = Streams()
    s.add(
        a.AwardGranted(
            award_id="w",
            recipient_type=a.RecipientType.INDIVIDUAL,
            recipient_id="m",
            recipient_name="M",
            award_kind="k",
            title="T",
            period="2022",
            decision_number="1",
            decision_date=date(2022, 12, 9),
        )
    )
    model = _model(database_url)
    model.apply(s.events)
    assert model.annual_summary(Y2022)["awards"]["individual"] == 1
    s.add(a.AwardRevoked(award_id="w", decision_number="2", decision_date=date(2022, 12, 20)))
    model.apply(s.events)
    got = model.annual_summary(Y2022)["awards"]
    assert (got["individual"], got["revoked"]) == (0, 1)


def test_unappliable_events_are_reported_and_passed(database_url: str) -> None:
    s = Streams()
    s.raw("EVENTS", "ev.events.conference.x", b"{broken")
    env = json.loads(sample_year().events[0].data)
    env["type"] = "SomethingNew"
    s.raw("ROSTER", "ev.roster.unit.x", json.dumps(env).encode())
    s.add(
        e.ConferenceHeld(
            conference_id="c",
            kinds=[e.ConferenceKind.THEMATIC],
            held_on=date(2022, 5, 5),
            title="C",
        )
    )
    model = _model(database_url)
    model.apply(s.events)
    assert sorted(u.reason for u in model.unappliable) == ["malformed", "unknown_type"]
    assert model.positions()["EVENTS"] == 2 and model.positions()["ROSTER"] == 1
    assert model.annual_summary(Y2022)["conferences"]["by_kind"]["thematic"] == 1


# ------------------------------------------------------------------ interleavings


def _scenario() -> list[StoredEvent]:
    """Small but with every cross-stream hazard: attendance before enrolment, awards to
    members not yet known, corrections, transfers, retirements, guests replaced."""
    s = Streams()
    d = date
    s.add(
        e.ConferenceHeld(
            conference_id="c1",
            kinds=[e.ConferenceKind.INFORMATION],
            held_on=d(2022, 2, 1),
            title="C1",
        )
    )
    s.add(e.AttendanceRecorded(conference_id="c1", member_id="m1"))
    s.add(e.AttendanceRecorded(conference_id="c1", member_id="m2", unit_id="u2"))
    s.add(
        a.AwardGranted(
            award_id="w1",
            recipient_type=a.RecipientType.INDIVIDUAL,
            recipient_id="m1",
            award_kind="k",
            title="T",
            period="2022",
            decision_number="1",
            decision_date=d(2022, 12, 9),
        )
    )
    s.add(
        r.UnitRegistered(
            unit_id="u1", kind=r.UnitKind.PARTY_CELL, name="U1", effective_on=d(2021, 1, 1)
        )
    )
    s.add(
        r.UnitRegistered(
            unit_id="u2", kind=r.UnitKind.PARTY_CELL, name="U2", effective_on=d(2021, 1, 1)
        )
    )
    s.add(
        r.MemberEnrolled(
            member_id="m1",
            full_name="M1",
            role=r.Role.PROPAGANDIST,
            unit_id="u1",
            effective_on=d(2021, 5, 1),
        )
    )
    s.add(
        e.GuestAttendanceRecorded(conference_id="c1", category=e.GuestCategory.OTHER, headcount=3)
    )
    s.add(
        r.MemberEnrolled(
            member_id="m2",
            full_name="M2",
            role=r.Role.REPORTER,
            unit_id="u2",
            effective_on=d(2021, 5, 1),
        )
    )
    s.add(
        e.ConferenceHeld(
            conference_id="c2",
            kinds=[e.ConferenceKind.THEMATIC, e.ConferenceKind.REVIEW],
            held_on=d(2022, 9, 1),
            title="C2",
        )
    )
    s.add(
        r.MemberTransferred(
            member_id="m1", from_unit_id="u1", to_unit_id="u2", effective_on=d(2022, 6, 1)
        )
    )
    s.add(e.AttendanceRecorded(conference_id="c2", member_id="m1"))
    s.add(e.AttendanceCorrected(conference_id="c1", member_id="m2", attended=False))
    s.add(r.MemberRetired(member_id="m2", effective_on=d(2022, 8, 1)))
    s.add(a.AwardRevoked(award_id="w1", decision_number="2", decision_date=d(2022, 12, 20)))
    s.add(
        e.GuestAttendanceRecorded(conference_id="c1", category=e.GuestCategory.OTHER, headcount=4)
    )
    s.add(
        r.UnitRenamed(unit_id="u2", name="U2 new", previous_name="U2", effective_on=d(2022, 3, 1))
    )
    s.add(e.AttendanceCorrected(conference_id="c1", member_id="m2", attended=True))
    return s.events


SCENARIO = _scenario()
EXPECTED = ReadModel(memory_engine())
EXPECTED.apply(SCENARIO)


@st.composite
def deliveries(draw: st.DrawFn) -> list[list[StoredEvent]]:
    """An interleaving that keeps each stream's own order, with redeliveries, cut in batches."""
    queues = {
        name: [ev for ev in SCENARIO if ev.stream == name]
        for name in ("ROSTER", "EVENTS", "AWARDS")
    }
    taken = dict.fromkeys(queues, 0)
    order: list[StoredEvent] = []
    while any(taken[n] < len(q) for n, q in queues.items()):
        name = draw(st.sampled_from(sorted(n for n, q in queues.items() if taken[n] < len(q))))
        order.append(queues[name][taken[name]])
        taken[name] += 1
        if taken[name] > 1 and draw(st.integers(0, 9)) == 0:  # at-least-once: send again
            back = draw(st.integers(1, taken[name]))
            order.append(queues[name][taken[name] - back])
    batches, i = [], 0
    while i < len(order):
        size = draw(st.integers(1, 6))
        batches.append(order[i : i + size])
        i += size
    return batches


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries())
def test_any_interleaving_gives_the_same_tables(batches: list[list[StoredEvent]]) -> None:
    model = ReadModel(memory_engine())
    for batch in batches:
        model.apply(batch)
    assert model.dump() == EXPECTED.dump()
    assert model.annual_summary(Y2022) == EXPECTED.annual_summary(Y2022)


def test_interleaving_on_the_database(database_url: str) -> None:
    """One adversarial interleaving on each backend: every event of the other streams first."""
    reversed_streams = sorted(
        SCENARIO, key=lambda ev: {"AWARDS": 0, "EVENTS": 1, "ROSTER": 2}[ev.stream]
    )
    model = _model(database_url)
    for ev in reversed_streams:
        model.apply([ev])
    assert model.dump() == EXPECTED.dump()
    summary = model.annual_summary(Y2022)
    assert summary["attendance"]["by_unit"][0]["unit_id"] == "u2"
    assert summary == EXPECTED.annual_summary(Y2022)
