"""Pure roster rules: given events, when a command, then events or the named rule error."""

from __future__ import annotations

from datetime import date

import pytest

from contracts import roster as c
from contracts.envelope import DomainEvent
from runtime.domain import NothingToChange
from services.roster.domain import members, units
from services.roster.domain.dissolution import (
    TransferTargetMustDifferFromDissolvedUnit,
    plan_dissolution,
)

pytestmark = pytest.mark.fast

TODAY = date(2022, 12, 9)
LAST_MONTH = date(2022, 11, 3)
CITY = c.UnitRegistered(
    unit_id="city", kind=c.UnitKind.CITY, name="Cấp thành phố", effective_on=date(2022, 1, 1)
)
CELL = c.UnitRegistered(
    unit_id="cell",
    kind=c.UnitKind.PARTY_CELL,
    name="Chi bộ Khu phố 1",
    effective_on=date(2022, 1, 1),
)
HOA = c.MemberEnrolled(
    member_id="hoa",
    full_name="Nguyễn Thị Hoa",
    role=c.Role.PROPAGANDIST,
    unit_id="cell",
    external_code="TTV-001",
    effective_on=date(2022, 2, 1),
)
NAM = c.MemberEnrolled(
    member_id="nam",
    full_name="Lê Văn Nam",
    role=c.Role.REPORTER,
    unit_id="city",
    effective_on=date(2022, 2, 1),
)


def unit(*events: DomainEvent) -> units.Unit | None:
    return units.UNIT.fold(None, list(events))


def member(*events: DomainEvent) -> members.Member | None:
    return members.MEMBER.fold(None, list(events))


def cmd(model: type[c.Command], **fields: object) -> c.Command:
    return model(command_id="x", **fields)


def raw(model: type[c.Command], **fields: object) -> c.Command:
    """A command that skipped contract validation, to prove the domain rule on its own."""
    return model.model_construct(command_id="x", **fields)


# ------------------------------------------------------------------------ units


def test_register_unit_in_the_past() -> None:
    events = units.decide_register(
        None,
        cmd(c.RegisterUnit, kind="party_cell", name="Chi bộ 5", effective_on=LAST_MONTH),
        "u5",
        None,
        TODAY,
    )
    assert events == [
        c.UnitRegistered(
            unit_id="u5", kind=c.UnitKind.PARTY_CELL, name="Chi bộ 5", effective_on=LAST_MONTH
        )
    ]


def test_a_unit_name_is_required_and_trimmed() -> None:
    with pytest.raises(units.NameIsRequired):
        units.decide_register(
            None,
            raw(
                c.RegisterUnit,
                kind=c.UnitKind.CITY,
                name="   ",
                parent_id=None,
                external_code=None,
                effective_on=None,
            ),
            "u",
            None,
            TODAY,
        )
    events = units.decide_register(
        None,
        raw(
            c.RegisterUnit,
            kind=c.UnitKind.CITY,
            name="  Thành  phố ",
            parent_id=None,
            external_code=None,
            effective_on=None,
        ),
        "u",
        None,
        TODAY,
    )
    assert events[0].name == "Thành phố"


def test_register_refuses_a_future_date() -> None:
    with pytest.raises(units.DateMustNotBeInTheFuture):
        units.decide_register(
            None,
            cmd(c.RegisterUnit, kind="city", name="A", effective_on=date(2022, 12, 10)),
            "u",
            None,
            TODAY,
        )


def test_register_twice_is_refused() -> None:
    with pytest.raises(units.UnitIsAlreadyRegistered):
        units.decide_register(
            unit(CITY), cmd(c.RegisterUnit, kind="city", name="A"), "city", None, TODAY
        )


def test_parent_must_exist_and_be_active() -> None:
    with pytest.raises(units.UnitMustExist):
        units.decide_register(
            None,
            cmd(c.RegisterUnit, kind="party_cell", name="A", parent_id="nope"),
            "u",
            None,
            TODAY,
        )
    dissolved = unit(CITY, c.UnitDissolved(unit_id="city", effective_on=LAST_MONTH))
    with pytest.raises(units.UnitMustBeActive):
        units.decide_register(
            None,
            cmd(c.RegisterUnit, kind="party_cell", name="A", parent_id="city"),
            "u",
            dissolved,
            TODAY,
        )


