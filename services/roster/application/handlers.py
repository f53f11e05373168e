"""One handler per roster command. Handlers hold no rules; the domain does."""

from __future__ import annotations

from dataclasses import dataclass

from contracts import roster as c
from contracts.replies import CommandAccepted
from briefings.runtime.commands import CommandContext, UnitOfWork, derived_id, local_midnight
from services.roster.adapters.views import RosterViews
from services.roster.domain import members, units


@dataclass(frozen=True)
class RosterConfig:
    reporters_at_city_level_only: bool = True


@dataclass(frozen=True)
class RosterHandlers:
    views: RosterViews
    config: RosterConfig

    async def register_unit(self, cmd: c.RegisterUnit, ctx: CommandContext,
                            uow: UnitOfWork) -> CommandAccepted:
        unit_id = cmd.unit_id or derived_id(cmd.command_id, "unit")
        unit = await uow.load(units.UNIT, unit_id)
        parent = await uow.load(units.UNIT, cmd.parent_id) if cmd.parent_id else None
        events = units.decide_register(unit.state, cmd, unit_id,
                                       parent.state if parent else None, ctx.today)
        return await uow.record(unit, events, local_midnight(ctx.effective(cmd.effective_on)))

    async def rename_unit(self, cmd: c.RenameUnit, ctx: CommandContext,
                          uow: UnitOfWork) -> CommandAccepted:
        unit = await uow.load(units.UNIT, cmd.unit_id)
        return await uow.record(unit, units.decide_rename(unit.state, cmd, ctx.today),
                                local_midnight(ctx.effective(cmd.effective_on)))

    async def enroll_member(self, cmd: c.EnrollMember, ctx: CommandContext,
                            uow: UnitOfWork) -> CommandAccepted:
        member_id = cmd.member_id or derived_id(cmd.command_id, "member")
        member = await uow.load(members.MEMBER, member_id)
        unit = await uow.load(units.UNIT, cmd.unit_id)
        events = members.decide_enroll(member.state, cmd, member_id, unit.state, ctx.today,
                                       self.config.reporters_at_city_level_only)
        return await uow.record(member, events, local_midnight(ctx.effective(cmd.effective_on)))
