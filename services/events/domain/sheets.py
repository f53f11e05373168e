"""Matching the rows of a sign-in sheet to roster members. Pure: no guessing, only matches.

A row matches by external code first; else by its normalised full name among the members
active on the conference date. A name shared by several active members (the same name in
two units) is ambiguous: the clerk chooses, helped by the candidates' units and codes.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.events.domain.members import KnownMember, MemberStanding, name_key, plain_key


class RowStatus(StrEnum):
    MATCHED = "matched"
    DUPLICATE = "duplicate"
    """Matches the same member as an earlier row: counted once."""
    AMBIGUOUS = "ambiguous"
    UNMATCHED = "unmatched"
    INACTIVE = "inactive"
    """The member was not on the roster on the conference date."""


NEEDS_CLERK = {RowStatus.AMBIGUOUS, RowStatus.UNMATCHED, RowStatus.INACTIVE}


class SheetRowMatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    row: int
    status: RowStatus
    member_id: str | None = None
    full_name: str | None = None
    unit_id: str | None = None
    message: str = ""
    suggestions: list[dict[str, Any]] = Field(default_factory=list)


def _suggestion(s: MemberStanding, units: Mapping[str, str], why: str) -> dict[str, Any]:
    return {
        "member_id": s.member_id,
        "full_name": s.full_name,
        "unit_id": s.unit_id,
        "unit_name": units.get(s.unit_id or "", s.unit_id),
        "external_code": s.external_code,
        "why": why,
    }


class SheetMatcher:
    def __init__(self, members: Iterable[KnownMember], day: date, units: Mapping[str, str]) -> None:
        self.day = day
        self.units = units
        self.standings = [m.standing_on(day) for m in members]
        self.active = [s for s in self.standings if s.active]
        self.by_code: dict[str, list[MemberStanding]] = {}
        for s in self.standings:
            if s.external_code:
                self.by_code.setdefault(s.external_code.strip().casefold(), []).append(s)
        self.by_name: dict[str, list[MemberStanding]] = {}
        for s in self.standings:
            self.by_name.setdefault(name_key(s.full_name), []).append(s)

    def match_all(self, rows: Iterable[tuple[int, str | None, str | None]]) -> list[SheetRowMatch]:
        """``(row number, external code, full name)`` per row, in sheet order."""
        seen: dict[str, int] = {}
        out = []
        for row, code, name in rows:
            result = self.match(row, code, name)
            if result.status is RowStatus.MATCHED and result.member_id:
                first = seen.setdefault(result.member_id, row)
                if first != row:
                    result = result.model_copy(
                        update={
                            "status": RowStatus.DUPLICATE,
                            "message": f"same member as row {first}; counted once",
                        }
                    )
            out.append(result)
        return out

    def match(self, row: int, code: str | None, name: str | None) -> SheetRowMatch:
        code = (code or "").strip()
        name = (name or "").strip()
        if code:
            found = self.by_code.get(code.casefold(), [])
            if len(found) == 1:
                return self._matched_or_inactive(row, found[0], f"code {code}")
            if len(found) > 1:  # the roster keeps codes unique; never guess if it did not
                return SheetRowMatch(
                    row=row,
                    status=RowStatus.AMBIGUOUS,
                    message=f"code {code} belongs to {len(found)} members",
                    suggestions=[_suggestion(s, self.units, "same code") for s in found],
                )
            return SheetRowMatch(
                row=row,
                status=RowStatus.UNMATCHED,
                message=f"no member has code {code}",
                suggestions=self._close(name) if name else [],
            )
        if not name:
            return SheetRowMatch(
                row=row,
                status=RowStatus.UNMATCHED,
                message="row has neither an external code nor a name",
            )
        same = self.by_name.get(name_key(name), [])
        active = [s for s in same if s.active]
        if len(active) == 1:
            return self._matched_or_inactive(row, active[0], "name")
        if len(active) > 1:
            return SheetRowMatch(
                row=row,
                status=RowStatus.AMBIGUOUS,
                message=f"{len(active)} active members are named {name}; give the external code",
                suggestions=[_suggestion(s, self.units, "same name") for s in active],
            )
        if same:
            return self._matched_or_inactive(row, same[0], "name")
        return SheetRowMatch(
            row=row,
            status=RowStatus.UNMATCHED,
            message=f"no member named {name} on {self.day}",
            suggestions=self._close(name),
        )

    def _matched_or_inactive(self, row: int, s: MemberStanding, by: str) -> SheetRowMatch:
        if not s.active:
            return SheetRowMatch(
                row=row,
                status=RowStatus.INACTIVE,
                member_id=s.member_id,
                full_name=s.full_name,
                message=f"{s.full_name} was not on the roster on {self.day} ({s.why_inactive()})",
            )
        return SheetRowMatch(
            row=row,
            status=RowStatus.MATCHED,
            member_id=s.member_id,
            full_name=s.full_name,
            unit_id=s.unit_id,
            message=f"matched by {by}",
        )

    def _close(self, name: str, limit: int = 5) -> list[dict[str, Any]]:
        """Active members whose name is the same without diacritics, or close in spelling."""
        key, plain = name_key(name), plain_key(name)
        picks: dict[str, dict[str, Any]] = {}
        for s in self.active:
            if plain_key(s.full_name) == plain:
                picks[s.member_id] = _suggestion(s, self.units, "same name without diacritics")
        keys: dict[str, list[MemberStanding]] = {}
        for s in self.active:
            keys.setdefault(name_key(s.full_name), []).append(s)
        for close in difflib.get_close_matches(key, list(keys), n=limit, cutoff=0.8):
            for s in keys[close]:
                picks.setdefault(s.member_id, _suggestion(s, self.units, "similar name"))
        return list(picks.values())[:limit]
