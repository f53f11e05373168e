"""One handler per awards command. Handlers gather facts; the domain decides."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from contracts import awards as c
from contracts.calendar import local_midnight
from contracts.replies import CommandAccepted
from runtime.aggregates import Loaded
from runtime.commands import CommandContext, UnitOfWork
from services.awards.adapters.views import AwardViews
from services.awards.domain import awards
from services.awards.domain.recipients import RecipientHistory

CatchUp = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class AwardsConfig:
    award_kinds: tuple[str, ...]


@dataclass(frozen=True)
class AwardHandlers:
    views: AwardViews
    config: AwardsConfig
    roster_caught_up: CatchUp
    """Wait until the roster follower has applied the ROSTER stream's current last sequence."""
    awards_caught_up: CatchUp
    """Same for the service's own AWARDS follower (writes of other instances)."""

    async def _recipient(self, cmd: c.GrantAward) -> RecipientHistory | None:
        # Never decide on a stale view: an enrolment (or a retirement) acknowledged before
        # this command was sent is in the stream; wait until the follower has applied the
        # stream's current end (~0.3 ms when it has), then look.
        await self.roster_caught_up()
        return self.views.recipient(cmd.recipient_type, cmd.recipient_id)

    async def grant_award(
        self, cmd: c.GrantAward, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        # Walk the slot's generations: revoked awards stay, the first free or active one decides.
        earlier: list[awards.Award] = []
        generation = 0
        while True:
            award_id = awards.slot_award_id(
                cmd.recipient_type, cmd.recipient_id, cmd.award_kind, cmd.period, generation
            )
            loaded: Loaded[awards.Award] = await uow.load(awards.AWARD, award_id)
            if loaded.state is None or not loaded.state.revoked:
                break
            earlier.append(loaded.state)
            generation += 1
        await self.awards_caught_up()
        events = awards.decide_grant(
            loaded.state,
            earlier,
            cmd,
            award_id,
            await self._recipient(cmd),
            self.views.decision(cmd.decision_number),
            self.config.award_kinds,
            ctx.today,
        )
        return await uow.record(loaded, events, local_midnight(cmd.decision_date))

    async def revoke_award(
        self, cmd: c.RevokeAward, ctx: CommandContext, uow: UnitOfWork
    ) -> CommandAccepted:
        award = await uow.load(awards.AWARD, cmd.award_id)
        await self.awards_caught_up()
        events = awards.decide_revoke(
            award.state, cmd, self.views.decision(cmd.decision_number), ctx.today
        )
        return await uow.record(award, events, local_midnight(cmd.decision_date))
