"""The roster's effective-dated history as the awards context sees it (pure): the shared
roster copy (runtime/rostercopy.py) folded, then read as a recipient."""

from __future__ import annotations

from datetime import date

import pytest

from contracts import roster as r
from contracts.awards import RecipientType
from contracts.envelope import DomainEvent
from runtime.rostercopy import Copied, evolve_member, evolve_unit
from services.awards.domain.recipients import RecipientHistory

pytestmark = pytest.mark.fast


def fold(*events: DomainEvent) -> RecipientHistory:
    unit = evolve_unit(None, events[0], 1)
    member = evolve_member(None, events[0], 1)
    for seq, event in enumerate(events[1:], start=2):
        unit, member = evolve_unit(unit, event, seq), evolve_member(member, event, seq)
    copy: Copied | None = unit or member
    assert copy is not None
    kind = RecipientType.COLLECTIVE if unit is not None else RecipientType.INDIVIDUAL
    ident = unit.unit_id if unit is not None else member.member_id  # type: ignore[union-attr]
    return RecipientHistory.of(kind, ident, copy)


def test_member_active_from_enrolment_until_retirement_and_again_after_reenrolment() -> None:
    history = fold(
        r.MemberEnrolled(
            member_id="m",
            full_name="Lê Văn Nam",
            role=r.Role.PROPAGANDIST,
            unit_id="u",
            effective_on=date(2022, 1, 10),
        ),
        r.MemberRetired(member_id="m", effective_on=date(2022, 6, 1)),
        r.MemberReenrolled(
            member_id="m", role=r.Role.PROPAGANDIST, unit_id="u", effective_on=date(2022, 9, 1)
        ),
    )
    assert history.recipient_type is RecipientType.INDIVIDUAL
    assert not history.active_on(date(2022, 1, 9))
    assert history.active_on(date(2022, 1, 10)) and history.active_on(date(2022, 5, 31))
    assert not history.active_on(date(2022, 6, 1)) and not history.active_on(date(2022, 8, 31))
    assert history.active_on(date(2022, 9, 1)) and history.active_on(date(2030, 1, 1))


def test_names_are_effective_dated() -> None:
    history = fold(
        r.UnitRegistered(
            unit_id="u", kind=r.UnitKind.PARTY_CELL, name="Chi bộ 1", effective_on=date(2020, 1, 1)
        ),
        r.UnitRenamed(
            unit_id="u", name="Chi bộ Một", previous_name="Chi bộ 1", effective_on=date(2022, 7, 1)
        ),
        r.UnitDissolved(unit_id="u", effective_on=date(2023, 3, 1)),
    )
    assert history.recipient_type is RecipientType.COLLECTIVE
    assert history.name_on(date(2022, 6, 30)) == "Chi bộ 1"
    assert history.name_on(date(2022, 12, 9)) == "Chi bộ Một"
    assert history.active_on(date(2023, 2, 28)) and not history.active_on(date(2023, 3, 1))


def test_member_name_corrections_and_irrelevant_events() -> None:
    history = fold(
        r.MemberEnrolled(
            member_id="m",
            full_name="Le Van Nam",
            role=r.Role.REPORTER,
            unit_id="city",
            effective_on=date(2022, 1, 1),
        ),
        r.MemberDetailsCorrected(
            member_id="m", full_name="Lê Văn Nam", effective_on=date(2022, 2, 1)
        ),
        r.MemberCoreFlagSet(member_id="m", effective_on=date(2022, 3, 1)),
    )
    assert history.name_on(date(2022, 12, 9)) == "Lê Văn Nam"
    assert history.name_on(date(2022, 1, 5)) == "Le Van Nam"
    assert len(history.spans) == 1
