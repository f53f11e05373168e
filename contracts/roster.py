"""Roster context: organisational units and their members (reporters, propagandists)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts.envelope import DomainEvent
from contracts.registry import registry
from contracts.replies import Command, PagedQuery, Query
from contracts.signing import PUBLIC_KEY_PATTERN
from contracts.types import (
    BusinessDate,
    ExternalCode,
    Identifier,
    Name,
    ShortText,
    StoredCode,
    StoredName,
    StoredText,
)

CONTEXT = "roster"
UNIT = "unit"
MEMBER = "member"
PERSON = "person"


class UnitKind(StrEnum):
    CITY = "city"
    PARTY_CELL = "party_cell"
    PARTY_ORGANISATION = "party_organisation"


class Role(StrEnum):
    REPORTER = "reporter"
    PROPAGANDIST = "propagandist"


class PersonRole(StrEnum):
    """What a person of the Center's staff does with the system (issue #13 finding 5)."""

    CLERK = "clerk"
    OPERATOR = "operator"
    AUDITOR = "auditor"


PublicKey = Annotated[str, StringConstraints(pattern=PUBLIC_KEY_PATTERN)]


# ---------------------------------------------------------------- events: people


@registry.register
class PersonRegistered(DomainEvent):
    """A person of the staff and their public key (``contracts/signing.py``)."""

    event_type = "PersonRegistered"
    aggregate_type = PERSON
    person_id: Identifier
    name: StoredName
    role: PersonRole
    public_key: str


@registry.register
class PersonRevoked(DomainEvent):
    """The person's key signs nothing any more (for good)."""

    event_type = "PersonRevoked"
    aggregate_type = PERSON
    person_id: Identifier
    reason: StoredText = ""


# ---------------------------------------------------------------- events: units


@registry.register
class UnitRegistered(DomainEvent):
    event_type = "UnitRegistered"
    aggregate_type = UNIT
    unit_id: Identifier
    kind: UnitKind
    name: StoredName
    parent_id: Identifier | None = None
    external_code: StoredCode | None = None
    effective_on: date


@registry.register
class UnitRenamed(DomainEvent):
    event_type = "UnitRenamed"
    aggregate_type = UNIT
    unit_id: Identifier
    name: StoredName
    previous_name: str
    effective_on: date


@registry.register
class UnitDissolved(DomainEvent):
    event_type = "UnitDissolved"
    aggregate_type = UNIT
    unit_id: Identifier
    reason: StoredText = ""
    effective_on: date


# -------------------------------------------------------------- events: members


@registry.register
class MemberEnrolled(DomainEvent):
    event_type = "MemberEnrolled"
    aggregate_type = MEMBER
    member_id: Identifier
    full_name: StoredName
    role: Role
    unit_id: Identifier
    external_code: StoredCode | None = None
    contact: StoredText | None = None
    core: bool = False
    effective_on: date


@registry.register
class MemberReenrolled(DomainEvent):
    """A retired member taken back onto the roster (the only change a retired member takes)."""

    event_type = "MemberReenrolled"
    aggregate_type = MEMBER
    member_id: Identifier
    role: Role
    unit_id: Identifier
    effective_on: date


@registry.register
class MemberDetailsCorrected(DomainEvent):
    event_type = "MemberDetailsCorrected"
    aggregate_type = MEMBER
    member_id: Identifier
    full_name: StoredName
    contact: StoredText | None = None
    effective_on: date


@registry.register
class MemberExternalCodeChanged(DomainEvent):
    """The member's external code (e.g. staff number) set, replaced or cleared (``None``)."""

    event_type = "MemberExternalCodeChanged"
    aggregate_type = MEMBER
    member_id: Identifier
    external_code: StoredCode | None = None
    previous_external_code: str | None = None
    effective_on: date


@registry.register
class MemberRoleChanged(DomainEvent):
    event_type = "MemberRoleChanged"
    aggregate_type = MEMBER
    member_id: Identifier
    role: Role
    previous_role: Role
    effective_on: date


@registry.register
class MemberTransferred(DomainEvent):
    event_type = "MemberTransferred"
    aggregate_type = MEMBER
    member_id: Identifier
    from_unit_id: Identifier
    to_unit_id: Identifier
    effective_on: date


@registry.register
class MemberCoreFlagSet(DomainEvent):
    event_type = "MemberCoreFlagSet"
    aggregate_type = MEMBER
    member_id: Identifier
    effective_on: date


@registry.register
class MemberCoreFlagCleared(DomainEvent):
    event_type = "MemberCoreFlagCleared"
    aggregate_type = MEMBER
    member_id: Identifier
    effective_on: date


@registry.register
class MemberRetired(DomainEvent):
    event_type = "MemberRetired"
    aggregate_type = MEMBER
    member_id: Identifier
    reason: StoredText = ""
    effective_on: date


# -------------------------------------------------------------------- commands
# ``effective_on`` is the date the change took effect in the world; today when absent.


