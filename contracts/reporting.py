"""Reporting queries: what other services and the CLI may ask the read models."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import DomainEvent
from contracts.registry import registry
from contracts.replies import Command, Query
from contracts.types import (
    BusinessDate,
    Identifier,
    Name,
    Prose,
    ShortText,
    StoredName,
    StoredText,
    UtcDatetime,
)

SERVICE = "reporting"

ISSUED_STREAM = "REPORTING"
"""Issued reports: stream REPORTING, ``ev.reporting.report.<id>``, ``cmd.reporting.issue_report``
(the reporting service is their command service). The read models never project it: issuing
a report changes no summary and no receipt."""
REPORT = "report"

RECEIPT_FORMAT = "briefings-report-receipt/2"
"""Report receipts (contracts/HASHING.md §6). /2: ``events_digest`` from per-stream running
digests, which the read model keeps with its positions (/1 digested export lines)."""


class AnnualSummaryQuery(Query):
    """The summary of a year, or of ``start``..``end``; ``as_of`` fixes what was known then."""

    year: int | None = Field(default=None, ge=1900, le=2199)
    start: BusinessDate | None = None
    end: BusinessDate | None = None
    as_of: UtcDatetime | None = Field(
        default=None, description="Only events recorded at or before this instant"
    )


# ------------------------------------------------------- the annual summary (the reply)
# Keys are never renamed (clients and receipts read them); new ones may be added.


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class SummaryPeriod(_Section):
    start: date
    end: date
    year: int | None
    as_of: str | None = Field(description="The as-of instant the summary was asked for, echoed")


class RosterSection(_Section):
    at_start: dict[str, int] = Field(description="Active members by role, total, core")
    at_end: dict[str, int]
    changes: dict[str, int] = Field(description="Roster events effective in the period, by kind")


class SummaryPresenter(_Section):
    name: str
    affiliation: str = ""


class HeldConference(_Section):
    conference_id: str
    held_on: date
    title: str
    kinds: list[str]
    presenters: list[SummaryPresenter]
    member_attendances: int
    guest_attendances: int


class ConferencesSection(_Section):
    held: int
    by_kind: dict[str, int] = Field(description="A conference counts under each of its kinds")
    conferences: list[HeldConference] = Field(alias="list")


class MonthAttendance(_Section):
    month: str = Field(description="YYYY-MM")
    members: int
    guests: int


class UnitAttendance(_Section):
    unit_id: str
    unit_name: str
    kind: str
    attendances: int
    members_at_end: int
    per_member: float
    attendance_rate: float


class AttendanceSection(_Section):
    member_attendances: int
    guest_attendances: int
    total_attendances: int
    distinct_attendees: int
    per_member_at_end: float
    attendance_rate: float = Field(description="Attended / held while active")
    by_role: dict[str, int]
    guests_by_category: dict[str, int]
    by_month: list[MonthAttendance]
    by_unit: list[UnitAttendance]


class GrantedAward(_Section):
    award_id: str
    recipient_type: str
    recipient_id: str
    recipient_name: str
    award_kind: str
    title: str
    period: str
    decision_number: str
    decision_date: date


class AwardsSection(_Section):
    collective: int
    individual: int
    revoked: int
    collective_party_units: int = Field(description="Collectives that are Party cells/orgs")
    individual_core_propagandists: int = Field(description="Core propagandists on the day")
    awards: list[GrantedAward] = Field(alias="list")


class TopParticipant(_Section):
    member_id: str
    full_name: str
    role: str | None
    unit_name: str
    attended: int
    eligible: int
    attendance_rate: float


class AnnualSummary(_Section):
    """The summary of a period (``qry.reporting.annual_summary``'s ``data``, less the
    ``receipt``), as ``model_dump(mode="json", by_alias=True)`` writes it."""

    period: SummaryPeriod
    roster: RosterSection
    conferences: ConferencesSection
    attendance: AttendanceSection
    awards: AwardsSection
    top_participants: list[TopParticipant]

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class ParticipationQuery(Query):
    """Per-member and per-unit attendance over a year's held conferences."""

    year: int = Field(ge=1900, le=2199)


class MemberParticipation(BaseModel):
    model_config = ConfigDict(frozen=True)

    member_id: Identifier
    full_name: str
    role: str
    unit_id: str
    unit_name: str
    core: bool
    active_at_end: bool
    conferences_eligible: int = Field(description="Conferences held while the member was active")
    conferences_attended: int
    attendance_rate: float


