"""The award aggregate and the rules of granting and revoking.

An award's id is derived from its *slot* (recipient type, recipient id, award kind, period)
and the slot's generation (how many earlier awards of that slot were revoked). Two grants of
one slot therefore target the same subject, and JetStream's expected-last-subject-sequence
lets exactly one of them write: uniqueness is enforced by the event store, not by a
read-then-write on a view. See services/awards/README.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict

from contracts import awards as c
from contracts.envelope import DomainEvent
from runtime.domain import AggregateKind, AlreadyExists, Conflict, DomainError, NotFound
from services.awards.domain.recipients import RecipientHistory

SLOT_NAMESPACE = uuid.UUID("3c0b6f7e-2a55-4a8e-9d0e-5e1f0a7b9c21")


class Award(BaseModel):
    model_config = ConfigDict(frozen=True)

    award_id: str
    recipient_type: c.RecipientType
    recipient_id: str
    recipient_name: str = ""
    award_kind: str
    title: str
    period: str
    reason: str = ""
    decision_number: str
    decision_date: date
    authority: str = ""
    revoked: bool = False
    revoke_reason: str = ""
    revoke_decision_number: str | None = None
    revoke_decision_date: date | None = None

    @property
    def status(self) -> str:
        return "revoked" if self.revoked else "granted"


class KnownDecision(BaseModel):
    """What earlier awards and revocations recorded under one decision number."""

    model_config = ConfigDict(frozen=True)

    decision_number: str
    decision_date: date
    authority: str | None = None


# ------------------------------------------------------------------ rule errors


class AwardKindMustBeConfigured(DomainError):
    pass


class RecipientMustExist(NotFound):
    pass


class RecipientMustBeActiveOnDecisionDate(DomainError):
    pass


class RecipientCannotHoldSameAwardTwiceForPeriod(AlreadyExists):
    pass


class AwardIsDuplicateUnderDecision(AlreadyExists):
    pass


class DecisionNumberIdentifiesOneDecision(Conflict):
    pass


class DecisionDateMustNotBeInTheFuture(DomainError):
    pass


class AwardMustExist(NotFound):
    pass


class RevokedAwardCannotBeRevokedAgain(Conflict):
    pass


class RevocationCannotPrecedeGrant(DomainError):
    pass


# --------------------------------------------------------------------- evolve


def evolve(state: Award | None, event: DomainEvent) -> Award:
    match event:
        case c.AwardGranted():
            return Award(
                award_id=event.award_id,
                recipient_type=event.recipient_type,
                recipient_id=event.recipient_id,
                recipient_name=event.recipient_name,
                award_kind=event.award_kind,
                title=event.title,
                period=event.period,
                reason=event.reason,
                decision_number=event.decision_number,
                decision_date=event.decision_date,
                authority=event.authority,
            )
    if state is None:
        raise ValueError(f"{type(event).__name__} before AwardGranted")
    match event:
        case c.AwardRevoked():
            return state.model_copy(
                update={
                    "revoked": True,
                    "revoke_reason": event.reason,
                    "revoke_decision_number": event.decision_number,
                    "revoke_decision_date": event.decision_date,
                }
            )
    raise ValueError(f"{type(event).__name__} does not apply to an award")


AWARD = AggregateKind(context=c.CONTEXT, type=c.AWARD, state_type=Award, evolve=evolve)


def slot_award_id(
    recipient_type: c.RecipientType,
    recipient_id: str,
    award_kind: str,
    period: str,
    generation: int,
) -> str:
    """The id of the ``generation``-th award of a slot (0: the first ever granted)."""
    key = f"{recipient_type.value}|{recipient_id}|{award_kind}|{period}|{generation}"
    return str(uuid.uuid5(SLOT_NAMESPACE, key))


# -------------------------------------------------------------------- decide


def _not_in_future(day: date, today: date) -> None:
    if day > today:
        raise DecisionDateMustNotBeInTheFuture(
            f"decision date {day} is in the future (today is {today})",
            decision_date=day.isoformat(),
            today=today.isoformat(),
        )


def _one_decision(
    known: KnownDecision | None, number: str, day: date, authority: str | None
) -> None:
    if known is None:
        return
    if known.decision_date != day:
        raise DecisionNumberIdentifiesOneDecision(
            f"decision {number} is dated {known.decision_date}, not {day}",
            decision_number=number,
            recorded_date=known.decision_date.isoformat(),
            given_date=day.isoformat(),
        )
    # An empty authority is "not stated", not a different authority.
    if authority and known.authority and known.authority != authority:
        raise DecisionNumberIdentifiesOneDecision(
            f"decision {number} was issued by {known.authority!r}, not {authority!r}",
            decision_number=number,
            recorded_authority=known.authority,
            given_authority=authority,
        )


def check_recipient(recipient: RecipientHistory | None, cmd: c.GrantAward) -> RecipientHistory:
    who = "unit" if cmd.recipient_type is c.RecipientType.COLLECTIVE else "member"
    if recipient is None or not recipient.spans:
        raise RecipientMustExist(
            f"{who} {cmd.recipient_id} is not on the roster",
            recipient_type=cmd.recipient_type.value,
            recipient_id=cmd.recipient_id,
        )
    if not recipient.active_on(cmd.decision_date):
        raise RecipientMustBeActiveOnDecisionDate(
            f"{who} {recipient.name_on(cmd.decision_date)!r} is not active on {cmd.decision_date}"
            f" (active: {recipient.describe_activity()})",
            recipient_type=cmd.recipient_type.value,
            recipient_id=cmd.recipient_id,
            decision_date=cmd.decision_date.isoformat(),
        )
    return recipient


def decide_grant(
    current: Award | None,
    earlier: Sequence[Award],
    cmd: c.GrantAward,
    award_id: str,
    recipient: RecipientHistory | None,
    known_decision: KnownDecision | None,
    award_kinds: Sequence[str],
    today: date,
) -> list[DomainEvent]:
    """Grant the award ``award_id`` of its slot.

    ``current`` is the state at ``award_id`` (``None``: the slot's next free generation);
    ``earlier`` are the slot's earlier, revoked awards.
    """
    if cmd.award_kind not in award_kinds:
        raise AwardKindMustBeConfigured(
            f"award kind {cmd.award_kind!r} is not one the Center grants",
            award_kind=cmd.award_kind,
            configured=list(award_kinds),
        )
    _not_in_future(cmd.decision_date, today)
    for award in [*earlier, *([current] if current else [])]:
        if award.decision_number == cmd.decision_number:
            raise AwardIsDuplicateUnderDecision(
                f"decision {cmd.decision_number} already granted this award"
                f" ({award.award_id}, {award.status})",
                award_id=award.award_id,
                decision_number=cmd.decision_number,
            )
    if current is not None:
        raise RecipientCannotHoldSameAwardTwiceForPeriod(
            f"{current.recipient_name or current.recipient_id} already holds {cmd.award_kind}"
            f" for {cmd.period} (award {current.award_id}, decision {current.decision_number})",
            award_id=current.award_id,
            award_kind=cmd.award_kind,
            period=cmd.period,
        )
    _one_decision(known_decision, cmd.decision_number, cmd.decision_date, cmd.authority)
    holder = check_recipient(recipient, cmd)
    return [
        c.AwardGranted(
            award_id=award_id,
            recipient_type=cmd.recipient_type,
            recipient_id=cmd.recipient_id,
            recipient_name=holder.name_on(cmd.decision_date),
            award_kind=cmd.award_kind,
            title=cmd.title,
            period=cmd.period,
            reason=cmd.reason,
            decision_number=cmd.decision_number,
            decision_date=cmd.decision_date,
            authority=cmd.authority,
        )
    ]


def decide_revoke(
    state: Award | None, cmd: c.RevokeAward, known_decision: KnownDecision | None, today: date
) -> list[DomainEvent]:
    if state is None:
        raise AwardMustExist(f"award {cmd.award_id} does not exist", award_id=cmd.award_id)
    if state.revoked:
        raise RevokedAwardCannotBeRevokedAgain(
            f"award {cmd.award_id} was revoked by decision {state.revoke_decision_number}"
            f" on {state.revoke_decision_date}",
            award_id=cmd.award_id,
            revoke_decision_number=state.revoke_decision_number,
        )
    _not_in_future(cmd.decision_date, today)
    if cmd.decision_date < state.decision_date:
        raise RevocationCannotPrecedeGrant(
            f"revocation dated {cmd.decision_date} precedes the grant of {state.decision_date}",
            award_id=cmd.award_id,
            granted_on=state.decision_date.isoformat(),
        )
    _one_decision(known_decision, cmd.decision_number, cmd.decision_date, None)
    return [
        c.AwardRevoked(
            award_id=cmd.award_id,
            reason=cmd.reason,
            decision_number=cmd.decision_number,
            decision_date=cmd.decision_date,
        )
    ]