class RegisterUnit(Command):
    unit_id: Identifier | None = Field(
        default=None, description="Derived from command_id if absent"
    )
    kind: UnitKind
    name: Name
    parent_id: Identifier | None = None
    external_code: ExternalCode | None = None
    effective_on: BusinessDate | None = None


class RenameUnit(Command):
    unit_id: Identifier
    name: Name
    effective_on: BusinessDate | None = None


class DissolveUnit(Command):
    unit_id: Identifier
    reason: ShortText = ""
    transfer_to_unit_id: Identifier | None = Field(
        default=None, description="Move the unit's active members here before dissolving"
    )
    effective_on: BusinessDate | None = None


class EnrollMember(Command):
    member_id: Identifier | None = Field(
        default=None, description="Derived from command_id if absent"
    )
    full_name: Name
    role: Role
    unit_id: Identifier
    external_code: ExternalCode | None = None
    contact: ShortText | None = None
    core: bool = False
    effective_on: BusinessDate | None = None


class ReenrollMember(Command):
    member_id: Identifier
    role: Role
    unit_id: Identifier
    effective_on: BusinessDate | None = None


class CorrectMemberDetails(Command):
    member_id: Identifier
    full_name: Name
    contact: ShortText | None = None
    effective_on: BusinessDate | None = None


class ChangeMemberExternalCode(Command):
    member_id: Identifier
    external_code: ExternalCode | None = Field(default=None, description="None clears the code")
    effective_on: BusinessDate | None = None


class ChangeMemberRole(Command):
    member_id: Identifier
    role: Role
    effective_on: BusinessDate | None = None


class TransferMember(Command):
    member_id: Identifier
    to_unit_id: Identifier
    effective_on: BusinessDate | None = None


class SetMemberCore(Command):
    member_id: Identifier
    core: bool
    effective_on: BusinessDate | None = None


class RetireMember(Command):
    member_id: Identifier
    reason: ShortText = ""
    effective_on: BusinessDate | None = None


class RegisterPerson(Command):
    """Register a person's public key; the person id is derived from it. Operators only."""

    name: Name
    role: PersonRole
    public_key: PublicKey


class RevokePerson(Command):
    person_id: Identifier
    reason: ShortText = ""


COMMANDS: dict[str, type[Command]] = {
    "register_unit": RegisterUnit,
    "rename_unit": RenameUnit,
    "dissolve_unit": DissolveUnit,
    "enroll_member": EnrollMember,
    "reenroll_member": ReenrollMember,
    "correct_member_details": CorrectMemberDetails,
    "change_member_code": ChangeMemberExternalCode,
    "change_member_role": ChangeMemberRole,
    "transfer_member": TransferMember,
    "set_member_core": SetMemberCore,
    "retire_member": RetireMember,
    "register_person": RegisterPerson,
    "revoke_person": RevokePerson,
}


# --------------------------------------------------------------------- queries


class GetUnit(Query):
    unit_id: Identifier


class GetMember(Query):
    member_id: Identifier


class ListMembers(PagedQuery):
    unit_id: Identifier | None = None
    include_retired: bool = False


class ListUnits(PagedQuery):
    include_dissolved: bool = False


class FindMembers(PagedQuery):
    """Members whose external code matches exactly or whose name matches ignoring case."""

    external_code: ExternalCode | None = None
    full_name: Name | None = None


CellName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Cell = Annotated[str, StringConstraints(max_length=131_072)]


class ImportRow(BaseModel):
    """One spreadsheet row as read: its line in the file and its cells by canonical column."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int = Field(ge=1)
    values: dict[CellName, Cell] = Field(max_length=64)


class PlanImport(Query):
    """Which commands would make the roster agree with these rows (nothing is written).

    Rows of one request are planned in order: a unit registered by an earlier row may be a
    later row's parent. Reply: ``{"rows": [PlannedRow, ...]}``, one per row, in order."""

    kind: Literal["members", "units"]
    rows: list[ImportRow] = Field(min_length=1, max_length=1000)


class PlannedCommand(BaseModel):
    """A command the import sends as is (with its actor): ``command_id`` is derived from the
    change, so re-sending it after a lost reply replays instead of writing twice."""

    model_config = ConfigDict(frozen=True)

    command: str
    payload: dict[str, Any]
    command_id: str
    creates: bool = False


class PlannedRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    line: int
    identity: str | None = Field(
        default=None, description="the unit or member the row is about (spots duplicate rows)"
    )
    commands: list[PlannedCommand] = Field(default_factory=list)
    error: str | None = Field(default=None, description="why the row cannot go in")


class ListPeople(Query):
    """Every registered person (revoked ones included), oldest first."""


QUERIES: dict[str, type[Query]] = {
    "get_unit": GetUnit,
    "get_member": GetMember,
    "list_members": ListMembers,
    "list_units": ListUnits,
    "find_members": FindMembers,
    "plan_import": PlanImport,
    "list_people": ListPeople,
}
