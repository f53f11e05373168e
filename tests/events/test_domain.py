"""Conference rules, pure: given events, when a command, then events or the named rule."""

from __future__ import annotations

from datetime import date

import pytest

from contracts import events as c
from contracts import roster as r
from contracts.envelope import DomainEvent
from runtime.domain import DomainError
from services.events.domain import conferences as conf
from services.events.domain.conferences import CONFERENCE, Conference
from services.events.domain.members import KnownMember, MemberStanding, apply_roster_event

pytestmark = pytest.mark.fast

TODAY = date(2022, 12, 20)
CID = "c-2022-12"


def given(*events: DomainEvent) -> Conference | None:
    return CONFERENCE.fold(None, list(events))


def scheduled(kinds: list[c.ConferenceKind] | None = None) -> c.ConferenceScheduled:
    return c.ConferenceScheduled(
        conference_id=CID,
        kinds=kinds or [c.ConferenceKind.INFORMATION],
        title="Hội nghị thông tin thời sự tháng 12",
        planned_on=date(2022, 12, 9),
        venue="Hội trường Thành ủy",
    )


def held(on: date = date(2022, 12, 9)) -> c.ConferenceHeld:
    return c.ConferenceHeld(
        conference_id=CID,
        kinds=[c.ConferenceKind.INFORMATION],
        held_on=on,
        title="Hội nghị thông tin thời sự tháng 12",
    )


def cancelled() -> c.ConferenceCancelled:
    return c.ConferenceCancelled(conference_id=CID, reason="bão", cancelled_on=date(2022, 12, 8))


def member(active: bool = True, member_id: str = "m1") -> MemberStanding:
    return MemberStanding(
        member_id=member_id,
        full_name="Nguyễn Thị Hoa",
        external_code=None,
        on=date(2022, 12, 9),
        active=active,
        unit_id="cell-1",
        role=r.Role.PROPAGANDIST,
        enrolled_on=date(2022, 1, 1),
        retired_on=None if active else date(2022, 6, 1),
    )


def attend(member_id: str = "m1") -> c.RecordAttendance:
    return c.RecordAttendance(command_id="a", conference_id=CID, member_id=member_id)


def recorded(member_id: str = "m1") -> c.AttendanceRecorded:
    return c.AttendanceRecorded(conference_id=CID, member_id=member_id, unit_id="cell-1")


# ------------------------------------------------------------------ scheduling


def test_schedule_combines_kinds_once_each() -> None:
    cmd = c.ScheduleConference(
        command_id="s",
        title="Tổng kết và thông tin tháng 12",
        planned_on=date(2022, 12, 9),
        kinds=[c.ConferenceKind.INFORMATION, c.ConferenceKind.REVIEW, c.ConferenceKind.REVIEW],
    )
    [event] = conf.decide_schedule(None, cmd, CID, [])
    assert isinstance(event, c.ConferenceScheduled)
    assert event.kinds == [c.ConferenceKind.INFORMATION, c.ConferenceKind.REVIEW]


def test_schedule_twice_is_refused() -> None:
    cmd = c.ScheduleConference(
        command_id="s", title="x", planned_on=date(2022, 12, 9), kinds=[c.ConferenceKind.THEMATIC]
    )
    with pytest.raises(conf.ConferenceIsAlreadyScheduled):
        conf.decide_schedule(given(scheduled()), cmd, CID, [])


def test_schedule_with_unknown_invited_unit_is_refused() -> None:
    cmd = c.ScheduleConference(
        command_id="s",
        title="x",
        planned_on=date(2022, 12, 9),
        kinds=[c.ConferenceKind.THEMATIC],
        invited_unit_ids=["nope"],
    )
    with pytest.raises(conf.InvitedUnitMustExist):
        conf.decide_schedule(None, cmd, CID, ["nope"])


def test_reschedule_moves_the_date_and_keeps_the_previous_one() -> None:
    cmd = c.RescheduleConference(command_id="r", conference_id=CID, planned_on=date(2022, 12, 12))
    [event] = conf.decide_reschedule(given(scheduled()), cmd)
    assert isinstance(event, c.ConferenceRescheduled)
    assert event.previous_planned_on == date(2022, 12, 9)
    state = given(scheduled(), event)
    assert state is not None and state.planned_on == date(2022, 12, 12)


