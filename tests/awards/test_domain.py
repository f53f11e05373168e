"""The award rules, pure: given earlier awards and the roster, when a command, then events
or the named error."""

from __future__ import annotations

from datetime import date

import pytest

from contracts import awards as c
from services.awards.domain import awards as a
from services.awards.domain.recipients import NameFrom, RecipientHistory, Span

pytestmark = pytest.mark.fast

KINDS = ("certificate_of_merit", "letter_of_commendation")
TODAY = date(2023, 1, 15)
DECISION_DAY = date(2022, 12, 9)

HOA = RecipientHistory(
    recipient_type=c.RecipientType.INDIVIDUAL,
    recipient_id="hoa",
    spans=(Span(start=date(2022, 1, 10)),),
    names=(NameFrom(since=date(2022, 1, 10), name="Nguyễn Thị Hoa"),),
)


def grant(**changes: object) -> c.GrantAward:
    fields: dict[str, object] = dict(
        command_id="g1",
        recipient_type="individual",
        recipient_id="hoa",
        award_kind="certificate_of_merit",
        title="Giấy khen",
        period="2022",
        reason="Outstanding propagandist",
        decision_number="123/QĐ-TTCT",
        decision_date=DECISION_DAY,
        authority="Giám đốc",
    )
    fields.update(changes)
    return c.GrantAward.model_validate(fields)


def revoke(**changes: object) -> c.RevokeAward:
    fields: dict[str, object] = dict(
        command_id="r1",
        award_id="A",
        reason="error in file",
        decision_number="200/QĐ-TTCT",
        decision_date=date(2023, 1, 5),
    )
    fields.update(changes)
    return c.RevokeAward.model_validate(fields)


def granted(cmd: c.GrantAward | None = None, award_id: str = "A") -> a.Award:
    events = a.decide_grant(None, [], cmd or grant(), award_id, HOA, None, KINDS, TODAY)
    return a.AWARD.fold(None, events)  # type: ignore[return-value]


def revoked(award: a.Award, **changes: object) -> a.Award:
    return a.evolve(
        award, a.decide_revoke(award, revoke(award_id=award.award_id, **changes), None, TODAY)[0]
    )


# ------------------------------------------------------------------------ grant


def test_grant_records_the_award_with_the_roster_name_on_the_decision_date() -> None:
    renamed = HOA.model_copy(
        update={"names": (*HOA.names, NameFrom(since=date(2023, 1, 1), name="Later"))}
    )
    [event] = a.decide_grant(None, [], grant(), "A", renamed, None, KINDS, TODAY)
    assert isinstance(event, c.AwardGranted)
    assert event.award_id == "A" and event.recipient_name == "Nguyễn Thị Hoa"
    assert (event.award_kind, event.period, event.decision_number) == (
        "certificate_of_merit",
        "2022",
        "123/QĐ-TTCT",
    )


def test_award_kind_must_be_configured() -> None:
    with pytest.raises(a.AwardKindMustBeConfigured):
        a.decide_grant(None, [], grant(award_kind="gold_medal"), "A", HOA, None, KINDS, TODAY)


def test_recipient_must_exist() -> None:
    with pytest.raises(a.RecipientMustExist):
        a.decide_grant(None, [], grant(), "A", None, None, KINDS, TODAY)


def test_recipient_must_be_active_on_the_decision_date() -> None:
    enrolled_late = HOA.model_copy(update={"spans": (Span(start=date(2022, 12, 10)),)})
    with pytest.raises(a.RecipientMustBeActiveOnDecisionDate):
        a.decide_grant(None, [], grant(), "A", enrolled_late, None, KINDS, TODAY)
    retired = HOA.model_copy(
        update={"spans": (Span(start=date(2022, 1, 1), end=date(2022, 12, 9)),)}
    )
    with pytest.raises(a.RecipientMustBeActiveOnDecisionDate):
        a.decide_grant(None, [], grant(), "A", retired, None, KINDS, TODAY)
    # The day before retirement is still active.
    assert a.decide_grant(
        None, [], grant(decision_date=date(2022, 12, 8)), "A", retired, None, KINDS, TODAY
    )


def test_same_recipient_cannot_hold_the_same_kind_for_the_same_period_twice() -> None:
    first = granted()
    with pytest.raises(a.RecipientCannotHoldSameAwardTwiceForPeriod):
        a.decide_grant(
            first,
            [],
            grant(command_id="g2", decision_number="124/QĐ-TTCT"),
            "A",
            HOA,
            None,
            KINDS,
            TODAY,
        )


