"""Awards context: year-end awards to collectives (units) and individuals (members)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import DomainEvent
from contracts.registry import registry
from contracts.replies import Command, PagedQuery, Query
from contracts.types import (
    BusinessDate,
    ExternalCode,
    Identifier,
    Name,
    ShortText,
    StoredName,
    StoredText,
)

CONTEXT = "awards"
AWARD = "award"

Period = str
PERIOD_PATTERN = r"^\d{4}(-(Q[1-4]|H[12]|(0[1-9]|1[0-2])))?$"
"""A year (``2022``), a half (``2022-H2``), a quarter (``2022-Q4``) or a month (``2022-12``)."""


class RecipientType(StrEnum):
    COLLECTIVE = "collective"
    INDIVIDUAL = "individual"


# ---------------------------------------------------------------------- events


@registry.register
class AwardGranted(DomainEvent):
    event_type = "AwardGranted"
    aggregate_type = AWARD
    award_id: Identifier
    recipient_type: RecipientType
    recipient_id: Identifier
    recipient_name: str = Field(
        default="", description="As the roster named it on the decision date"
    )
    award_kind: str = Field(min_length=1, max_length=64)
    title: StoredName
    period: str = Field(pattern=PERIOD_PATTERN)
    reason: StoredText = ""
    decision_number: str = Field(min_length=1, max_length=64)
    decision_date: date
    authority: StoredText = ""


@registry.register
class AwardRevoked(DomainEvent):
    event_type = "AwardRevoked"
    aggregate_type = AWARD
    award_id: Identifier
    reason: StoredText = ""
    decision_number: str = Field(min_length=1, max_length=64)
    decision_date: date


# -------------------------------------------------------------------- commands


class GrantAward(Command):
    """The award's id is derived from (recipient, kind, period) and the number of earlier,
    revoked awards of that slot, so that the award subject itself enforces uniqueness."""

    recipient_type: RecipientType
    recipient_id: Identifier
    award_kind: ExternalCode = "certificate_of_merit"
    title: Name
    period: str = Field(pattern=PERIOD_PATTERN)
    reason: ShortText = ""
    decision_number: ExternalCode
    decision_date: BusinessDate
    authority: ShortText = "Giám đốc Trung tâm Chính trị thành phố"


class RevokeAward(Command):
    award_id: Identifier
    reason: ShortText = ""
    decision_number: ExternalCode
    decision_date: BusinessDate


COMMANDS: dict[str, type[Command]] = {
    "grant_award": GrantAward,
    "revoke_award": RevokeAward,
}


# --------------------------------------------------------------------- queries


class GetAward(Query):
    award_id: Identifier


class ListAwards(PagedQuery):
    period: str | None = Field(default=None, pattern=PERIOD_PATTERN)
    recipient_id: Identifier | None = None


class CorePolicy(StrEnum):
    """How the core (nòng cốt) flag weighs on individual candidates."""

    REQUIRED = "required"
    PREFERRED = "preferred"
    IGNORED = "ignored"


class Candidates(Query):
    """Proposals for a year's awards, explained by the participation record."""

    year: int = Field(ge=1900, le=2199)
    min_attendance_rate: float | None = Field(default=None, ge=0, le=1)
    max_per_unit: int | None = Field(default=None, ge=1)
    limit_individuals: int | None = Field(default=None, ge=1)
    limit_collectives: int | None = Field(default=None, ge=1)
    core: CorePolicy | None = Field(default=None, description="Default: preferred")


# ------------------------------------------------------- candidates: the reply


class CandidateRules(BaseModel):
    model_config = ConfigDict(frozen=True)

    min_attendance_rate: float = Field(ge=0, le=1)
    max_per_unit: int = Field(ge=1)
    core: CorePolicy = CorePolicy.PREFERRED
    limit_individuals: int | None = None
    limit_collectives: int | None = None


class IndividualProposal(BaseModel):
    model_config = ConfigDict(frozen=True)

    rank: int
    member_id: str
    full_name: str
    role: str
    unit_id: str
    unit_name: str
    core: bool
    conferences_eligible: int
    conferences_attended: int
    attendance_rate: float
    rank_in_unit: int
    explanation: str
    already_holds: list[str] = Field(
        default_factory=list, description="Award kinds held for the year (not revoked)"
    )


class CollectiveProposal(BaseModel):
    model_config = ConfigDict(frozen=True)

    rank: int
    unit_id: str
    unit_name: str
    kind: str
    core_members: int
    core_attended: int
    core_possible: int
    core_rate: float
    members_at_end: int
    attendances: int
    possible_attendances: int
    attendance_rate: float
    explanation: str
    already_holds: list[str] = Field(
        default_factory=list, description="Award kinds held for the year (not revoked)"
    )


class PassedOver(BaseModel):
    """A recipient the rules did not propose, and why (with the figures)."""

    model_config = ConfigDict(frozen=True)

    recipient_type: RecipientType
    recipient_id: str
    name: str
    reason: str
    explanation: str


class CandidatesReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    year: int
    conferences_held: int
    rules: CandidateRules
    individuals: list[IndividualProposal]
    collectives: list[CollectiveProposal]
    passed_over: list[PassedOver]


QUERIES: dict[str, type[Query]] = {
    "get_award": GetAward,
    "list_awards": ListAwards,
    "candidates": Candidates,
}
