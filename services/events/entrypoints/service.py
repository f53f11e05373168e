"""The events service's composition root: settings in, a running ServiceHost out."""

from __future__ import annotations

from contracts import events as c
from contracts.subjects import event_streams
from runtime.aggregates import Aggregates
from runtime.commands import CommandBus
from runtime.eventstore import EventStore
from runtime.projector import health_detail, state_projector
from runtime.rostercopy import roster_copy_follower
from runtime.service import ServiceHost
from runtime.settings import Settings
from runtime.sql import make_engine
from runtime.statestore import StateStore
from services.events.adapters import roster_lookup, views
from services.events.application.handlers import EventsHandlers
from services.events.application.queries import EventsQueries
from services.events.domain.conferences import CONFERENCE

NAME = "events"


class EventsHost(ServiceHost):
    """The host, with the roster copy in reach (health, operators, tests)."""

    def __init__(self, settings: Settings, roster: roster_lookup.RosterLookup) -> None:
        super().__init__(NAME, settings)
        self.roster = roster


def build(settings: Settings) -> EventsHost:
    engine = make_engine(settings.database_url_for(NAME))
    roster = roster_lookup.RosterLookup(engine)
    store = StateStore(engine, NAME, [views.metadata, roster.metadata])
    host = EventsHost(settings, roster)
    handlers = EventsHandlers(roster)
    queries = EventsQueries(views.ConferenceViews(engine), roster)

    for name in c.COMMANDS:
        host.command(c.CONTEXT, name, c.COMMANDS[name], getattr(handlers, name))
    for name in c.QUERIES:
        host.query(NAME, name, c.QUERIES[name], getattr(queries, name))

    async def start(es: EventStore) -> None:
        await es.ensure_streams(event_streams(), settings.stream_replicas)
        aggregates = Aggregates(es, store, [CONFERENCE], hooks=[views.keep_views])
        host.bus = CommandBus(es, store, aggregates)
        own = state_projector(
            es,
            store,
            "EVENTS",
            "own:EVENTS",
            aggregates.apply_stream_batch,
            pending=aggregates.not_yet_applied,
            stall_after=settings.follower_stall_s,
        )
        roster_follower = roster_copy_follower(es, store, roster.copy, settings.follower_stall_s)
        roster.follower = roster_follower
        for follower in (own, roster_follower):
            await follower.start()
            await follower.catch_up()
            host.on_stop.append(follower.stop)

        async def detail() -> dict[str, object]:
            return await health_detail(es, [own, roster_follower])

        host.health_detail = detail

    host.setup = start
    return host


async def run(settings: Settings) -> None:
    host = build(settings)
    await host.serve()