def test_rename_same_name_changes_nothing_and_other_name_is_recorded() -> None:
    with pytest.raises(NothingToChange):
        units.decide_rename(
            unit(CELL), cmd(c.RenameUnit, unit_id="cell", name=" Chi bộ Khu phố 1 "), TODAY
        )
    events = units.decide_rename(
        unit(CELL), cmd(c.RenameUnit, unit_id="cell", name="Chi bộ KP1"), TODAY
    )
    assert events == [
        c.UnitRenamed(
            unit_id="cell", name="Chi bộ KP1", previous_name="Chi bộ Khu phố 1", effective_on=TODAY
        )
    ]


def test_dissolve_with_active_members_is_refused_naming_them() -> None:
    with pytest.raises(units.UnitWithActiveMembersCannotBeDissolved) as caught:
        units.decide_dissolve(
            unit(CELL), cmd(c.DissolveUnit, unit_id="cell"), {"hoa": "Nguyễn Thị Hoa"}, TODAY
        )
    assert "Nguyễn Thị Hoa" in caught.value.message
    assert caught.value.context["active_member_ids"] == ["hoa"]


def test_dissolve_an_empty_unit() -> None:
    events = units.decide_dissolve(
        unit(CELL),
        cmd(c.DissolveUnit, unit_id="cell", reason="merged", effective_on=LAST_MONTH),
        {},
        TODAY,
    )
    assert events == [c.UnitDissolved(unit_id="cell", reason="merged", effective_on=LAST_MONTH)]


def test_a_dissolved_unit_cannot_be_dissolved_or_renamed_again() -> None:
    gone = unit(CELL, c.UnitDissolved(unit_id="cell", effective_on=LAST_MONTH))
    with pytest.raises(units.UnitMustBeActive):
        units.decide_dissolve(gone, cmd(c.DissolveUnit, unit_id="cell"), {}, TODAY)
    with pytest.raises(units.UnitMustBeActive):
        units.decide_rename(gone, cmd(c.RenameUnit, unit_id="cell", name="B"), TODAY)


def test_plan_dissolution_with_transfer_target_moves_every_active_member() -> None:
    other = unit(
        c.UnitRegistered(
            unit_id="cell2",
            kind=c.UnitKind.PARTY_CELL,
            name="Chi bộ 2",
            effective_on=date(2022, 1, 1),
        )
    )
    moving = plan_dissolution(
        unit(CELL),
        cmd(c.DissolveUnit, unit_id="cell", transfer_to_unit_id="cell2"),
        [member(HOA)],
        other,
        TODAY,
        True,
    )
    assert [m.member_id for m in moving] == ["hoa"]


def test_plan_dissolution_refuses_before_moving_anyone() -> None:
    with pytest.raises(units.UnitWithActiveMembersCannotBeDissolved):
        plan_dissolution(
            unit(CELL), cmd(c.DissolveUnit, unit_id="cell"), [member(HOA)], None, TODAY, True
        )
    with pytest.raises(TransferTargetMustDifferFromDissolvedUnit):
        plan_dissolution(
            unit(CELL),
            cmd(c.DissolveUnit, unit_id="cell", transfer_to_unit_id="cell"),
            [member(HOA)],
            unit(CELL),
            TODAY,
            True,
        )
    gone = unit(CITY, c.UnitDissolved(unit_id="city", effective_on=LAST_MONTH))
    with pytest.raises(units.UnitMustBeActive):
        plan_dissolution(
            unit(CELL),
            cmd(c.DissolveUnit, unit_id="cell", transfer_to_unit_id="city"),
            [member(HOA)],
            gone,
            TODAY,
            True,
        )
    # A reporter cannot be moved to a Party cell while reporters belong to the city level.
    reporter_in_cell = member(
        HOA,
        c.MemberTransferred(
            member_id="hoa", from_unit_id="cell", to_unit_id="city", effective_on=TODAY
        ),
        c.MemberRoleChanged(
            member_id="hoa",
            role=c.Role.REPORTER,
            previous_role=c.Role.PROPAGANDIST,
            effective_on=TODAY,
        ),
    )
    other = unit(
        c.UnitRegistered(
            unit_id="cell2",
            kind=c.UnitKind.PARTY_CELL,
            name="Chi bộ 2",
            effective_on=date(2022, 1, 1),
        )
    )
    with pytest.raises(members.ReporterMustBelongToCityLevel):
        plan_dissolution(
            unit(CITY),
            cmd(c.DissolveUnit, unit_id="city", transfer_to_unit_id="cell2"),
            [reporter_in_cell],
            other,
            TODAY,
            True,
        )


