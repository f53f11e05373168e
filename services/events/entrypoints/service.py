"""The events service's composition root: connected, it builds the service whole."""

from __future__ import annotations

from nats.aio.client import Client

from contracts import events as c
from contracts.subjects import event_streams
from runtime.aggregates import Aggregates
from runtime.commands import CommandBus
from runtime.eventstore import EventStore
from runtime.projector import state_projector
from runtime.rostercopy import RosterCopy, roster_copy_follower
from runtime.service import Api, Service, ServiceHost
from runtime.settings import Settings
from runtime.sql import make_engine
from runtime.statestore import StateStore
from services.events.adapters import roster_lookup, views
from services.events.application.handlers import EventsHandlers
from services.events.application.queries import EventsQueries
from services.events.domain.conferences import CONFERENCE

NAME = "events"


async def compose(settings: Settings, es: EventStore, nc: Client) -> Service:
    await es.ensure_streams(event_streams(), settings.stream_replicas)
    engine = make_engine(settings.database_url_for(NAME))
    copy = RosterCopy(engine, NAME)
    store = StateStore(engine, NAME, [views.metadata, copy.metadata])
    aggregates = Aggregates(es, store, [CONFERENCE], hooks=[views.keep_views])
    own = state_projector(
        es,
        store,
        "EVENTS",
        "own:EVENTS",
        aggregates.apply_stream_batch,
        pending=aggregates.not_yet_applied,
        stall_after=settings.follower_stall_s,
    )
    roster_copy = roster_copy_follower(es, store, copy, settings.follower_stall_s)
    roster = roster_lookup.RosterLookup(engine, roster_copy, copy)
    return Service(
        bus=CommandBus(es, store, aggregates),
        handlers=EventsHandlers(roster),
        queries=EventsQueries(views.ConferenceViews(engine), roster),
        followers=[own, roster_copy],
    )


def build(settings: Settings) -> ServiceHost:
    return ServiceHost(NAME, settings, Api.of(c), compose)


async def run(settings: Settings) -> None:
    await build(settings).serve()
