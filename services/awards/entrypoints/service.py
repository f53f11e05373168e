"""The awards service's composition root: connected, it builds the service whole."""

from __future__ import annotations

from nats.aio.client import Client

from contracts import awards as c
from contracts.subjects import event_streams
from runtime.aggregates import Aggregates
from runtime.commands import CommandBus
from runtime.eventstore import EventStore
from runtime.projector import state_projector
from runtime.rostercopy import roster_copy_follower
from runtime.service import Api, Service, ServiceHost
from runtime.settings import Settings
from runtime.sql import make_engine
from runtime.statestore import StateStore
from services.awards.adapters import views
from services.awards.adapters.reporting import NatsParticipation
from services.awards.application.handlers import AwardHandlers, AwardsConfig
from services.awards.application.queries import AwardQueries, CandidateDefaults
from services.awards.domain.awards import AWARD

NAME = "awards"


async def compose(settings: Settings, es: EventStore, nc: Client) -> Service:
    await es.ensure_streams(event_streams(), settings.stream_replicas)
    engine = make_engine(settings.database_url_for(NAME))
    award_views = views.AwardViews(engine)
    store = StateStore(engine, NAME, [views.metadata, award_views.roster.metadata])
    aggregates = Aggregates(es, store, [AWARD], hooks=[views.keep_views])
    own = state_projector(
        es,
        store,
        "AWARDS",
        "own:AWARDS",
        aggregates.apply_stream_batch,
        pending=aggregates.not_yet_applied,
        stall_after=settings.follower_stall_s,
    )
    roster_copy = roster_copy_follower(es, store, award_views.roster, settings.follower_stall_s)
    return Service(
        bus=CommandBus(es, store, aggregates),
        handlers=AwardHandlers(
            award_views,
            AwardsConfig(tuple(settings.award_kinds)),
            roster_copy.catch_up,
            own.catch_up,
        ),
        queries=AwardQueries(
            award_views,
            NatsParticipation(nc, settings.request_timeout),
            CandidateDefaults(settings.candidate_min_rate, settings.candidate_max_per_unit),
            own.catch_up,
        ),
        followers=[own, roster_copy],
    )


def build(settings: Settings) -> ServiceHost:
    return ServiceHost(NAME, settings, Api.of(c), compose)


async def run(settings: Settings) -> None:
    await build(settings).serve()
