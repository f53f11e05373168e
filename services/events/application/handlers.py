"""One handler per events command. Handlers hold no rules; the domain does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date

from contracts import events as c
from contracts.calendar import derived_id, local_midnight
from contracts.envelope import DomainEvent
from contracts.replies import CommandAccepted
from runtime.aggregates import Loaded
from runtime.commands import CommandContext, UnitOfWork
from runtime.keylocks import KeyedLocks
from services.events.adapters.roster_lookup import RosterLookup
from services.events.domain import conferences as conf
from services.events.domain.conferences import CONFERENCE, Conference


async def _record(
    uow: UnitOfWork,
    loaded: Loaded[Conference],
    decide: Callable[[], list[DomainEvent]],
    day: date | None = None,
) -> CommandAccepted:
    return await uow.decide(loaded, decide, local_midnight(day) if day else None)


@dataclass(frozen=True)
class EventsHandlers:
    roster: RosterLookup
    _locks: KeyedLocks = field(default_factory=KeyedLocks)

    @asynccontextmanager
    async def _one_at_a_time(self, conference_id: str) -> AsyncIterator[None]:
        """Commands on one conference wait for each other in this process, rather than all
        but one failing the expected-sequence check (which still guards other instances)."""
        async with self._locks.lock(conference_id):
            yield

    async def schedule_conference(
        self, cmd: c.ScheduleConference, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        conference_id = cmd.conference_id or derived_id(cmd.command_id, "conference")
        loaded = await uow.load(CONFERENCE, conference_id)
        missing = (
            await self.roster.missing_units_seen_through_roster(cmd.invited_unit_ids)
            if loaded.state is None
            else []
        )
        return await _record(
            uow, loaded, lambda: conf.decide_schedule(loaded.state, cmd, conference_id, missing)
        )

    async def reschedule_conference(
        self, cmd: c.RescheduleConference, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        async with self._one_at_a_time(cmd.conference_id):
            loaded = await uow.load(CONFERENCE, cmd.conference_id)
            return await _record(uow, loaded, lambda: conf.decide_reschedule(loaded.state, cmd))

    async def hold_conference(
        self, cmd: c.HoldConference, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        async with self._one_at_a_time(cmd.conference_id):
            loaded = await uow.load(CONFERENCE, cmd.conference_id)
            return await _record(
                uow, loaded, lambda: conf.decide_hold(loaded.state, cmd, ctx.today), cmd.held_on
            )

    async def cancel_conference(
        self, cmd: c.CancelConference, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        async with self._one_at_a_time(cmd.conference_id):
            loaded = await uow.load(CONFERENCE, cmd.conference_id)
            return await _record(
                uow, loaded, lambda: conf.decide_cancel(loaded.state, cmd, ctx.today)
            )

    async def record_attendance(
        self, cmd: c.RecordAttendance, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        async with self._one_at_a_time(cmd.conference_id):
            loaded = await uow.load(CONFERENCE, cmd.conference_id)
            held_on = conf.attendance_date(loaded.state, cmd.conference_id)
            member = await self.roster.standing_seen_through_roster(cmd.member_id, held_on)
            return await _record(
                uow,
                loaded,
                lambda: conf.decide_record_attendance(loaded.state, cmd, member),
                held_on,
            )

    async def correct_attendance(
        self, cmd: c.CorrectAttendance, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        async with self._one_at_a_time(cmd.conference_id):
            loaded = await uow.load(CONFERENCE, cmd.conference_id)
            held_on = conf.attendance_date(loaded.state, cmd.conference_id)
            member = (
                await self.roster.standing_seen_through_roster(cmd.member_id, held_on)
                if cmd.attended
                else None
            )
            return await _record(
                uow, loaded, lambda: conf.decide_correct_attendance(loaded.state, cmd, member)
            )

    async def record_guest_attendance(
        self, cmd: c.RecordGuestAttendance, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        async with self._one_at_a_time(cmd.conference_id):
            loaded = await uow.load(CONFERENCE, cmd.conference_id)
            held_on = conf.attendance_date(loaded.state, cmd.conference_id)
            return await _record(
                uow, loaded, lambda: conf.decide_record_guests(loaded.state, cmd), held_on
            )