def test_reschedule_to_the_same_date_changes_nothing() -> None:
    cmd = c.RescheduleConference(command_id="r", conference_id=CID, planned_on=date(2022, 12, 9))
    with pytest.raises(conf.NothingToChange):
        conf.decide_reschedule(given(scheduled()), cmd)


@pytest.mark.parametrize(
    ("history", "rule"),
    [
        ((), conf.ConferenceMustExist),
        ((scheduled(), held()), conf.HeldConferenceCannotBeRescheduled),
        ((scheduled(), cancelled()), conf.ConferenceWasCancelled),
    ],
)
def test_reschedule_refusals(history: tuple[DomainEvent, ...], rule: type[DomainError]) -> None:
    cmd = c.RescheduleConference(command_id="r", conference_id=CID, planned_on=date(2022, 12, 12))
    with pytest.raises(rule):
        conf.decide_reschedule(given(*history), cmd)


# ------------------------------------------------------------------ holding, cancelling


def test_hold_records_the_actual_date_and_the_details() -> None:
    cmd = c.HoldConference(command_id="h", conference_id=CID, held_on=date(2022, 12, 10))
    [event] = conf.decide_hold(
        given(scheduled([c.ConferenceKind.INFORMATION, c.ConferenceKind.REVIEW])), cmd, TODAY
    )
    assert isinstance(event, c.ConferenceHeld)
    assert event.held_on == date(2022, 12, 10)
    assert event.kinds == [c.ConferenceKind.INFORMATION, c.ConferenceKind.REVIEW]
    assert event.venue == "Hội trường Thành ủy"


def test_hold_in_the_future_is_refused() -> None:
    cmd = c.HoldConference(command_id="h", conference_id=CID, held_on=date(2022, 12, 21))
    with pytest.raises(conf.HeldDateMustNotBeInTheFuture):
        conf.decide_hold(given(scheduled()), cmd, TODAY)


def test_hold_again_same_date_changes_nothing_other_date_conflicts() -> None:
    state = given(scheduled(), held())
    with pytest.raises(conf.NothingToChange):
        conf.decide_hold(
            state,
            c.HoldConference(command_id="h", conference_id=CID, held_on=date(2022, 12, 9)),
            TODAY,
        )
    with pytest.raises(conf.ConferenceWasHeldOnAnotherDate):
        conf.decide_hold(
            state,
            c.HoldConference(command_id="h", conference_id=CID, held_on=date(2022, 12, 10)),
            TODAY,
        )


def test_a_cancelled_conference_cannot_be_held() -> None:
    cmd = c.HoldConference(command_id="h", conference_id=CID, held_on=date(2022, 12, 9))
    with pytest.raises(conf.ConferenceWasCancelled):
        conf.decide_hold(given(scheduled(), cancelled()), cmd, TODAY)


def test_cancel_with_reason_then_again_changes_nothing() -> None:
    cmd = c.CancelConference(command_id="x", conference_id=CID, reason="bão")
    [event] = conf.decide_cancel(given(scheduled()), cmd, TODAY)
    assert isinstance(event, c.ConferenceCancelled)
    assert event.reason == "bão" and event.cancelled_on == TODAY
    with pytest.raises(conf.NothingToChange):
        conf.decide_cancel(given(scheduled(), event), cmd, TODAY)


def test_a_held_conference_cannot_be_cancelled() -> None:
    cmd = c.CancelConference(command_id="x", conference_id=CID)
    with pytest.raises(conf.HeldConferenceCannotBeCancelled):
        conf.decide_cancel(given(scheduled(), held()), cmd, TODAY)


# ------------------------------------------------------------------ attendance


def test_attendance_at_a_held_conference_is_recorded_with_the_unit() -> None:
    [event] = conf.decide_record_attendance(given(scheduled(), held()), attend(), member())
    assert event == c.AttendanceRecorded(conference_id=CID, member_id="m1", unit_id="cell-1")


def test_attendance_before_the_conference_was_held_is_refused() -> None:
    with pytest.raises(conf.ConferenceMustBeHeld):
        conf.decide_record_attendance(given(scheduled()), attend(), member())


def test_attendance_at_a_cancelled_conference_is_refused() -> None:
    with pytest.raises(conf.ConferenceWasCancelled):
        conf.decide_record_attendance(given(scheduled(), cancelled()), attend(), member())


def test_attendance_of_an_unknown_member_is_refused() -> None:
    with pytest.raises(conf.MemberMustExist):
        conf.decide_record_attendance(given(scheduled(), held()), attend(), None)


