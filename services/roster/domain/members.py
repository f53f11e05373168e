"""Members: reporters (city-level speakers) and propagandists (grassroots communicators)."""

from __future__ import annotations

import unicodedata
from datetime import date

from pydantic import BaseModel, ConfigDict

from contracts import roster as c
from contracts.envelope import DomainEvent
from runtime.domain import AggregateKind, AlreadyExists, DomainError, NotFound, NothingToChange
from services.roster.domain.units import Unit, not_in_future, require_active, required_name


class Member(BaseModel):
    model_config = ConfigDict(frozen=True)

    member_id: str
    full_name: str
    role: c.Role
    unit_id: str
    external_code: str | None = None
    contact: str | None = None
    core: bool = False
    enrolled_on: date
    retired_on: date | None = None
    retire_reason: str = ""

    @property
    def active(self) -> bool:
        return self.retired_on is None


class MemberMustExist(NotFound):
    pass


class MemberDetailsAlreadyRecorded(NothingToChange):
    pass


class MemberAlreadyHasThatCode(NothingToChange):
    pass


class MemberAlreadyHasThatRole(NothingToChange):
    pass


class MemberAlreadyInThatUnit(NothingToChange):
    pass


class CoreFlagAlreadySo(NothingToChange):
    pass


class MemberIsAlreadyEnrolled(AlreadyExists):
    pass


class RetiredMemberCannotBeChanged(DomainError):
    pass


class MemberMustBeRetiredToReenrol(DomainError):
    pass


class ReporterMustBelongToCityLevel(DomainError):
    pass


class ExternalCodeMustBeUnique(AlreadyExists):
    pass


class ChangeMustNotPrecedeEnrolment(DomainError):
    pass


class ReenrolmentMustNotPrecedeRetirement(DomainError):
    pass


def code_key(code: str) -> str:
    """The form in which two external codes are compared: trimmed, NFC, case-folded."""
    return unicodedata.normalize("NFC", code.strip()).casefold()


def evolve(state: Member | None, event: DomainEvent) -> Member:
    match event:
        case c.MemberEnrolled():
            return Member(
                member_id=event.member_id,
                full_name=event.full_name,
                role=event.role,
                unit_id=event.unit_id,
                external_code=event.external_code,
                contact=event.contact,
                core=event.core,
                enrolled_on=event.effective_on,
            )
    if state is None:
        raise ValueError(f"{type(event).__name__} before MemberEnrolled")
    match event:
        case c.MemberReenrolled():
            return state.model_copy(
                update={
                    "role": event.role,
                    "unit_id": event.unit_id,
                    "retired_on": None,
                    "retire_reason": "",
                }
            )
        case c.MemberDetailsCorrected():
            return state.model_copy(update={"full_name": event.full_name, "contact": event.contact})
        case c.MemberExternalCodeChanged():
            return state.model_copy(update={"external_code": event.external_code})
        case c.MemberRoleChanged():
            return state.model_copy(update={"role": event.role})
        case c.MemberTransferred():
            return state.model_copy(update={"unit_id": event.to_unit_id})
        case c.MemberCoreFlagSet():
            return state.model_copy(update={"core": True})
        case c.MemberCoreFlagCleared():
            return state.model_copy(update={"core": False})
        case c.MemberRetired():
            return state.model_copy(
                update={"retired_on": event.effective_on, "retire_reason": event.reason}
            )
    raise ValueError(f"{type(event).__name__} does not apply to a member")


MEMBER = AggregateKind(context=c.CONTEXT, type=c.MEMBER, state_type=Member, evolve=evolve)


# ------------------------------------------------------------------------- rules


def check_role_fits_unit(role: c.Role, unit: Unit, reporters_at_city_level_only: bool) -> None:
    if (
        role is c.Role.REPORTER
        and reporters_at_city_level_only
        and unit.kind is not c.UnitKind.CITY
    ):
        raise ReporterMustBelongToCityLevel(
            f"reporters belong to the city level, not to {unit.name!r}", unit_id=unit.unit_id
        )


def check_code_free(code: str | None, holder: str | None, member_id: str) -> None:
    """``holder``: the member the code's reservation names (None: nobody)."""
    if code is not None and holder is not None and holder != member_id:
        raise ExternalCodeMustBeUnique(
            f"external code {code!r} already belongs to member {holder}",
            external_code=code,
            member_id=holder,
        )


def require_member(state: Member | None, member_id: str) -> Member:
    if state is None:
        raise MemberMustExist(f"member {member_id} does not exist", member_id=member_id)
    return state


def require_changeable(state: Member | None, member_id: str) -> Member:
    member = require_member(state, member_id)
    if not member.active:
        raise RetiredMemberCannotBeChanged(
            f"{member.full_name} retired on {member.retired_on}; re-enrol them first",
            member_id=member_id,
        )
    return member


def change_date(member: Member, day: date | None, today: date) -> date:
    """A change takes effect on a past or present day, not before the member enrolled."""
    effective = not_in_future(day or today, today)
    if effective < member.enrolled_on:
        raise ChangeMustNotPrecedeEnrolment(
            f"{effective} is before {member.full_name} enrolled on {member.enrolled_on}",
            member_id=member.member_id,
            date=effective.isoformat(),
            enrolled_on=member.enrolled_on.isoformat(),
        )
    return effective


# ---------------------------------------------------------------------- decisions


