"""Reporting queries: what other services and the CLI may ask the read models."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from contracts.replies import Query
from contracts.types import Identifier, UtcDatetime

SERVICE = "reporting"

RECEIPT_FORMAT = "briefings-report-receipt/2"
"""Report receipts (contracts/HASHING.md §6). /2: ``events_digest`` from per-stream running
digests, which the read model keeps with its positions (/1 digested export lines)."""


class AnnualSummaryQuery(Query):
    """The summary of a year, or of ``start``..``end``; ``as_of`` fixes what was known then."""

    year: int | None = Field(default=None, ge=1900, le=9999)
    start: date | None = None
    end: date | None = None
    as_of: UtcDatetime | None = Field(
        default=None, description="Only events recorded at or before this instant"
    )


class ParticipationQuery(Query):
    """Per-member and per-unit attendance over a year's held conferences."""

    year: int = Field(ge=1900, le=9999)


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