def test_attendance_of_a_member_inactive_on_the_date_is_refused() -> None:
    with pytest.raises(conf.MemberMustBeActiveOnConferenceDate):
        conf.decide_record_attendance(given(scheduled(), held()), attend(), member(active=False))


def test_a_member_counts_once() -> None:
    state = given(scheduled(), held(), recorded())
    with pytest.raises(conf.MemberAlreadyCounted) as caught:
        conf.decide_record_attendance(state, attend(), member())
    assert isinstance(caught.value, conf.NothingToChange)
    assert state is not None and state.member_attendance == 1


def test_a_correction_withdraws_and_restores_without_deleting() -> None:
    withdraw = c.CorrectAttendance(
        command_id="w", conference_id=CID, member_id="m1", reason="ghi nhầm"
    )
    state = given(scheduled(), held(), recorded())
    [event] = conf.decide_correct_attendance(state, withdraw, None)
    assert isinstance(event, c.AttendanceCorrected) and not event.attended
    after = given(scheduled(), held(), recorded(), event)
    assert after is not None and after.member_attendance == 0
    with pytest.raises(conf.MemberIsNotCounted):
        conf.decide_correct_attendance(after, withdraw, None)
    restore = c.CorrectAttendance(command_id="u", conference_id=CID, member_id="m1", attended=True)
    [back] = conf.decide_correct_attendance(after, restore, member())
    final = given(scheduled(), held(), recorded(), event, back)
    assert final is not None and final.attendees == {"m1": "cell-1"}


def test_restoring_needs_an_active_member() -> None:
    restore = c.CorrectAttendance(command_id="u", conference_id=CID, member_id="m2", attended=True)
    with pytest.raises(conf.MemberMustBeActiveOnConferenceDate):
        conf.decide_correct_attendance(
            given(scheduled(), held()), restore, member(active=False, member_id="m2")
        )


def test_guest_headcount_per_category_replaces_the_previous_one() -> None:
    cmd = c.RecordGuestAttendance(
        command_id="g", conference_id=CID, category=c.GuestCategory.WARD_PROPAGANDA, headcount=40
    )
    [first] = conf.decide_record_guests(given(scheduled(), held()), cmd)
    second = c.GuestAttendanceRecorded(
        conference_id=CID, category=c.GuestCategory.WARD_PROPAGANDA, headcount=42
    )
    state = given(scheduled(), held(), first, second)
    assert state is not None and state.guest_attendance == 42
    with pytest.raises(conf.NothingToChange):
        conf.decide_record_guests(state, cmd.model_copy(update={"headcount": 42}))
    with pytest.raises(conf.ConferenceMustBeHeld):
        conf.decide_record_guests(given(scheduled()), cmd)


# ------------------------------------------------------------------ the roster, by date


def roster_history(*events: DomainEvent) -> KnownMember | None:
    known: KnownMember | None = None
    for seq, event in enumerate(events, start=1):
        known = apply_roster_event(known, event, seq)
    return known


def test_a_member_is_active_between_enrolment_and_retirement_in_the_unit_of_the_day() -> None:
    known = roster_history(
        r.MemberEnrolled(
            member_id="m1",
            full_name="Lê Văn Nam",
            role=r.Role.PROPAGANDIST,
            unit_id="cell-1",
            effective_on=date(2022, 2, 1),
        ),
        r.MemberTransferred(
            member_id="m1",
            from_unit_id="cell-1",
            to_unit_id="cell-2",
            effective_on=date(2022, 6, 1),
        ),
        r.MemberRetired(member_id="m1", effective_on=date(2022, 9, 1)),
        r.MemberReenrolled(
            member_id="m1",
            role=r.Role.PROPAGANDIST,
            unit_id="cell-3",
            effective_on=date(2022, 11, 1),
        ),
    )
    assert known is not None
    on = known.standing_on
    assert not on(date(2022, 1, 31)).active
    assert on(date(2022, 2, 1)).active and on(date(2022, 2, 1)).unit_id == "cell-1"
    assert on(date(2022, 6, 1)).unit_id == "cell-2"
    assert not on(date(2022, 9, 1)).active and on(date(2022, 9, 1)).retired_on == date(2022, 9, 1)
    assert on(date(2022, 12, 9)).active and on(date(2022, 12, 9)).unit_id == "cell-3"


def test_events_for_a_member_never_enrolled_are_ignored() -> None:
    assert roster_history(r.MemberRetired(member_id="m9", effective_on=date(2022, 1, 1))) is None