def decide_enroll(
    state: Member | None,
    cmd: c.EnrollMember,
    member_id: str,
    unit: Unit | None,
    today: date,
    reporters_at_city_level_only: bool,
) -> list[DomainEvent]:
    if state is not None:
        raise MemberIsAlreadyEnrolled(
            f"member {member_id} is already enrolled", member_id=member_id
        )
    name = required_name(cmd.full_name)
    target = require_active(unit, cmd.unit_id)
    check_role_fits_unit(cmd.role, target, reporters_at_city_level_only)
    return [
        c.MemberEnrolled(
            member_id=member_id,
            full_name=name,
            role=cmd.role,
            unit_id=cmd.unit_id,
            external_code=cmd.external_code,
            contact=cmd.contact,
            core=cmd.core,
            effective_on=not_in_future(cmd.effective_on or today, today),
        )
    ]


def decide_reenroll(
    state: Member | None,
    cmd: c.ReenrollMember,
    unit: Unit | None,
    today: date,
    reporters_at_city_level_only: bool,
) -> list[DomainEvent]:
    member = require_member(state, cmd.member_id)
    if member.active:
        raise MemberMustBeRetiredToReenrol(
            f"{member.full_name} is on the roster; only a retired member is re-enrolled",
            member_id=cmd.member_id,
        )
    effective = not_in_future(cmd.effective_on or today, today)
    assert member.retired_on is not None
    if effective < member.retired_on:
        raise ReenrolmentMustNotPrecedeRetirement(
            f"{effective} is before {member.full_name} retired on {member.retired_on}",
            member_id=cmd.member_id,
            retired_on=member.retired_on.isoformat(),
        )
    target = require_active(unit, cmd.unit_id)
    check_role_fits_unit(cmd.role, target, reporters_at_city_level_only)
    return [
        c.MemberReenrolled(
            member_id=cmd.member_id, role=cmd.role, unit_id=cmd.unit_id, effective_on=effective
        )
    ]


def decide_correct(
    state: Member | None, cmd: c.CorrectMemberDetails, today: date
) -> list[DomainEvent]:
    member = require_changeable(state, cmd.member_id)
    name = required_name(cmd.full_name)
    effective = change_date(member, cmd.effective_on, today)
    if name == member.full_name and cmd.contact == member.contact:
        raise MemberDetailsAlreadyRecorded(f"{member.full_name}'s details are already so")
    return [
        c.MemberDetailsCorrected(
            member_id=cmd.member_id, full_name=name, contact=cmd.contact, effective_on=effective
        )
    ]


def decide_change_code(
    state: Member | None, cmd: c.ChangeMemberExternalCode, today: date, holder: str | None
) -> list[DomainEvent]:
    """``holder``: whom the new code's reservation names (see check_code_free)."""
    member = require_changeable(state, cmd.member_id)
    effective = change_date(member, cmd.effective_on, today)
    if cmd.external_code == member.external_code:
        raise MemberAlreadyHasThatCode(
            f"{member.full_name} already has code {cmd.external_code}"
            if cmd.external_code
            else f"{member.full_name} already has no code"
        )
    check_code_free(cmd.external_code, holder, cmd.member_id)
    return [
        c.MemberExternalCodeChanged(
            member_id=cmd.member_id,
            external_code=cmd.external_code,
            previous_external_code=member.external_code,
            effective_on=effective,
        )
    ]


def decide_change_role(
    state: Member | None,
    cmd: c.ChangeMemberRole,
    unit: Unit | None,
    today: date,
    reporters_at_city_level_only: bool,
) -> list[DomainEvent]:
    """``unit``: the member's current unit; a new reporter must already sit at city level."""
    member = require_changeable(state, cmd.member_id)
    effective = change_date(member, cmd.effective_on, today)
    if cmd.role is member.role:
        raise MemberAlreadyHasThatRole(f"{member.full_name} is already a {cmd.role.value}")
    if unit is not None:
        check_role_fits_unit(cmd.role, unit, reporters_at_city_level_only)
    elif cmd.role is c.Role.REPORTER and reporters_at_city_level_only:
        raise ReporterMustBelongToCityLevel(
            f"reporters belong to the city level; unit {member.unit_id} is unknown",
            unit_id=member.unit_id,
        )
    return [
        c.MemberRoleChanged(
            member_id=cmd.member_id,
            role=cmd.role,
            previous_role=member.role,
            effective_on=effective,
        )
    ]


def decide_transfer(
    state: Member | None,
    cmd: c.TransferMember,
    target: Unit | None,
    today: date,
    reporters_at_city_level_only: bool,
) -> list[DomainEvent]:
    member = require_changeable(state, cmd.member_id)
    effective = change_date(member, cmd.effective_on, today)
    if cmd.to_unit_id == member.unit_id:
        raise MemberAlreadyInThatUnit(f"{member.full_name} is already in unit {cmd.to_unit_id}")
    unit = require_active(target, cmd.to_unit_id)
    check_role_fits_unit(member.role, unit, reporters_at_city_level_only)
    return [
        c.MemberTransferred(
            member_id=cmd.member_id,
            from_unit_id=member.unit_id,
            to_unit_id=cmd.to_unit_id,
            effective_on=effective,
        )
    ]


def decide_set_core(state: Member | None, cmd: c.SetMemberCore, today: date) -> list[DomainEvent]:
    member = require_changeable(state, cmd.member_id)
    effective = change_date(member, cmd.effective_on, today)
    if cmd.core == member.core:
        raise CoreFlagAlreadySo(
            f"{member.full_name} is already {'' if cmd.core else 'not '}a core communicator"
        )
    if cmd.core:
        return [c.MemberCoreFlagSet(member_id=cmd.member_id, effective_on=effective)]
    return [c.MemberCoreFlagCleared(member_id=cmd.member_id, effective_on=effective)]


def decide_retire(state: Member | None, cmd: c.RetireMember, today: date) -> list[DomainEvent]:
    member = require_changeable(state, cmd.member_id)
    effective = change_date(member, cmd.effective_on, today)
    return [c.MemberRetired(member_id=cmd.member_id, reason=cmd.reason, effective_on=effective)]
