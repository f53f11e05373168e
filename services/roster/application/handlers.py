"""One handler per roster command. Handlers hold no rules; the domain does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from contracts import roster as c
from contracts.calendar import CENTER_TZ, derived_id, local_midnight
from contracts.replies import Command, CommandAccepted
from contracts.signing import person_id_for
from runtime.commands import CommandContext, UnitOfWork
from runtime.domain import NothingToChange
from services.roster.adapters.codes import DEFAULT_GRACE, CodeReservations
from services.roster.adapters.views import RosterViews
from services.roster.domain import members, people, units
from services.roster.domain.dissolution import plan_dissolution
from services.roster.domain.units import not_in_future


@dataclass(frozen=True)
class RosterConfig:
    reporters_at_city_level_only: bool = True
    code_reservation_grace: timedelta = DEFAULT_GRACE


async def _no_catch_up() -> None:
    return None


def today_for(cmd: Command, ctx: CommandContext) -> date:
    """Today at the Center; a client-given ``occurred_at`` must not lie in the future either."""
    if cmd.occurred_at is not None:
        not_in_future(cmd.occurred_at.astimezone(CENTER_TZ).date(), ctx.today)
    return ctx.today


@dataclass
class RosterHandlers:
    views: RosterViews
    config: RosterConfig
    codes: CodeReservations = field(default_factory=CodeReservations)
    catch_up: Callable[[], Awaitable[None]] = _no_catch_up
    """Waits until the local views hold everything the stream holds (set at start)."""

    @property
    def _rule(self) -> bool:
        return self.config.reporters_at_city_level_only

    # ------------------------------------------------------------------ units

    async def register_unit(
        self, cmd: c.RegisterUnit, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        unit_id = cmd.unit_id or derived_id(cmd.command_id, "unit")
        unit = await uow.load(units.UNIT, unit_id)
        parent = await uow.load(units.UNIT, cmd.parent_id) if cmd.parent_id else None
        events = units.decide_register(
            unit.state,
            cmd,
            unit_id,
            parent.state if parent else None,
            today_for(cmd, ctx),
            await self._all_units(),
        )
        return await uow.record(unit, events, local_midnight(ctx.effective(cmd.effective_on)))

    async def rename_unit(
        self, cmd: c.RenameUnit, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        unit = await uow.load(units.UNIT, cmd.unit_id)
        others = await self._all_units()
        return await uow.decide(
            unit,
            lambda: units.decide_rename(unit.state, cmd, today_for(cmd, ctx), others),
            local_midnight(ctx.effective(cmd.effective_on)),
        )

    async def dissolve_unit(
        self, cmd: c.DissolveUnit, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        """Transfer the active members (each a sub-command whose id derives from this one, so a
        retry after a crash replays what was done), then dissolve."""
        today = today_for(cmd, ctx)
        unit = await uow.load(units.UNIT, cmd.unit_id)
        await self.catch_up()  # the member view must include writes from other instances
        active = await self._active_members(uow, cmd.unit_id)
        target = None
        if cmd.transfer_to_unit_id and cmd.transfer_to_unit_id != cmd.unit_id:
            target = (await uow.load(units.UNIT, cmd.transfer_to_unit_id)).state
        moving = plan_dissolution(unit.state, cmd, active, target, today, self._rule)
        for member in moving:
            assert cmd.transfer_to_unit_id is not None
            sub = c.TransferMember(
                command_id=derived_id(cmd.command_id, f"dissolve-transfer:{member.member_id}"),
                actor=cmd.actor,
                correlation_id=ctx.correlation_id,
                member_id=member.member_id,
                to_unit_id=cmd.transfer_to_unit_id,
                effective_on=cmd.effective_on or today,
            )
            await uow.bus.handle(sub, self.transfer_member)
        # Whoever is still active (e.g. enrolled meanwhile) stops the dissolution, named.
        remaining = {m.member_id: m.full_name for m in await self._active_members(uow, cmd.unit_id)}
        events = units.decide_dissolve(unit.state, cmd, remaining, today)
        message = (
            f"{len(moving)} member(s) transferred to {cmd.transfer_to_unit_id}" if moving else ""
        )
        return await uow.record(
            unit, events, local_midnight(ctx.effective(cmd.effective_on)), message=message
        )

    async def _all_units(self) -> list[units.Unit]:
        """Every unit, for the uniqueness of names and codes: the view after it caught up
        with the stream (writes of other instances included)."""
        await self.catch_up()
        return [units.Unit.model_validate(row) for row in self.views.units(include_dissolved=True)]

    async def _active_members(self, uow: UnitOfWork, unit_id: str) -> list[members.Member]:
        found = []
        for member_id in self.views.active_member_ids(unit_id):
            state = (await uow.load(members.MEMBER, member_id)).state  # fresh from the stream
            if state is not None and state.active and state.unit_id == unit_id:
                found.append(state)
        return found

    # ---------------------------------------------------------------- members

    async def _reserve(
        self, code: str, member_id: str, ctx: CommandContext, uow: UnitOfWork
    ) -> str:
        async def holds(other: str) -> bool:
            state = (await uow.load(members.MEMBER, other)).state
            return (
                state is not None
                and state.external_code is not None
                and members.code_key(state.external_code) == members.code_key(code)
            )

        return await self.codes.reserve(code, member_id, ctx.now, holds)

    async def enroll_member(
        self, cmd: c.EnrollMember, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        member_id = cmd.member_id or derived_id(cmd.command_id, "member")
        member = await uow.load(members.MEMBER, member_id)
        unit = await uow.load(units.UNIT, cmd.unit_id)
        events = members.decide_enroll(
            member.state, cmd, member_id, unit.state, today_for(cmd, ctx), self._rule
        )
        if cmd.external_code is not None:
            # Reserved only once every other rule passed; a crash before the append leaves a
            # reservation that turns stale after the grace period.
            holder = await self._reserve(cmd.external_code, member_id, ctx, uow)
            members.check_code_free(cmd.external_code, holder, member_id)
        return await uow.record(member, events, local_midnight(ctx.effective(cmd.effective_on)))

    async def reenroll_member(
        self, cmd: c.ReenrollMember, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        member = await uow.load(members.MEMBER, cmd.member_id)
        unit = await uow.load(units.UNIT, cmd.unit_id)
        events = members.decide_reenroll(
            member.state, cmd, unit.state, today_for(cmd, ctx), self._rule
        )
        return await uow.record(member, events, local_midnight(ctx.effective(cmd.effective_on)))

    async def correct_member_details(
        self, cmd: c.CorrectMemberDetails, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        member = await uow.load(members.MEMBER, cmd.member_id)
        return await uow.decide(
            member,
            lambda: members.decide_correct(member.state, cmd, today_for(cmd, ctx)),
            local_midnight(ctx.effective(cmd.effective_on)),
        )

    async def change_member_code(
        self, cmd: c.ChangeMemberExternalCode, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        member = await uow.load(members.MEMBER, cmd.member_id)
        today = today_for(cmd, ctx)
        # Decide once without the reservation so a refused command reserves nothing.
        try:
            members.decide_change_code(member.state, cmd, today, holder=None)
        except NothingToChange as same:
            return await uow.record(member, [], message=same.message)
        holder = None
        if cmd.external_code is not None:
            holder = await self._reserve(cmd.external_code, cmd.member_id, ctx, uow)
        events = members.decide_change_code(member.state, cmd, today, holder)
        reply = await uow.record(member, events, local_midnight(ctx.effective(cmd.effective_on)))
        previous = member.state.external_code if member.state else None
        if previous is not None and members.code_key(previous) != members.code_key(
            cmd.external_code or ""
        ):
            await self.codes.release(previous, cmd.member_id)
        return reply

    async def change_member_role(
        self, cmd: c.ChangeMemberRole, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        member = await uow.load(members.MEMBER, cmd.member_id)
        unit = None
        if member.state is not None:
            unit = (await uow.load(units.UNIT, member.state.unit_id)).state
        return await uow.decide(
            member,
            lambda: members.decide_change_role(
                member.state, cmd, unit, today_for(cmd, ctx), self._rule
            ),
            local_midnight(ctx.effective(cmd.effective_on)),
        )

    async def transfer_member(
        self, cmd: c.TransferMember, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        member = await uow.load(members.MEMBER, cmd.member_id)
        target = await uow.load(units.UNIT, cmd.to_unit_id)
        return await uow.decide(
            member,
            lambda: members.decide_transfer(
                member.state, cmd, target.state, today_for(cmd, ctx), self._rule
            ),
            local_midnight(ctx.effective(cmd.effective_on)),
        )

    async def set_member_core(
        self, cmd: c.SetMemberCore, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        member = await uow.load(members.MEMBER, cmd.member_id)
        return await uow.decide(
            member,
            lambda: members.decide_set_core(member.state, cmd, today_for(cmd, ctx)),
            local_midnight(ctx.effective(cmd.effective_on)),
        )

    async def retire_member(
        self, cmd: c.RetireMember, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        member = await uow.load(members.MEMBER, cmd.member_id)
        events = members.decide_retire(member.state, cmd, today_for(cmd, ctx))
        return await uow.record(member, events, local_midnight(ctx.effective(cmd.effective_on)))

    # ----------------------------------------------------------------- people
    # Who may send these (an active operator, once people exist) is checked at the door
    # (runtime/people.py), with the signature.

    async def register_person(
        self, cmd: c.RegisterPerson, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        person_id = person_id_for(cmd.public_key)
        person = await uow.load(people.PERSON, person_id)
        return await uow.record(person, people.decide_register(person.state, cmd, person_id))

    async def revoke_person(
        self, cmd: c.RevokePerson, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        person = await uow.load(people.PERSON, cmd.person_id)
        return await uow.record(person, people.decide_revoke(person.state, cmd))