def test_after_revocation_the_slot_can_be_granted_again_under_another_decision() -> None:
    first = revoked(granted())
    [event] = a.decide_grant(
        None,
        [first],
        grant(command_id="g2", decision_number="300/QĐ"),
        "B",
        HOA,
        None,
        KINDS,
        TODAY,
    )
    assert isinstance(event, c.AwardGranted) and event.award_id == "B"


def test_the_same_award_twice_under_one_decision_is_a_duplicate() -> None:
    first = granted()
    with pytest.raises(a.AwardIsDuplicateUnderDecision):
        a.decide_grant(first, [], grant(command_id="g2"), "A", HOA, None, KINDS, TODAY)
    # Even once revoked: that decision granted this award already.
    with pytest.raises(a.AwardIsDuplicateUnderDecision):
        a.decide_grant(None, [revoked(first)], grant(command_id="g3"), "B", HOA, None, KINDS, TODAY)


def test_a_decision_number_identifies_one_decision() -> None:
    known = a.KnownDecision(
        decision_number="123/QĐ-TTCT", decision_date=DECISION_DAY, authority="Giám đốc"
    )
    # Several awards may share it.
    assert a.decide_grant(
        None, [], grant(award_kind="letter_of_commendation"), "A", HOA, known, KINDS, TODAY
    )
    with pytest.raises(a.DecisionNumberIdentifiesOneDecision):
        a.decide_grant(
            None, [], grant(decision_date=date(2022, 12, 8)), "A", HOA, known, KINDS, TODAY
        )
    with pytest.raises(a.DecisionNumberIdentifiesOneDecision):
        a.decide_grant(None, [], grant(authority="Someone else"), "A", HOA, known, KINDS, TODAY)
    assert a.decide_grant(None, [], grant(authority=""), "A", HOA, known, KINDS, TODAY)


def test_decision_date_must_not_be_in_the_future() -> None:
    with pytest.raises(a.DecisionDateMustNotBeInTheFuture):
        a.decide_grant(
            None, [], grant(decision_date=date(2023, 1, 16)), "A", HOA, None, KINDS, TODAY
        )


def test_slot_ids_are_deterministic_and_distinct() -> None:
    ind = c.RecipientType.INDIVIDUAL
    base = a.slot_award_id(ind, "hoa", "certificate_of_merit", "2022", 0)
    assert base == a.slot_award_id(ind, "hoa", "certificate_of_merit", "2022", 0)
    others = {
        a.slot_award_id(ind, "hoa", "certificate_of_merit", "2022", 1),
        a.slot_award_id(ind, "hoa", "certificate_of_merit", "2022-Q4", 0),
        a.slot_award_id(ind, "hoa", "letter_of_commendation", "2022", 0),
        a.slot_award_id(ind, "nam", "certificate_of_merit", "2022", 0),
        a.slot_award_id(c.RecipientType.COLLECTIVE, "hoa", "certificate_of_merit", "2022", 0),
    }
    assert base not in others and len(others) == 5


# ----------------------------------------------------------------------- revoke


def test_revoke_records_reason_and_decision() -> None:
    award = revoked(granted())
    assert award.revoked and award.revoke_decision_number == "200/QĐ-TTCT"
    assert award.revoke_reason == "error in file" and award.status == "revoked"


def test_award_must_exist_to_be_revoked() -> None:
    with pytest.raises(a.AwardMustExist):
        a.decide_revoke(None, revoke(), None, TODAY)


def test_a_revoked_award_cannot_be_revoked_again() -> None:
    award = revoked(granted())
    with pytest.raises(a.RevokedAwardCannotBeRevokedAgain):
        a.decide_revoke(award, revoke(command_id="r2", decision_number="201/QĐ"), None, TODAY)


def test_revocation_cannot_precede_the_grant() -> None:
    with pytest.raises(a.RevocationCannotPrecedeGrant):
        a.decide_revoke(granted(), revoke(decision_date=date(2022, 12, 1)), None, TODAY)


def test_revocation_decision_number_identifies_one_decision() -> None:
    known = a.KnownDecision(decision_number="200/QĐ-TTCT", decision_date=date(2023, 1, 4))
    with pytest.raises(a.DecisionNumberIdentifiesOneDecision):
        a.decide_revoke(granted(), revoke(), known, TODAY)


def test_revocation_decision_date_must_not_be_in_the_future() -> None:
    with pytest.raises(a.DecisionDateMustNotBeInTheFuture):
        a.decide_revoke(granted(), revoke(decision_date=date(2023, 2, 1)), None, TODAY)
