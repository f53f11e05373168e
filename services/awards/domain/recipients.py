"""The roster as the awards context needs it: who existed and was active on which dates.

Folded from the ROSTER stream's events (pure); the adapter stores one history per recipient.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from contracts import roster as r
from contracts.awards import RecipientType
from contracts.envelope import DomainEvent


class Span(BaseModel):
    """Active from ``start`` (inclusive) until ``end`` (exclusive; ``None``: still active)."""

    model_config = ConfigDict(frozen=True)

    start: date
    end: date | None = None

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)


class NameFrom(BaseModel):
    model_config = ConfigDict(frozen=True)

    since: date
    name: str


class RecipientHistory(BaseModel):
    model_config = ConfigDict(frozen=True)

    recipient_type: RecipientType
    recipient_id: str
    spans: tuple[Span, ...] = ()
    names: tuple[NameFrom, ...] = ()

    def active_on(self, day: date) -> bool:
        return any(span.covers(day) for span in self.spans)

    def name_on(self, day: date) -> str:
        """The name in force on ``day`` (the earliest known name before the first one)."""
        current = self.names[0].name if self.names else ""
        for entry in self.names:
            if entry.since <= day:
                current = entry.name
        return current

    def describe_activity(self) -> str:
        return ", ".join(f"{s.start}..{s.end or ''}" for s in self.spans) or "never active"


# Roster event types that change what the awards context knows; the rest are skipped unread.
RELEVANT_TYPES = frozenset(
    {
        "UnitRegistered",
        "UnitRenamed",
        "UnitDissolved",
        "MemberEnrolled",
        "MemberReenrolled",
        "MemberDetailsCorrected",
        "MemberRetired",
    }
)


def recipient_of(event: DomainEvent) -> tuple[RecipientType, str] | None:
    match event:
        case r.UnitRegistered() | r.UnitRenamed() | r.UnitDissolved():
            return RecipientType.COLLECTIVE, event.unit_id
        case (
            r.MemberEnrolled()
            | r.MemberReenrolled()
            | r.MemberDetailsCorrected()
            | r.MemberRetired()
        ):
            return RecipientType.INDIVIDUAL, event.member_id
    return None


def _with_name(names: tuple[NameFrom, ...], since: date, name: str) -> tuple[NameFrom, ...]:
    kept = tuple(n for n in names if n.since != since)
    return tuple(sorted((*kept, NameFrom(since=since, name=name)), key=lambda n: n.since))


def _close(spans: tuple[Span, ...], end: date) -> tuple[Span, ...]:
    if not spans or spans[-1].end is not None:
        return spans
    last = spans[-1]
    # A retirement dated before the enrolment it ends leaves an empty span, not a negative one.
    return (*spans[:-1], last.model_copy(update={"end": max(end, last.start)}))


def _open(spans: tuple[Span, ...], start: date) -> tuple[Span, ...]:
    if spans and spans[-1].end is None:
        return spans
    return (*spans, Span(start=start))


def evolve(state: RecipientHistory | None, event: DomainEvent) -> RecipientHistory | None:
    """Fold one roster event; ``None`` for events of recipients never registered/enrolled."""
    key = recipient_of(event)
    if key is None:
        return state
    if state is None:
        state = RecipientHistory(recipient_type=key[0], recipient_id=key[1])
    match event:
        case r.UnitRegistered() | r.MemberEnrolled():
            name = event.name if isinstance(event, r.UnitRegistered) else event.full_name
            return state.model_copy(
                update={
                    "spans": _open(state.spans, event.effective_on),
                    "names": _with_name(state.names, event.effective_on, name),
                }
            )
        case r.MemberReenrolled():
            return state.model_copy(update={"spans": _open(state.spans, event.effective_on)})
        case r.UnitRenamed():
            return state.model_copy(
                update={"names": _with_name(state.names, event.effective_on, event.name)}
            )
        case r.MemberDetailsCorrected():
            return state.model_copy(
                update={"names": _with_name(state.names, event.effective_on, event.full_name)}
            )
        case r.UnitDissolved() | r.MemberRetired():
            return state.model_copy(update={"spans": _close(state.spans, event.effective_on)})
    return state
