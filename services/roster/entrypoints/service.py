"""The roster service's composition root: connected, it builds the service whole."""

from __future__ import annotations

from nats.aio.client import Client

from contracts import roster as c
from contracts.subjects import event_streams
from runtime.aggregates import Aggregates
from runtime.commands import CommandBus
from runtime.eventstore import EventStore
from runtime.projector import state_projector
from runtime.service import Api, Service, ServiceHost
from runtime.settings import Settings
from runtime.sql import make_engine
from runtime.statestore import StateStore
from services.roster.adapters import views
from services.roster.adapters.codes import DEFAULT_GRACE, CodeReservations
from services.roster.application.handlers import RosterConfig, RosterHandlers
from services.roster.application.queries import RosterQueries
from services.roster.domain.members import MEMBER
from services.roster.domain.people import PERSON
from services.roster.domain.units import UNIT

NAME = "roster"


async def compose(settings: Settings, es: EventStore, nc: Client) -> Service:
    await es.ensure_streams(event_streams(), settings.stream_replicas)
    engine = make_engine(settings.database_url_for(NAME))
    store = StateStore(engine, NAME, [views.metadata])
    roster_views = views.RosterViews(engine, store.tables.snapshots)
    aggregates = Aggregates(es, store, [UNIT, MEMBER, PERSON], hooks=[views.keep_views])
    own = state_projector(
        es,
        store,
        "ROSTER",
        "own:ROSTER",
        aggregates.apply_stream_batch,
        pending=aggregates.not_yet_applied,
        stall_after=settings.follower_stall_s,
    )
    codes = CodeReservations(grace=DEFAULT_GRACE)
    await codes.open(es.js, settings.stream_replicas)

    async def caught_up() -> None:
        await own.catch_up(timeout=10.0)

    async def restore_codes() -> None:
        # The stream is the truth about who holds a code: restore reservations it implies.
        await codes.backfill(
            (m["member_id"], m["external_code"])
            for m in roster_views.members(include_retired=True)
            if m.get("external_code")
        )

    return Service(
        bus=CommandBus(es, store, aggregates),
        handlers=RosterHandlers(
            roster_views,
            RosterConfig(settings.reporters_at_city_level_only, DEFAULT_GRACE),
            codes,
            caught_up,
        ),
        queries=RosterQueries(roster_views),
        followers=[own],
        on_start=[restore_codes],
    )


def build(settings: Settings) -> ServiceHost:
    return ServiceHost(NAME, settings, Api.of(c), compose)


async def run(settings: Settings) -> None:
    await build(settings).serve()
