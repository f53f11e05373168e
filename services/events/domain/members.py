"""What the events context knows of the roster: each member's effective-dated history.

Folded from the roster's published events (contracts only, never the roster's code), so
"was this member on the roster on the conference date, and in which unit" can be decided
for any date, including conferences recorded long after they took place.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts import roster as r
from contracts.envelope import DomainEvent


class Change(StrEnum):
    ENROLLED = "enrolled"
    REENROLLED = "reenrolled"
    TRANSFERRED = "transferred"
    RETIRED = "retired"


class HistoryEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    change: Change
    effective_on: date
    sequence: int = Field(description="ROSTER stream sequence: orders same-day changes")
    unit_id: str | None = None
    role: r.Role | None = None


class MemberStanding(BaseModel):
    """A member as the roster stood on one date."""

    model_config = ConfigDict(frozen=True)

    member_id: str
    full_name: str
    external_code: str | None
    on: date
    active: bool
    unit_id: str | None
    role: r.Role | None
    enrolled_on: date | None
    retired_on: date | None = None

    def why_inactive(self) -> str:
        if self.enrolled_on is None or self.on < self.enrolled_on:
            return f"enrolled only on {self.enrolled_on}"
        return f"retired on {self.retired_on}"


class KnownMember(BaseModel):
    model_config = ConfigDict(frozen=True)

    member_id: str
    full_name: str
    external_code: str | None = None
    history: list[HistoryEntry] = Field(default_factory=list)

    @property
    def current_unit_id(self) -> str | None:
        return self.standing_on(date.max).unit_id

    def standing_on(self, day: date) -> MemberStanding:
        """Fold the changes in force on ``day`` (by effective date, then stream order)."""
        active, unit_id, role = False, None, None
        enrolled_on: date | None = None
        retired_on: date | None = None
        for entry in sorted(self.history, key=lambda e: (e.effective_on, e.sequence)):
            if entry.effective_on > day:
                if enrolled_on is None and entry.change is Change.ENROLLED:
                    enrolled_on = entry.effective_on
                break
            match entry.change:
                case Change.ENROLLED | Change.REENROLLED:
                    active, unit_id, role = True, entry.unit_id, entry.role
                    enrolled_on = enrolled_on or entry.effective_on
                    retired_on = None
                case Change.TRANSFERRED:
                    unit_id = entry.unit_id
                case Change.RETIRED:
                    active, retired_on = False, entry.effective_on
        return MemberStanding(
            member_id=self.member_id,
            full_name=self.full_name,
            external_code=self.external_code,
            on=day,
            active=active,
            unit_id=unit_id,
            role=role,
            enrolled_on=enrolled_on,
            retired_on=retired_on,
        )


def apply_roster_event(
    member: KnownMember | None, event: DomainEvent, sequence: int
) -> KnownMember | None:
    """The member after one roster event; ``None`` stays ``None`` until an enrolment."""
    if isinstance(event, r.MemberEnrolled):
        first = HistoryEntry(
            change=Change.ENROLLED,
            effective_on=event.effective_on,
            sequence=sequence,
            unit_id=event.unit_id,
            role=event.role,
        )
        return KnownMember(
            member_id=event.member_id,
            full_name=event.full_name,
            external_code=event.external_code,
            history=[first],
        )
    if member is None:
        return None
    entry: HistoryEntry | None = None
    update: dict[str, object] = {}
    match event:
        case r.MemberReenrolled():
            entry = HistoryEntry(
                change=Change.REENROLLED,
                effective_on=event.effective_on,
                sequence=sequence,
                unit_id=event.unit_id,
                role=event.role,
            )
        case r.MemberTransferred():
            entry = HistoryEntry(
                change=Change.TRANSFERRED,
                effective_on=event.effective_on,
                sequence=sequence,
                unit_id=event.to_unit_id,
            )
        case r.MemberRetired():
            entry = HistoryEntry(
                change=Change.RETIRED, effective_on=event.effective_on, sequence=sequence
            )
        case r.MemberDetailsCorrected():
            update["full_name"] = event.full_name
    # The code-change event is matched by name: it is the newest roster contract.
    if event.event_type == "MemberExternalCodeChanged":
        update["external_code"] = getattr(event, "external_code", None)
    if entry is not None:
        update["history"] = [*member.history, entry]
    return member.model_copy(update=update) if update else member


def name_key(name: str) -> str:
    """Names compare in NFC, case-folded, with single spaces (Vietnamese input varies)."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def plain_key(name: str) -> str:
    """Without diacritics: only for suggestions, never for a match (Hoa is not Hòa)."""
    decomposed = unicodedata.normalize("NFD", name_key(name)).replace("đ", "d")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
