"""The awards service's composition root: settings in, a running ServiceHost out."""

from __future__ import annotations

from contracts import awards as c
from contracts.reporting import Participation
from contracts.subjects import event_streams
from runtime.aggregates import Aggregates
from runtime.commands import CommandBus
from runtime.eventstore import EventStore
from runtime.projector import Projector, health_detail, state_projector
from runtime.rostercopy import roster_copy_follower
from runtime.service import ServiceHost
from runtime.settings import Settings
from runtime.sql import make_engine
from runtime.statestore import StateStore
from services.awards.adapters import views
from services.awards.adapters.reporting import NatsParticipation
from services.awards.application.handlers import AwardHandlers, AwardsConfig
from services.awards.application.queries import AwardQueries, CandidateDefaults
from services.awards.domain.awards import AWARD

NAME = "awards"


class _Followers:
    """Filled in at start; handlers only ever call ``catch_up`` after the service is ready."""

    roster: Projector | None = None
    own: Projector | None = None

    async def roster_caught_up(self) -> bool:
        return await self.roster.catch_up() if self.roster else False

    async def own_caught_up(self) -> bool:
        return await self.own.catch_up() if self.own else False


class _Participation:
    """The reporting client, bound to the host's connection once it exists."""

    def __init__(self, host: ServiceHost) -> None:
        self.host = host

    async def participation(self, year: int) -> Participation:
        assert self.host.nc is not None
        return await NatsParticipation(
            self.host.nc, self.host.settings.request_timeout
        ).participation(year)


def build(settings: Settings) -> ServiceHost:
    host = ServiceHost(NAME, settings)
    engine = make_engine(settings.database_url_for(NAME))
    award_views = views.AwardViews(engine)
    store = StateStore(engine, NAME, [views.metadata, award_views.roster.metadata])
    followers = _Followers()
    handlers = AwardHandlers(
        award_views,
        AwardsConfig(tuple(settings.award_kinds)),
        followers.roster_caught_up,
        followers.own_caught_up,
    )
    queries = AwardQueries(
        award_views,
        _Participation(host),
        CandidateDefaults(settings.candidate_min_rate, settings.candidate_max_per_unit),
        followers.own_caught_up,
    )

    host.command(c.CONTEXT, "grant_award", c.GrantAward, handlers.grant_award)
    host.command(c.CONTEXT, "revoke_award", c.RevokeAward, handlers.revoke_award)
    host.query(NAME, "get_award", c.GetAward, queries.get_award)
    host.query(NAME, "list_awards", c.ListAwards, queries.list_awards)
    host.query(NAME, "candidates", c.Candidates, queries.candidates)

    async def start(es: EventStore) -> None:
        await es.ensure_streams(event_streams(), settings.stream_replicas)
        aggregates = Aggregates(es, store, [AWARD], hooks=[views.keep_views])
        host.bus = CommandBus(es, store, aggregates)
        followers.own = state_projector(
            es,
            store,
            "AWARDS",
            "own:AWARDS",
            aggregates.apply_stream_batch,
            pending=aggregates.not_yet_applied,
            stall_after=settings.follower_stall_s,
        )
        followers.roster = roster_copy_follower(
            es, store, award_views.roster, settings.follower_stall_s
        )
        for follower in (followers.own, followers.roster):
            await follower.start()
            host.on_stop.append(follower.stop)
        for follower in (followers.own, followers.roster):
            await follower.catch_up()

        async def detail() -> dict[str, object]:
            assert followers.own is not None and followers.roster is not None
            return await health_detail(es, [followers.own, followers.roster])

        host.health_detail = detail

    host.setup = start
    return host


async def run(settings: Settings) -> None:
    host = build(settings)
    await host.serve()
