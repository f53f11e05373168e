"""One roster copy for events and awards (runtime/rostercopy.py): the same fold answers the
events service's "standing on the conference date" and the awards service's "active on the
decision date, under which name"."""

from __future__ import annotations

from datetime import date

import pytest

from contracts import roster as r
from contracts.awards import RecipientType
from contracts.envelope import DomainEvent
from runtime.rostercopy import MemberCopy, UnitCopy, evolve_member, evolve_unit
from services.awards.domain.recipients import RecipientHistory
from services.events.domain.members import KnownMember

pytestmark = pytest.mark.fast


def member(*events: DomainEvent) -> MemberCopy:
    copy: MemberCopy | None = None
    for seq, event in enumerate(events, start=1):
        copy = evolve_member(copy, event, seq)
    assert copy is not None
    return copy


def test_events_and_awards_read_the_same_member_copy() -> None:
    copy = member(
        r.MemberEnrolled(
            member_id="m",
            full_name="Le Van Nam",
            role=r.Role.PROPAGANDIST,
            unit_id="u1",
            effective_on=date(2022, 1, 10),
        ),
        r.MemberDetailsCorrected(
            member_id="m", full_name="Lê Văn Nam", effective_on=date(2022, 2, 1)
        ),
        r.MemberTransferred(
            member_id="m", from_unit_id="u1", to_unit_id="u2", effective_on=date(2022, 4, 1)
        ),
        r.MemberRetired(member_id="m", effective_on=date(2022, 6, 1)),
        r.MemberReenrolled(
            member_id="m", role=r.Role.REPORTER, unit_id="u3", effective_on=date(2022, 9, 1)
        ),
    )
    assert KnownMember is MemberCopy  # the events service's model is the shared one
    recipient = RecipientHistory.of(RecipientType.INDIVIDUAL, "m", copy)
    for day in (date(2022, 1, 9), date(2022, 3, 1), date(2022, 5, 1), date(2022, 7, 1)):
        assert copy.standing_on(day).active == recipient.active_on(day), day
    assert copy.standing_on(date(2022, 10, 1)).active and recipient.active_on(date(2022, 10, 1))
    assert copy.standing_on(date(2022, 5, 1)).unit_id == "u2"
    assert copy.standing_on(date(2022, 10, 1)).role is r.Role.REPORTER
    assert copy.full_name == "Lê Văn Nam"
    assert recipient.name_on(date(2022, 1, 20)) == "Le Van Nam"
    assert recipient.name_on(date(2022, 12, 9)) == "Lê Văn Nam"


def test_a_unit_copy_knows_its_names_and_when_it_was_active() -> None:
    copy: UnitCopy | None = None
    for seq, event in enumerate(
        (
            r.UnitRegistered(
                unit_id="u",
                kind=r.UnitKind.PARTY_CELL,
                name="Chi bộ 1",
                effective_on=date(2020, 1, 1),
            ),
            r.UnitRenamed(
                unit_id="u",
                name="Chi bộ Một",
                previous_name="Chi bộ 1",
                effective_on=date(2022, 7, 1),
            ),
            r.UnitDissolved(unit_id="u", effective_on=date(2023, 3, 1)),
        ),
        start=1,
    ):
        copy = evolve_unit(copy, event, seq)
    assert copy is not None and copy.dissolved and copy.name == "Chi bộ Một"
    assert copy.name_on(date(2022, 6, 30)) == "Chi bộ 1"
    assert copy.active_on(date(2023, 2, 28)) and not copy.active_on(date(2023, 3, 1))
