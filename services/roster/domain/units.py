"""Units: city level, Party cells and Party organisations."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date

from pydantic import BaseModel, ConfigDict

from contracts import roster as c
from contracts.envelope import DomainEvent
from runtime.domain import AggregateKind, AlreadyExists, DomainError, NotFound, NothingToChange


class UnitAlreadyHasThatName(NothingToChange):
    pass


class Unit(BaseModel):
    model_config = ConfigDict(frozen=True)

    unit_id: str
    kind: c.UnitKind
    name: str
    parent_id: str | None = None
    external_code: str | None = None
    registered_on: date
    dissolved_on: date | None = None
    dissolve_reason: str = ""

    @property
    def active(self) -> bool:
        return self.dissolved_on is None


class UnitMustExist(NotFound):
    pass


class UnitMustBeActive(DomainError):
    pass


class UnitIsAlreadyRegistered(AlreadyExists):
    pass


class UnitNameMustBeUnique(AlreadyExists):
    pass


class UnitCodeMustBeUnique(AlreadyExists):
    pass


class UnitWithActiveMembersCannotBeDissolved(DomainError):
    pass


class UnitCannotBeItsOwnParent(DomainError):
    pass


class DateMustNotBeInTheFuture(DomainError):
    pass


class NameIsRequired(DomainError):
    pass


def not_in_future(day: date, today: date) -> date:
    if day > today:
        raise DateMustNotBeInTheFuture(
            f"{day} is in the future (today is {today})",
            date=day.isoformat(),
            today=today.isoformat(),
        )
    return day


def required_name(name: str) -> str:
    """Names are trimmed and never empty (the contract trims too; the rule lives here)."""
    trimmed = " ".join(name.split())
    if not trimmed:
        raise NameIsRequired("a name is required")
    return trimmed


def unit_key(text: str) -> str:
    """How two unit names or codes are compared: NFC, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def require_unique(
    unit_id: str, name: str, external_code: str | None, others: Iterable[Unit]
) -> None:
    """A unit's external code is its own for ever (dissolved units keep theirs). Two active
    units may share a name only when both carry an external code that tells them apart
    (two cells named "Chi bộ Khu phố 1" in different wards), the rule the CSV import keys on."""
    for other in others:
        if other.unit_id == unit_id:
            continue
        if (
            external_code is not None
            and other.external_code is not None
            and unit_key(other.external_code) == unit_key(external_code)
        ):
            raise UnitCodeMustBeUnique(
                f"unit {other.name!r} ({other.unit_id}) already has the code {external_code!r}",
                unit_id=other.unit_id,
                external_code=external_code,
            )
        if (
            other.active
            and unit_key(other.name) == unit_key(name)
            and (external_code is None or other.external_code is None)
        ):
            raise UnitNameMustBeUnique(
                f"an active unit is already named {other.name!r} ({other.unit_id}); "
                "give both units external codes to tell them apart",
                unit_id=other.unit_id,
                name=other.name,
            )


def evolve(state: Unit | None, event: DomainEvent) -> Unit:
    match event:
        case c.UnitRegistered():
            return Unit(
                unit_id=event.unit_id,
                kind=event.kind,
                name=event.name,
                parent_id=event.parent_id,
                external_code=event.external_code,
                registered_on=event.effective_on,
            )
        case c.UnitRenamed() if state is not None:
            return state.model_copy(update={"name": event.name})
        case c.UnitDissolved() if state is not None:
            return state.model_copy(
                update={"dissolved_on": event.effective_on, "dissolve_reason": event.reason}
            )
    raise ValueError(f"{type(event).__name__} does not apply to unit state {state!r}")


UNIT = AggregateKind(context=c.CONTEXT, type=c.UNIT, state_type=Unit, evolve=evolve)


def require_active(unit: Unit | None, unit_id: str) -> Unit:
    if unit is None:
        raise UnitMustExist(f"unit {unit_id} does not exist", unit_id=unit_id)
    if not unit.active:
        raise UnitMustBeActive(
            f"unit {unit.name!r} was dissolved on {unit.dissolved_on}", unit_id=unit_id
        )
    return unit


def decide_register(
    state: Unit | None,
    cmd: c.RegisterUnit,
    unit_id: str,
    parent: Unit | None,
    today: date,
    others: Iterable[Unit] = (),
) -> list[DomainEvent]:
    """``others``: every unit registered so far (dissolved included)."""
    if state is not None:
        raise UnitIsAlreadyRegistered(f"unit {unit_id} is already registered", unit_id=unit_id)
    name = required_name(cmd.name)
    require_unique(unit_id, name, cmd.external_code, others)
    if cmd.parent_id is not None:
        if cmd.parent_id == unit_id:
            raise UnitCannotBeItsOwnParent(
                f"unit {unit_id} cannot be its own parent", unit_id=unit_id
            )
        require_active(parent, cmd.parent_id)
    effective = not_in_future(cmd.effective_on or today, today)
    return [
        c.UnitRegistered(
            unit_id=unit_id,
            kind=cmd.kind,
            name=name,
            parent_id=cmd.parent_id,
            external_code=cmd.external_code,
            effective_on=effective,
        )
    ]


def decide_rename(
    state: Unit | None, cmd: c.RenameUnit, today: date, others: Iterable[Unit] = ()
) -> list[DomainEvent]:
    unit = require_active(state, cmd.unit_id)
    name = required_name(cmd.name)
    effective = not_in_future(cmd.effective_on or today, today)
    if unit.name == name:
        raise UnitAlreadyHasThatName(f"unit {cmd.unit_id} is already named {name!r}")
    require_unique(cmd.unit_id, name, unit.external_code, others)
    return [
        c.UnitRenamed(
            unit_id=cmd.unit_id, name=name, previous_name=unit.name, effective_on=effective
        )
    ]


def decide_dissolve(
    state: Unit | None, cmd: c.DissolveUnit, active_members: Mapping[str, str], today: date
) -> list[DomainEvent]:
    """``active_members``: id -> full name of the unit's members still active."""
    unit = require_active(state, cmd.unit_id)
    effective = not_in_future(cmd.effective_on or today, today)
    if active_members:
        names = ", ".join(f"{name} ({member_id})" for member_id, name in active_members.items())
        raise UnitWithActiveMembersCannotBeDissolved(
            f"unit {unit.name!r} still has {len(active_members)} active member(s): {names}; "
            "transfer or retire them, or give a transfer target",
            unit_id=cmd.unit_id,
            active_member_ids=list(active_members),
            active_member_names=list(active_members.values()),
        )
    return [c.UnitDissolved(unit_id=cmd.unit_id, reason=cmd.reason, effective_on=effective)]