# ---------------------------------------------------------------------- members


def enroll(**fields: object) -> c.EnrollMember:
    base: dict[str, object] = {
        "full_name": "Trần Văn Bình",
        "role": "propagandist",
        "unit_id": "cell",
    }
    base.update(fields)
    return c.EnrollMember(command_id="x", **base)


def test_enroll_last_months_member() -> None:
    events = members.decide_enroll(
        None, enroll(effective_on=LAST_MONTH, core=True), "b", unit(CELL), TODAY, True
    )
    assert events == [
        c.MemberEnrolled(
            member_id="b",
            full_name="Trần Văn Bình",
            role=c.Role.PROPAGANDIST,
            unit_id="cell",
            core=True,
            effective_on=LAST_MONTH,
        )
    ]


def test_a_unit_must_exist_and_be_active_to_receive_a_member() -> None:
    with pytest.raises(units.UnitMustExist):
        members.decide_enroll(None, enroll(), "b", None, TODAY, True)
    gone = unit(CELL, c.UnitDissolved(unit_id="cell", effective_on=LAST_MONTH))
    with pytest.raises(units.UnitMustBeActive):
        members.decide_enroll(None, enroll(), "b", gone, TODAY, True)
    with pytest.raises(units.UnitMustBeActive):
        members.decide_transfer(
            member(
                NAM,
                c.MemberRoleChanged(
                    member_id="nam",
                    role=c.Role.PROPAGANDIST,
                    previous_role=c.Role.REPORTER,
                    effective_on=TODAY,
                ),
            ),
            cmd(c.TransferMember, member_id="nam", to_unit_id="cell"),
            gone,
            TODAY,
            True,
        )
    with pytest.raises(units.UnitMustBeActive):
        members.decide_reenroll(
            member(HOA, c.MemberRetired(member_id="hoa", effective_on=TODAY)),
            cmd(c.ReenrollMember, member_id="hoa", role="propagandist", unit_id="cell"),
            gone,
            TODAY,
            True,
        )


def test_a_member_name_is_required_and_trimmed() -> None:
    blank = raw(
        c.EnrollMember,
        full_name=" \t ",
        role=c.Role.PROPAGANDIST,
        unit_id="cell",
        external_code=None,
        contact=None,
        core=False,
        effective_on=None,
    )
    with pytest.raises(units.NameIsRequired):
        members.decide_enroll(None, blank, "b", unit(CELL), TODAY, True)
    with pytest.raises(units.NameIsRequired):
        members.decide_correct(
            member(HOA),
            raw(
                c.CorrectMemberDetails,
                member_id="hoa",
                full_name="  ",
                contact=None,
                effective_on=None,
            ),
            TODAY,
        )
    padded = raw(
        c.EnrollMember,
        full_name="  Trần  Văn Bình ",
        role=c.Role.PROPAGANDIST,
        unit_id="cell",
        external_code=None,
        contact=None,
        core=False,
        effective_on=None,
    )
    assert (
        members.decide_enroll(None, padded, "b", unit(CELL), TODAY, True)[0].full_name
        == "Trần Văn Bình"
    )


def test_reporters_belong_to_the_city_level_unless_configured_otherwise() -> None:
    with pytest.raises(members.ReporterMustBelongToCityLevel):
        members.decide_enroll(None, enroll(role="reporter"), "b", unit(CELL), TODAY, True)
    assert members.decide_enroll(None, enroll(role="reporter"), "b", unit(CELL), TODAY, False)
    assert members.decide_enroll(
        None, enroll(role="reporter", unit_id="city"), "b", unit(CITY), TODAY, True
    )


