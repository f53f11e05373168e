"""Dissolving a unit that still has members: who moves where, checked before anything is written."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from contracts import roster as c
from runtime.domain import DomainError
from services.roster.domain.members import Member, change_date, check_role_fits_unit
from services.roster.domain.units import (
    Unit,
    decide_dissolve,
    not_in_future,
    require_active,
)


class TransferTargetMustDifferFromDissolvedUnit(DomainError):
    pass


def plan_dissolution(
    state: Unit | None,
    cmd: c.DissolveUnit,
    active: Sequence[Member],
    target: Unit | None,
    today: date,
    reporters_at_city_level_only: bool,
) -> list[Member]:
    """The members to transfer before the unit is dissolved (empty: dissolve at once).

    Every member is checked against the target up front, so a refused dissolution moves nobody.
    """
    unit = require_active(state, cmd.unit_id)
    not_in_future(cmd.effective_on or today, today)
    if cmd.transfer_to_unit_id is None:
        # Refused (naming the members) unless nobody is left.
        decide_dissolve(unit, cmd, {m.member_id: m.full_name for m in active}, today)
        return []
    if cmd.transfer_to_unit_id == cmd.unit_id:
        raise TransferTargetMustDifferFromDissolvedUnit(
            "the transfer target must be another unit", unit_id=cmd.unit_id
        )
    destination = require_active(target, cmd.transfer_to_unit_id)
    for member in active:
        check_role_fits_unit(member.role, destination, reporters_at_city_level_only)
        change_date(member, cmd.effective_on, today)
    return list(active)
