"""Events context: conferences (gatherings) and who attended them."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import DomainEvent
from contracts.registry import registry
from contracts.replies import Command, PagedQuery, Query
from contracts.types import (
    BusinessDate,
    Identifier,
    Name,
    ShortText,
    StoredName,
    StoredText,
)

CONTEXT = "events"
CONFERENCE = "conference"


class ConferenceKind(StrEnum):
    INFORMATION = "information"
    THEMATIC = "thematic"
    REVIEW = "review"


class GuestCategory(StrEnum):
    BOARD_LEADERS = "board_leaders"
    """Leaders of Party-building boards, the Fatherland Front and mass organisations."""
    WARD_PROPAGANDA = "ward_propaganda"
    """Heads and deputies of ward propaganda boards."""
    PARTY_CLASS_STUDENTS = "party_class_students"
    OTHER = "other"


class StoredPresenter(BaseModel):
    """A presenter as events store it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: StoredName
    affiliation: StoredText = ""


class Presenter(StoredPresenter):
    """A presenter as a command names it (the door's text rules); an event takes it as is."""

    name: Name
    affiliation: ShortText = ""


Kinds = list[ConferenceKind]


# ---------------------------------------------------------------------- events


@registry.register
class ConferenceScheduled(DomainEvent):
    event_type = "ConferenceScheduled"
    aggregate_type = CONFERENCE
    conference_id: Identifier
    kinds: Kinds = Field(min_length=1)
    title: StoredName
    planned_on: date
    venue: StoredText = ""
    organiser: StoredText = ""
    presenters: list[StoredPresenter] = Field(default_factory=list)
    topics: list[StoredText] = Field(default_factory=list)
    invited_unit_ids: list[Identifier] = Field(default_factory=list)


@registry.register
class ConferenceRescheduled(DomainEvent):
    event_type = "ConferenceRescheduled"
    aggregate_type = CONFERENCE
    conference_id: Identifier
    planned_on: date
    previous_planned_on: date
    venue: StoredText | None = None
    reason: StoredText = ""


@registry.register
class ConferenceHeld(DomainEvent):
    """The conference took place. Carries everything a report needs about it."""

    event_type = "ConferenceHeld"
    aggregate_type = CONFERENCE
    conference_id: Identifier
    kinds: Kinds = Field(min_length=1)
    held_on: date
    title: StoredName
    venue: StoredText = ""
    organiser: StoredText = ""
    presenters: list[StoredPresenter] = Field(default_factory=list)
    topics: list[StoredText] = Field(default_factory=list)


@registry.register
class ConferenceCancelled(DomainEvent):
    event_type = "ConferenceCancelled"
    aggregate_type = CONFERENCE
    conference_id: Identifier
    reason: StoredText = ""
    cancelled_on: date


@registry.register
class AttendanceRecorded(DomainEvent):
    event_type = "AttendanceRecorded"
    aggregate_type = CONFERENCE
    conference_id: Identifier
    member_id: Identifier
    unit_id: Identifier | None = Field(
        default=None, description="The member's unit on the conference date, as the service saw it"
    )


@registry.register
class AttendanceCorrected(DomainEvent):
    """A compensating entry: ``attended`` false withdraws a mistaken attendance."""

    event_type = "AttendanceCorrected"
    aggregate_type = CONFERENCE
    conference_id: Identifier
    member_id: Identifier
    attended: bool
    reason: StoredText = ""
    unit_id: Identifier | None = Field(
        default=None,
        description="When restoring (attended true): the member's unit on the conference date",
    )


@registry.register
class GuestAttendanceRecorded(DomainEvent):
    """The headcount of one guest category at a conference; a later one replaces it."""

    event_type = "GuestAttendanceRecorded"
    aggregate_type = CONFERENCE
    conference_id: Identifier
    category: GuestCategory
    headcount: int = Field(ge=0, le=100_000)
    note: StoredText = ""


# -------------------------------------------------------------------- commands


class ScheduleConference(Command):
    conference_id: Identifier | None = Field(
        default=None, description="Derived from command_id if absent"
    )
    kinds: Kinds = Field(min_length=1)
    title: Name
    planned_on: BusinessDate
    venue: ShortText = ""
    organiser: ShortText = "Trung tâm Chính trị thành phố"
    presenters: list[Presenter] = Field(default_factory=list, max_length=50)
    topics: list[ShortText] = Field(default_factory=list, max_length=50)
    invited_unit_ids: list[Identifier] = Field(default_factory=list, max_length=500)


class RescheduleConference(Command):
    conference_id: Identifier
    planned_on: BusinessDate
    venue: ShortText | None = None
    reason: ShortText = ""


class HoldConference(Command):
    conference_id: Identifier
    held_on: BusinessDate


class CancelConference(Command):
    conference_id: Identifier
    reason: ShortText = ""
    cancelled_on: BusinessDate | None = None


class RecordAttendance(Command):
    conference_id: Identifier
    member_id: Identifier


class CorrectAttendance(Command):
    conference_id: Identifier
    member_id: Identifier
    attended: bool = False
    reason: ShortText = ""


class RecordGuestAttendance(Command):
    conference_id: Identifier
    category: GuestCategory
    headcount: int = Field(ge=0, le=100_000)
    note: ShortText = ""


COMMANDS: dict[str, type[Command]] = {
    "schedule_conference": ScheduleConference,
    "reschedule_conference": RescheduleConference,
    "hold_conference": HoldConference,
    "cancel_conference": CancelConference,
    "record_attendance": RecordAttendance,
    "correct_attendance": CorrectAttendance,
    "record_guest_attendance": RecordGuestAttendance,
}


# --------------------------------------------------------------------- queries


class GetConference(Query):
    conference_id: Identifier


class ListConferences(PagedQuery):
    year: int | None = Field(default=None, ge=1900, le=2199)


class ListAttendance(Query):
    conference_id: Identifier


class SheetRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    row: int = Field(ge=1, description="Line number in the sheet, for the clerk")
    external_code: StoredText | None = None
    full_name: StoredText | None = None


class MatchSignInSheet(Query):
    """Match sign-in sheet rows to members active on the conference date; records nothing."""

    conference_id: Identifier
    rows: list[SheetRow] = Field(max_length=1000)


QUERIES: dict[str, type[Query]] = {
    "get_conference": GetConference,
    "list_conferences": ListConferences,
    "list_attendance": ListAttendance,
    "match_sign_in_sheet": MatchSignInSheet,
}