class UnitParticipation(BaseModel):
    model_config = ConfigDict(frozen=True)

    unit_id: Identifier
    unit_name: str
    kind: str
    active_at_end: bool
    members_at_end: int
    core_members_at_end: int
    attendances: int
    possible_attendances: int
    attendance_rate: float


class Participation(BaseModel):
    model_config = ConfigDict(frozen=True)

    year: int
    conferences_held: int
    members: list[MemberParticipation]
    units: list[UnitParticipation]


class StatusQuery(Query):
    pass


QUERIES: dict[str, type[Query]] = {
    "annual_summary": AnnualSummaryQuery,
    "participation": ParticipationQuery,
    "status": StatusQuery,
}


# ------------------------------------------------------- operator requests (cmd.reporting.*)
# Not aggregate commands: they act on the read models, so they carry no command_id.


class RetryDeadLetter(BaseModel):
    """``cmd.reporting.dlq_retry``: re-apply a dead letter set aside by a reporting consumer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dead_letter_id: str = Field(min_length=1, max_length=128)
    actor: str = Field(default="unknown", min_length=1, max_length=200)


class Rebuild(BaseModel):
    """``cmd.reporting.rebuild``: replay every stream into fresh tables, switch when caught up."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str = Field(default="unknown", min_length=1, max_length=200)


OPERATIONS: dict[str, type[BaseModel]] = {
    "dlq_retry": RetryDeadLetter,
    "rebuild": Rebuild,
}


# ---------------------------------------------------------- issuing (stream REPORTING)

DocumentNumber = str
NUMBER_PATTERN = r"^[0-9]{1,5}-[A-ZĐ]{1,10}/[A-ZĐ0-9-]{1,30}$"
"""A Party document's number and symbol (36-HD/VPTW): ``45-BC/TTCT`` — the number, the
kind's letters (BC: báo cáo), the issuing body's letters."""

NARRATIVE_SECTIONS = ("results", "shortcomings", "lessons", "orientations")
"""The parts of a report written by people: results, shortcomings and their causes, lessons
learnt, orientations and tasks for the next year (in this order in the document)."""


class IssuingBody(BaseModel):
    """Who issues: the parent committee over the Center's name, as the header shows them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parent: Name = "THÀNH ỦY"
    name: Name = "TRUNG TÂM CHÍNH TRỊ"
    place: Name = Field(default="Thành phố", description="The place of the date line")


class Signer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    title: Name = "GIÁM ĐỐC"
    authority: ShortText = Field(
        default="", description="T/M, K/T or Q. above the title, when one signs for a body"
    )


class Narrative(BaseModel):
    """The prose a clerk writes; each section is paragraphs separated by blank lines."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    results: Prose = ""
    shortcomings: Prose = ""
    lessons: Prose = ""
    orientations: Prose = ""


@registry.register
class ReportIssued(DomainEvent):
    """A report was numbered, dated, signed and sent: enough to write its documents again
    byte for byte (the figures by replaying ``summary_receipt``'s cut)."""

    event_type = "ReportIssued"
    aggregate_type = REPORT

    report_id: Identifier
    number: str = Field(pattern=NUMBER_PATTERN)
    issued_on: date
    query: dict[str, Any] = Field(description="The annual summary query the report states")
    lang: str = Field(pattern=r"^(vi|en)$")
    body: IssuingBody
    summary_line: StoredText
    signer: Signer
    recipients: list[StoredName]
    narrative: Narrative
    narrative_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    summary_receipt: dict[str, Any] = Field(
        description="The summary's receipt basis: cut, events digest, projection version, query"
    )
    template_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    documents: dict[str, str] = Field(description="SHA-256 of each document by its extension")


class IssueReport(Command):
    """``cmd.reporting.issue_report``: record an issued report. A number is used once a year
    (36-HD/VPTW numbers a body's documents from 01 each 1 January)."""

    number: str = Field(pattern=NUMBER_PATTERN)
    issued_on: BusinessDate
    query: dict[str, Any]
    lang: str = Field(default="vi", pattern=r"^(vi|en)$")
    body: IssuingBody = IssuingBody()
    summary_line: ShortText
    signer: Signer
    recipients: list[Name] = Field(min_length=1)
    narrative: Narrative = Narrative()
    narrative_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    summary_receipt: dict[str, Any]
    template_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    documents: dict[str, str]


class IssuedReports(Query):
    """Every issued report (``number`` and ``year``: only those)."""

    number: str | None = None
    year: int | None = Field(default=None, ge=1900, le=2199)


COMMANDS: dict[str, type[Command]] = {"issue_report": IssueReport}
QUERIES["issued_reports"] = IssuedReports
