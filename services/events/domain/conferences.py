"""Conferences: scheduled, held or cancelled; the conference is the aggregate of its attendance.

Attendance lives in the conference's own state, so "one member counts once per conference"
is decided by the aggregate itself under the stream's expected-sequence check.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts import events as c
from contracts.envelope import DomainEvent
from runtime.domain import (
    AggregateKind,
    AlreadyExists,
    Conflict,
    DomainError,
    NotFound,
    NothingToChange,
)
from services.events.domain.members import MemberStanding


class Status(StrEnum):
    SCHEDULED = "scheduled"
    HELD = "held"
    CANCELLED = "cancelled"


class Conference(BaseModel):
    model_config = ConfigDict(frozen=True)

    conference_id: str
    kinds: list[c.ConferenceKind]
    title: str
    planned_on: date
    venue: str = ""
    organiser: str = ""
    presenters: list[c.StoredPresenter] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    invited_unit_ids: list[str] = Field(default_factory=list)
    status: Status = Status.SCHEDULED
    held_on: date | None = None
    cancelled_on: date | None = None
    cancel_reason: str = ""
    attendees: dict[str, str | None] = Field(
        default_factory=dict, description="member id -> unit id on the conference date; counted now"
    )
    guests: dict[c.GuestCategory, int] = Field(default_factory=dict)

    @property
    def member_attendance(self) -> int:
        return len(self.attendees)

    @property
    def guest_attendance(self) -> int:
        return sum(self.guests.values())


# ------------------------------------------------------------------ the rules


class ConferenceMustExist(NotFound):
    pass


class ConferenceIsAlreadyScheduled(AlreadyExists):
    pass


class InvitedUnitMustExist(NotFound):
    pass


class ConferenceWasCancelled(DomainError):
    pass


class ConferenceMustBeHeld(DomainError):
    pass


class HeldConferenceCannotBeRescheduled(DomainError):
    pass


class HeldConferenceCannotBeCancelled(DomainError):
    pass


class ConferenceWasHeldOnAnotherDate(Conflict):
    pass


class HeldDateMustNotBeInTheFuture(DomainError):
    pass


class MemberMustExist(NotFound):
    pass


class MemberMustBeActiveOnConferenceDate(DomainError):
    pass


class MemberAlreadyCounted(NothingToChange):
    pass


class MemberIsNotCounted(NothingToChange):
    pass


class ConferenceAlreadyInThatState(NothingToChange):
    pass


# ------------------------------------------------------------------ evolve


def evolve(state: Conference | None, event: DomainEvent) -> Conference:
    match event:
        case c.ConferenceScheduled():
            return Conference(
                conference_id=event.conference_id,
                kinds=list(event.kinds),
                title=event.title,
                planned_on=event.planned_on,
                venue=event.venue,
                organiser=event.organiser,
                presenters=list(event.presenters),
                topics=list(event.topics),
                invited_unit_ids=list(event.invited_unit_ids),
            )
    if state is None:
        raise ValueError(f"{type(event).__name__} before ConferenceScheduled")
    match event:
        case c.ConferenceRescheduled():
            update: dict[str, object] = {"planned_on": event.planned_on}
            if event.venue is not None:
                update["venue"] = event.venue
            return state.model_copy(update=update)
        case c.ConferenceHeld():
            return state.model_copy(update={"status": Status.HELD, "held_on": event.held_on})
        case c.ConferenceCancelled():
            return state.model_copy(
                update={
                    "status": Status.CANCELLED,
                    "cancelled_on": event.cancelled_on,
                    "cancel_reason": event.reason,
                }
            )
        case c.AttendanceRecorded():
            return state.model_copy(
                update={"attendees": {**state.attendees, event.member_id: event.unit_id}}
            )
        case c.AttendanceCorrected():
            attendees = dict(state.attendees)
            if event.attended:
                attendees[event.member_id] = event.unit_id
            else:
                attendees.pop(event.member_id, None)
            return state.model_copy(update={"attendees": attendees})
        case c.GuestAttendanceRecorded():
            return state.model_copy(
                update={"guests": {**state.guests, event.category: event.headcount}}
            )
    raise ValueError(f"{type(event).__name__} does not apply to a conference")


CONFERENCE = AggregateKind(
    context=c.CONTEXT, type=c.CONFERENCE, state_type=Conference, evolve=evolve
)


# ------------------------------------------------------------------ checks


def require_exists(state: Conference | None, conference_id: str) -> Conference:
    if state is None:
        raise ConferenceMustExist(
            f"conference {conference_id} does not exist", conference_id=conference_id
        )
    return state


def require_not_cancelled(state: Conference) -> Conference:
    if state.status is Status.CANCELLED:
        raise ConferenceWasCancelled(
            f"{state.title!r} was cancelled on {state.cancelled_on}"
            + (f": {state.cancel_reason}" if state.cancel_reason else ""),
            conference_id=state.conference_id,
        )
    return state


def attendance_date(state: Conference | None, conference_id: str) -> date:
    """The date attendance is counted on; refuses conferences that did not take place."""
    conference = require_not_cancelled(require_exists(state, conference_id))
    if conference.status is not Status.HELD or conference.held_on is None:
        raise ConferenceMustBeHeld(
            f"{conference.title!r} has not been held (planned for {conference.planned_on}); "
            "record that it took place first",
            conference_id=conference_id,
        )
    return conference.held_on


def require_active_member(
    member: MemberStanding | None, member_id: str, day: date
) -> MemberStanding:
    if member is None:
        raise MemberMustExist(f"member {member_id} is not on the roster", member_id=member_id)
    if not member.active:
        raise MemberMustBeActiveOnConferenceDate(
            f"{member.full_name} was not on the roster on {day} ({member.why_inactive()})",
            member_id=member_id,
            conference_date=day.isoformat(),
        )
    return member


# ------------------------------------------------------------------ decide


def decide_schedule(
    state: Conference | None,
    cmd: c.ScheduleConference,
    conference_id: str,
    unknown_unit_ids: list[str],
) -> list[DomainEvent]:
    if state is not None:
        raise ConferenceIsAlreadyScheduled(
            f"conference {conference_id} is already scheduled", conference_id=conference_id
        )
    if unknown_unit_ids:
        raise InvitedUnitMustExist(
            f"invited unit(s) not on the roster: {', '.join(unknown_unit_ids)}",
            unit_ids=unknown_unit_ids,
        )
    # Kinds combine (the December conference can also be the year-end review); once each.
    kinds = list(dict.fromkeys(cmd.kinds))
    return [
        c.ConferenceScheduled(
            conference_id=conference_id,
            kinds=kinds,
            title=cmd.title,
            planned_on=cmd.planned_on,
            venue=cmd.venue,
            organiser=cmd.organiser,
            presenters=list(cmd.presenters),
            topics=list(cmd.topics),
            invited_unit_ids=list(dict.fromkeys(cmd.invited_unit_ids)),
        )
    ]


def decide_reschedule(state: Conference | None, cmd: c.RescheduleConference) -> list[DomainEvent]:
    conference = require_not_cancelled(require_exists(state, cmd.conference_id))
    if conference.status is Status.HELD:
        raise HeldConferenceCannotBeRescheduled(
            f"{conference.title!r} was held on {conference.held_on}",
            conference_id=cmd.conference_id,
        )
    if cmd.planned_on == conference.planned_on and cmd.venue in (None, conference.venue):
        raise ConferenceAlreadyInThatState(
            f"{conference.title!r} is already planned for {conference.planned_on}"
        )
    return [
        c.ConferenceRescheduled(
            conference_id=cmd.conference_id,
            planned_on=cmd.planned_on,
            previous_planned_on=conference.planned_on,
            venue=cmd.venue,
            reason=cmd.reason,
        )
    ]


def decide_hold(state: Conference | None, cmd: c.HoldConference, today: date) -> list[DomainEvent]:
    conference = require_not_cancelled(require_exists(state, cmd.conference_id))
    if conference.status is Status.HELD:
        if conference.held_on == cmd.held_on:
            raise ConferenceAlreadyInThatState(
                f"{conference.title!r} was already held on {cmd.held_on}"
            )
        raise ConferenceWasHeldOnAnotherDate(
            f"{conference.title!r} was held on {conference.held_on}, not {cmd.held_on}",
            conference_id=cmd.conference_id,
            held_on=str(conference.held_on),
        )
    if cmd.held_on > today:
        raise HeldDateMustNotBeInTheFuture(
            f"{cmd.held_on} is in the future (today is {today})",
            held_on=cmd.held_on.isoformat(),
            today=today.isoformat(),
        )
    return [
        c.ConferenceHeld(
            conference_id=cmd.conference_id,
            kinds=list(conference.kinds),
            held_on=cmd.held_on,
            title=conference.title,
            venue=conference.venue,
            organiser=conference.organiser,
            presenters=list(conference.presenters),
            topics=list(conference.topics),
        )
    ]


def decide_cancel(
    state: Conference | None, cmd: c.CancelConference, today: date
) -> list[DomainEvent]:
    conference = require_exists(state, cmd.conference_id)
    if conference.status is Status.CANCELLED:
        raise ConferenceAlreadyInThatState(f"{conference.title!r} was already cancelled")
    if conference.status is Status.HELD:
        raise HeldConferenceCannotBeCancelled(
            f"{conference.title!r} was held on {conference.held_on}; "
            "correct its attendance instead",
            conference_id=cmd.conference_id,
        )
    return [
        c.ConferenceCancelled(
            conference_id=cmd.conference_id,
            reason=cmd.reason,
            cancelled_on=cmd.cancelled_on or today,
        )
    ]


def decide_record_attendance(
    state: Conference | None, cmd: c.RecordAttendance, member: MemberStanding | None
) -> list[DomainEvent]:
    """``member``: the member as the roster stood on the conference date (None: unknown)."""
    held_on = attendance_date(state, cmd.conference_id)
    assert state is not None
    if cmd.member_id in state.attendees:
        name = member.full_name if member else cmd.member_id
        raise MemberAlreadyCounted(
            f"{name} is already counted at {state.title!r}", member_id=cmd.member_id
        )
    standing = require_active_member(member, cmd.member_id, held_on)
    return [
        c.AttendanceRecorded(
            conference_id=cmd.conference_id, member_id=cmd.member_id, unit_id=standing.unit_id
        )
    ]


def decide_correct_attendance(
    state: Conference | None, cmd: c.CorrectAttendance, member: MemberStanding | None
) -> list[DomainEvent]:
    """A compensating entry: withdraw a mistaken attendance, or restore a withdrawn one."""
    held_on = attendance_date(state, cmd.conference_id)
    assert state is not None
    counted = cmd.member_id in state.attendees
    if not cmd.attended and not counted:
        raise MemberIsNotCounted(
            f"{cmd.member_id} is not counted at {state.title!r}; nothing to withdraw",
            member_id=cmd.member_id,
        )
    if cmd.attended:
        if counted:
            raise MemberAlreadyCounted(
                f"{cmd.member_id} is already counted at {state.title!r}", member_id=cmd.member_id
            )
        unit_id = require_active_member(member, cmd.member_id, held_on).unit_id
    else:
        unit_id = None
    return [
        c.AttendanceCorrected(
            conference_id=cmd.conference_id,
            member_id=cmd.member_id,
            attended=cmd.attended,
            reason=cmd.reason,
            unit_id=unit_id,
        )
    ]


def decide_record_guests(
    state: Conference | None, cmd: c.RecordGuestAttendance
) -> list[DomainEvent]:
    attendance_date(state, cmd.conference_id)
    assert state is not None
    if state.guests.get(cmd.category) == cmd.headcount:
        raise ConferenceAlreadyInThatState(
            f"{cmd.category.value} already counted as {cmd.headcount} at {state.title!r}"
        )
    return [
        c.GuestAttendanceRecorded(
            conference_id=cmd.conference_id,
            category=cmd.category,
            headcount=cmd.headcount,
            note=cmd.note,
        )
    ]
