"""The grant handler against a real nats-server and a real roster follower that is behind:
an enrolment acknowledged before the grant is never rejected as unknown."""

from __future__ import annotations

from datetime import date

import pytest
from nats.aio.client import Client

from contracts import awards as c
from contracts.subjects import event_streams
from runtime.aggregates import Aggregates
from runtime.commands import CommandBus
from runtime.eventstore import EventStore
from runtime.follower import StreamFollower
from runtime.settings import Settings
from runtime.sql import make_engine
from runtime.statestore import StateStore
from services.awards.adapters import views
from services.awards.application.handlers import AwardHandlers, AwardsConfig
from services.awards.domain.awards import AWARD, RecipientMustExist
from tests.awards.support import service
from tests.support import request


class LateRosterFollower:
    """The awards service's roster follower, started only when asked to catch up: the view
    knows nothing of the roster until the handler waits for the stream."""

    def __init__(self, follower: StreamFollower) -> None:
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


@pytest.mark.parametrize("recipient", ["individual", "collective"])
async def test_grant_waits_for_the_roster_follower_before_rejecting(
    settings: Settings, nc: Client, recipient: str, database_url: str
) -> None:
    async with service("roster", settings, nc):
        unit = await request(
            nc,
            "cmd.roster.register_unit",
            {
                "command_id": "u1",
                "unit_id": "cell1",
                "kind": "party_cell",
                "name": "Chi bộ 1",
                "effective_on": "2022-01-01",
            },
        )
        member = await request(
            nc,
            "cmd.roster.enroll_member",
            {
                "command_id": "m1",
                "member_id": "hoa",
                "full_name": "Nguyễn Thị Hoa",
                "role": "propagandist",
                "unit_id": "cell1",
                "effective_on": "2022-01-10",
            },
        )
        assert unit["ok"] and member["ok"]

    es = EventStore(nc)
    await es.ensure_streams(event_streams())
    engine = make_engine(database_url)
    store = StateStore(engine, "awards", [views.metadata])
    award_views = views.AwardViews(engine)
    late = LateRosterFollower(
        StreamFollower(es, store, "ROSTER", "roster:ROSTER", views.apply_roster_batch)
    )
    handlers = AwardHandlers(
        award_views, AwardsConfig(("certificate_of_merit",)), late.catch_up, no_wait
    )
    bus = CommandBus(es, store, Aggregates(es, store, [AWARD], hooks=[views.keep_views]))
    assert award_views.recipient(c.RecipientType.INDIVIDUAL, "hoa") is None  # behind
    try:
        reply = await bus.handle(
            c.GrantAward(
                command_id="g1",
                recipient_type=recipient,
                recipient_id="hoa" if recipient == "individual" else "cell1",
                title="Giấy khen",
                period="2022",
                decision_number="1/QĐ",
                decision_date=date(2022, 12, 9),
            ),
            handlers.grant_award,
        )
        assert reply.aggregate_type == "award" and late.calls == 1
        # Truly unknown: still rejected, after waiting once more.
        with pytest.raises(RecipientMustExist):
            await bus.handle(
                c.GrantAward(
                    command_id="g2",
                    recipient_type=recipient,
                    recipient_id="ghost",
                    title="Giấy khen",
                    period="2022",
                    decision_number="1/QĐ",
                    decision_date=date(2022, 12, 9),
                ),
                handlers.grant_award,
            )
        assert late.calls == 2
    finally:
        await late.follower.stop()