def test_a_role_change_to_reporter_must_end_at_city_level() -> None:
    to_reporter = cmd(c.ChangeMemberRole, member_id="hoa", role="reporter")
    with pytest.raises(members.ReporterMustBelongToCityLevel):
        members.decide_change_role(member(HOA), to_reporter, unit(CELL), TODAY, True)
    assert members.decide_change_role(member(HOA), to_reporter, unit(CELL), TODAY, False) == [
        c.MemberRoleChanged(
            member_id="hoa",
            role=c.Role.REPORTER,
            previous_role=c.Role.PROPAGANDIST,
            effective_on=TODAY,
        )
    ]
    at_city = member(
        HOA,
        c.MemberTransferred(
            member_id="hoa", from_unit_id="cell", to_unit_id="city", effective_on=TODAY
        ),
    )
    assert members.decide_change_role(at_city, to_reporter, unit(CITY), TODAY, True)


def test_a_reporter_cannot_be_transferred_out_of_the_city_level() -> None:
    with pytest.raises(members.ReporterMustBelongToCityLevel):
        members.decide_transfer(
            member(NAM),
            cmd(c.TransferMember, member_id="nam", to_unit_id="cell"),
            unit(CELL),
            TODAY,
            True,
        )


def test_transfer_records_from_and_to() -> None:
    events = members.decide_transfer(
        member(HOA),
        cmd(c.TransferMember, member_id="hoa", to_unit_id="city", effective_on=LAST_MONTH),
        unit(CITY),
        TODAY,
        True,
    )
    assert events == [
        c.MemberTransferred(
            member_id="hoa", from_unit_id="cell", to_unit_id="city", effective_on=LAST_MONTH
        )
    ]
    with pytest.raises(NothingToChange):
        members.decide_transfer(
            member(HOA),
            cmd(c.TransferMember, member_id="hoa", to_unit_id="cell"),
            unit(CELL),
            TODAY,
            True,
        )


def test_core_flag_set_and_cleared_only_when_it_changes() -> None:
    with pytest.raises(NothingToChange):
        members.decide_set_core(
            member(HOA), cmd(c.SetMemberCore, member_id="hoa", core=False), TODAY
        )
    assert members.decide_set_core(
        member(HOA), cmd(c.SetMemberCore, member_id="hoa", core=True), TODAY
    ) == [c.MemberCoreFlagSet(member_id="hoa", effective_on=TODAY)]
    core = member(HOA, c.MemberCoreFlagSet(member_id="hoa", effective_on=TODAY))
    assert members.decide_set_core(
        core, cmd(c.SetMemberCore, member_id="hoa", core=False), TODAY
    ) == [c.MemberCoreFlagCleared(member_id="hoa", effective_on=TODAY)]


def test_retire_with_date_and_reason() -> None:
    events = members.decide_retire(
        member(HOA),
        cmd(c.RetireMember, member_id="hoa", reason="nghỉ hưu", effective_on=LAST_MONTH),
        TODAY,
    )
    assert events == [c.MemberRetired(member_id="hoa", reason="nghỉ hưu", effective_on=LAST_MONTH)]
    assert member(HOA, *events).active is False  # type: ignore[union-attr]


RETIRED = (HOA, c.MemberRetired(member_id="hoa", reason="moved", effective_on=LAST_MONTH))


@pytest.mark.parametrize(
    "decide",
    [
        lambda m: members.decide_correct(
            m, cmd(c.CorrectMemberDetails, member_id="hoa", full_name="Hoa"), TODAY
        ),
        lambda m: members.decide_change_code(
            m, cmd(c.ChangeMemberExternalCode, member_id="hoa", external_code="X"), TODAY, None
        ),
        lambda m: members.decide_change_role(
            m, cmd(c.ChangeMemberRole, member_id="hoa", role="reporter"), unit(CITY), TODAY, True
        ),
        lambda m: members.decide_transfer(
            m, cmd(c.TransferMember, member_id="hoa", to_unit_id="city"), unit(CITY), TODAY, True
        ),
        lambda m: members.decide_set_core(
            m, cmd(c.SetMemberCore, member_id="hoa", core=True), TODAY
        ),
        lambda m: members.decide_retire(m, cmd(c.RetireMember, member_id="hoa"), TODAY),
    ],
    ids=["correct", "code", "role", "transfer", "core", "retire"],
)
def test_a_retired_member_cannot_be_changed(decide) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(members.RetiredMemberCannotBeChanged):
        decide(member(*RETIRED))


