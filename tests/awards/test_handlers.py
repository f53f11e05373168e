"""The awards handlers on the in-memory event store (no nats-server): recipients come from the
ROSTER stream that the roster handlers wrote into the same store. A roster copy that is behind
never rejects an enrolment acknowledged before the grant."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from contracts import awards as c
from contracts import roster as r
from runtime.aggregates import Aggregates
from runtime.commands import CommandBus, CommandIdReused
from runtime.domain import DomainError
from runtime.memory_store import MemoryFollower
from runtime.projector import Projector
from runtime.rostercopy import FOLLOWER_KEY, RELEVANT_TYPES
from runtime.sql import make_engine
from runtime.statestore import StateStore
from services.awards.adapters import views
from services.awards.application.handlers import AwardHandlers, AwardsConfig
from services.awards.domain.awards import AWARD, RecipientMustExist
from tests.inmemory import Instance, awards_instance, memory_store, roster_instance, running

pytestmark = pytest.mark.fast


class LateRosterFollower:
    """The awards service's roster follower, started only when asked to catch up: the view
    knows nothing of the roster until the handler waits for the stream."""

    def __init__(self, follower: Projector) -> None:
        self.follower = follower
        self.started = False
        self.calls = 0

    async def catch_up(self) -> bool:
        self.calls += 1
        if not self.started:
            self.started = True
            await self.follower.start()
        return await self.follower.catch_up()


async def no_wait() -> bool:
    return True


async def roster_with_hoa(roster: Instance) -> None:
    await roster.send(
        r.RegisterUnit(
            command_id="u1",
            unit_id="cell1",
            kind="party_cell",
            name="Chi bộ 1",
            effective_on=date(2022, 1, 1),
        )
    )
    await roster.send(
        r.EnrollMember(
            command_id="m1",
            member_id="hoa",
            full_name="Nguyễn Thị Hoa",
            role="propagandist",
            unit_id="cell1",
            effective_on=date(2022, 1, 10),
        )
    )


def grant(command_id: str, recipient_id: str, recipient_type: str = "individual") -> c.GrantAward:
    return c.GrantAward(
        command_id=command_id,
        recipient_type=recipient_type,
        recipient_id=recipient_id,
        title="Giấy khen",
        period="2022",
        decision_number="1/QĐ",
        decision_date=date(2022, 12, 9),
    )


@pytest.mark.parametrize("recipient", ["individual", "collective"])
async def test_grant_waits_for_the_roster_follower_before_rejecting(
    recipient: str, database_url: str, tmp_path: Path
) -> None:
    es = await memory_store()
    roster = await roster_instance(es, tmp_path / "roster.db")
    async with running(roster):
        await roster_with_hoa(roster)

    engine = make_engine(database_url)
    award_views = views.AwardViews(engine)
    store = StateStore(engine, "awards", [views.metadata, award_views.roster.metadata])
    late = LateRosterFollower(
        MemoryFollower(
            es,
            store,
            "ROSTER",
            FOLLOWER_KEY,
            award_views.roster.apply,
            only=RELEVANT_TYPES,
        )
    )
    handlers = AwardHandlers(
        award_views, AwardsConfig(("certificate_of_merit",)), late.catch_up, no_wait
    )
    bus = CommandBus(es, store, Aggregates(es, store, [AWARD], hooks=[views.keep_views]))
    assert award_views.recipient(c.RecipientType.INDIVIDUAL, "hoa") is None  # behind
    try:
        reply = await bus.handle(
            grant("g1", "hoa" if recipient == "individual" else "cell1", recipient),
            handlers.grant_award,
        )
        assert reply.aggregate_type == "award" and late.calls == 1
        # Truly unknown: still rejected, after waiting once more.
        with pytest.raises(RecipientMustExist):
            await bus.handle(grant("g2", "ghost", recipient), handlers.grant_award)
        assert late.calls == 2
    finally:
        await late.follower.stop()
        engine.dispose()


async def test_grant_to_known_recipients_refuse_the_unknown_and_revoke(tmp_path: Path) -> None:
    es = await memory_store()
    roster = await roster_instance(es, tmp_path / "roster.db")
    awards = await awards_instance(es, tmp_path / "awards.db")
    async with running(roster, awards):
        await roster_with_hoa(roster)
        person = await awards.send(grant("g1", "hoa"))
        collective = await awards.send(grant("g2", "cell1", "collective"))
        assert person.aggregate_type == collective.aggregate_type == "award"
        with pytest.raises(DomainError) as unknown:
            await awards.send(grant("g3", "ghost"))
        assert unknown.value.rule == "RecipientMustExist"
        with pytest.raises(DomainError) as twice:
            await awards.send(grant("g4", "hoa"))
        assert twice.value.code in ("already_exists", "conflict")
        revoked = await awards.send(
            c.RevokeAward(
                command_id="v1",
                award_id=person.aggregate_id,
                reason="sai sót",
                decision_number="2/QĐ",
                decision_date=date(2022, 12, 20),
            )
        )
        assert revoked.version == 2
        assert await es.stream_last_sequence("AWARDS") == 3


async def test_concurrent_copies_of_one_grant_one_outcome_and_no_reuse(tmp_path: Path) -> None:
    es = await memory_store()
    roster = await roster_instance(es, tmp_path / "roster.db")
    one = await awards_instance(es, tmp_path / "one.db")
    two = await awards_instance(es, tmp_path / "two.db")
    async with running(roster, one, two):
        await roster_with_hoa(roster)
        copy = grant("g1", "cell1", "collective")
        replies = await asyncio.gather(*((one if i % 2 else two).send(copy) for i in range(10)))
        assert len({tuple(x.event_ids) for x in replies}) == 1
        assert sum(not x.replayed for x in replies) == 1
        with pytest.raises(CommandIdReused):
            await two.send(copy.model_copy(update={"title": "Bằng khen"}))
        assert await es.stream_last_sequence("AWARDS") == 1
