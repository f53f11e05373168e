"""Members: reporters (city-level speakers) and propagandists (grassroots communicators)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from contracts import roster as c
from contracts.envelope import DomainEvent
from briefings.runtime.domain import AggregateKind, AlreadyExists, DomainError, NotFound
from services.roster.domain.units import Unit, not_in_future, require_active


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


def evolve(state: Member | None, event: DomainEvent) -> Member:
    match event:
        case c.MemberEnrolled():
            return Member(member_id=event.member_id, full_name=event.full_name, role=event.role,
                          unit_id=event.unit_id, external_code=event.external_code,
                          contact=event.contact, core=event.core, enrolled_on=event.effective_on)
    if state is None:
        raise ValueError(f"{type(event).__name__} before MemberEnrolled")
    match event:
        case c.MemberReenrolled():
            return state.model_copy(update={"role": event.role, "unit_id": event.unit_id,
                                            "retired_on": None, "retire_reason": ""})
        case c.MemberDetailsCorrected():
            return state.model_copy(update={"full_name": event.full_name, "contact": event.contact})
        case c.MemberRoleChanged():
            return state.model_copy(update={"role": event.role})
        case c.MemberTransferred():
            return state.model_copy(update={"unit_id": event.to_unit_id})
        case c.MemberCoreFlagSet():
            return state.model_copy(update={"core": True})
        case c.MemberCoreFlagCleared():
            return state.model_copy(update={"core": False})
        case c.MemberRetired():
            return state.model_copy(update={"retired_on": event.effective_on,
                                            "retire_reason": event.reason})
    raise ValueError(f"{type(event).__name__} does not apply to a member")


MEMBER = AggregateKind(context=c.CONTEXT, type=c.MEMBER, state_type=Member, evolve=evolve)


def check_role_fits_unit(role: c.Role, unit: Unit, reporters_at_city_level_only: bool) -> None:
    if role is c.Role.REPORTER and reporters_at_city_level_only and unit.kind is not c.UnitKind.CITY:
        raise ReporterMustBelongToCityLevel(
            f"reporters belong to the city level, not to {unit.name!r}", unit_id=unit.unit_id)


def require_changeable(state: Member | None, member_id: str) -> Member:
    if state is None:
        raise MemberMustExist(f"member {member_id} does not exist", member_id=member_id)
    if not state.active:
        raise RetiredMemberCannotBeChanged(
            f"{state.full_name} retired on {state.retired_on}; re-enrol them first",
            member_id=member_id)
    return state


def decide_enroll(state: Member | None, cmd: c.EnrollMember, member_id: str, unit: Unit | None,
                  today: date, reporters_at_city_level_only: bool) -> list[DomainEvent]:
    if state is not None:
        raise MemberIsAlreadyEnrolled(f"member {member_id} is already enrolled", member_id=member_id)
    target = require_active(unit, cmd.unit_id)
    check_role_fits_unit(cmd.role, target, reporters_at_city_level_only)
    return [c.MemberEnrolled(
        member_id=member_id, full_name=cmd.full_name, role=cmd.role, unit_id=cmd.unit_id,
        external_code=cmd.external_code, contact=cmd.contact, core=cmd.core,
        effective_on=not_in_future(cmd.effective_on or today, today),
    )]