def test_only_an_explicit_reenrolment_brings_a_retired_member_back() -> None:
    again = cmd(c.ReenrollMember, member_id="hoa", role="propagandist", unit_id="cell")
    events = members.decide_reenroll(member(*RETIRED), again, unit(CELL), TODAY, True)
    assert events == [
        c.MemberReenrolled(
            member_id="hoa", role=c.Role.PROPAGANDIST, unit_id="cell", effective_on=TODAY
        )
    ]
    assert member(*RETIRED, *events).active  # type: ignore[union-attr]
    with pytest.raises(members.MemberMustBeRetiredToReenrol):
        members.decide_reenroll(member(HOA), again, unit(CELL), TODAY, True)
    with pytest.raises(members.ReenrolmentMustNotPrecedeRetirement):
        members.decide_reenroll(
            member(*RETIRED),
            cmd(
                c.ReenrollMember,
                member_id="hoa",
                role="propagandist",
                unit_id="cell",
                effective_on=date(2022, 10, 1),
            ),
            unit(CELL),
            TODAY,
            True,
        )


def test_member_changes_refuse_future_dates_and_dates_before_enrolment() -> None:
    with pytest.raises(units.DateMustNotBeInTheFuture):
        members.decide_enroll(
            None, enroll(effective_on=date(2023, 1, 1)), "b", unit(CELL), TODAY, True
        )
    with pytest.raises(units.DateMustNotBeInTheFuture):
        members.decide_retire(
            member(HOA),
            cmd(c.RetireMember, member_id="hoa", effective_on=date(2022, 12, 10)),
            TODAY,
        )
    with pytest.raises(members.ChangeMustNotPrecedeEnrolment):
        members.decide_retire(
            member(HOA), cmd(c.RetireMember, member_id="hoa", effective_on=date(2022, 1, 1)), TODAY
        )


def test_an_external_code_held_by_another_member_is_refused() -> None:
    members.check_code_free("TTV-001", "hoa", "hoa")
    members.check_code_free("TTV-001", None, "b")
    with pytest.raises(members.ExternalCodeMustBeUnique):
        members.check_code_free("TTV-001", "hoa", "b")
    with pytest.raises(members.ExternalCodeMustBeUnique):
        members.decide_change_code(
            member(NAM),
            cmd(c.ChangeMemberExternalCode, member_id="nam", external_code="ttv-001"),
            TODAY,
            "hoa",
        )


def test_change_code_set_replace_clear() -> None:
    events = members.decide_change_code(
        member(HOA), cmd(c.ChangeMemberExternalCode, member_id="hoa"), TODAY, None
    )
    assert events == [
        c.MemberExternalCodeChanged(
            member_id="hoa",
            external_code=None,
            previous_external_code="TTV-001",
            effective_on=TODAY,
        )
    ]
    with pytest.raises(NothingToChange):
        members.decide_change_code(
            member(HOA),
            cmd(c.ChangeMemberExternalCode, member_id="hoa", external_code="TTV-001"),
            TODAY,
            "hoa",
        )


def test_correct_details_only_when_they_differ() -> None:
    same = cmd(c.CorrectMemberDetails, member_id="hoa", full_name="Nguyễn Thị Hoa")
    with pytest.raises(members.MemberDetailsAlreadyRecorded, match="already so"):
        members.decide_correct(member(HOA), same, TODAY)
    events = members.decide_correct(
        member(HOA),
        cmd(
            c.CorrectMemberDetails,
            member_id="hoa",
            full_name="Nguyễn Thị Hòa",
            contact="0901 234 567",
        ),
        TODAY,
    )
    assert events == [
        c.MemberDetailsCorrected(
            member_id="hoa", full_name="Nguyễn Thị Hòa", contact="0901 234 567", effective_on=TODAY
        )
    ]


def test_unknown_member_is_not_found() -> None:
    with pytest.raises(members.MemberMustExist):
        members.decide_retire(None, cmd(c.RetireMember, member_id="ghost"), TODAY)
    with pytest.raises(members.MemberIsAlreadyEnrolled):
        members.decide_enroll(member(HOA), enroll(), "hoa", unit(CELL), TODAY, True)


def test_code_key_compares_trimmed_case_folded_nfc() -> None:
    assert members.code_key(" ttv-001 ") == members.code_key("TTV-001")
    assert members.code_key("Đ\u0301") == members.code_key("Đ\u0301".upper())
