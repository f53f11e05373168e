"""Awards context: year-end awards to collectives (units) and individuals (members)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field

from contracts.envelope import DomainEvent
from contracts.registry import registry
from contracts.replies import Command, Query
from contracts.types import Identifier, Name, ShortText

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
    recipient_name: str = Field(default="", description="As the roster named it on the decision date")
    award_kind: str = Field(min_length=1, max_length=64)
    title: Name
    period: str = Field(pattern=PERIOD_PATTERN)
    reason: ShortText = ""
    decision_number: str = Field(min_length=1, max_length=64)
    decision_date: date
    authority: ShortText = ""


@registry.register
class AwardRevoked(DomainEvent):
    event_type = "AwardRevoked"
    aggregate_type = AWARD
    award_id: Identifier
    reason: ShortText = ""
    decision_number: str = Field(min_length=1, max_length=64)
    decision_date: date


# -------------------------------------------------------------------- commands


class GrantAward(Command):
    award_id: Identifier | None = Field(default=None, description="Derived from command_id if absent")
    recipient_type: RecipientType
    recipient_id: Identifier
    award_kind: str = Field(default="certificate_of_merit", min_length=1, max_length=64)
    title: Name
    period: str = Field(pattern=PERIOD_PATTERN)
    reason: ShortText = ""
    decision_number: str = Field(min_length=1, max_length=64)
    decision_date: date
    authority: ShortText = "Giám đốc Trung tâm Chính trị thành phố"


class RevokeAward(Command):
    award_id: Identifier
    reason: ShortText = ""
    decision_number: str = Field(min_length=1, max_length=64)
    decision_date: date


COMMANDS: dict[str, type[Command]] = {
    "grant_award": GrantAward,
    "revoke_award": RevokeAward,
}


# --------------------------------------------------------------------- queries


class GetAward(Query):
    award_id: Identifier


class ListAwards(Query):
    period: str | None = Field(default=None, pattern=PERIOD_PATTERN)
    recipient_id: Identifier | None = None


class Candidates(Query):
    """Proposals for a year's awards, explained by the participation record."""

    year: int = Field(ge=1900, le=9999)
    min_attendance_rate: float | None = Field(default=None, ge=0, le=1)
    max_per_unit: int | None = Field(default=None, ge=1)
    limit_individuals: int | None = Field(default=None, ge=1)
    limit_collectives: int | None = Field(default=None, ge=1)


QUERIES: dict[str, type[Query]] = {
    "get_award": GetAward,
    "list_awards": ListAwards,
    "candidates": Candidates,
}
