"""The roster service's composition root: settings in, a running ServiceHost out."""

from __future__ import annotations

from datetime import timedelta

from contracts import roster as c
from contracts.subjects import event_streams
from runtime.aggregates import Aggregates
from runtime.commands import CommandBus
from runtime.eventstore import EventStore
from runtime.projector import health_detail, state_projector
from runtime.service import ServiceHost
from runtime.settings import Settings
from runtime.sql import make_engine
from runtime.statestore import StateStore
from services.roster.adapters import views
from services.roster.adapters.codes import DEFAULT_GRACE, CodeReservations
from services.roster.application.handlers import RosterConfig, RosterHandlers
from services.roster.application.queries import RosterQueries
from services.roster.domain.members import MEMBER
from services.roster.domain.units import UNIT

NAME = "roster"
GRACE_KEY = "roster_code_reservation_grace_s"
"""``Settings.extra`` key: seconds before an unclaimed code reservation may be reclaimed."""


def build(settings: Settings) -> ServiceHost:
    host = ServiceHost(NAME, settings)
    engine = make_engine(settings.database_url_for(NAME))
    store = StateStore(engine, NAME, [views.metadata])
    roster_views = views.RosterViews(engine, store.tables.snapshots)
    grace = timedelta(seconds=float(settings.extra.get(GRACE_KEY, DEFAULT_GRACE.total_seconds())))
    config = RosterConfig(settings.reporters_at_city_level_only, grace)
    handlers = RosterHandlers(roster_views, config, CodeReservations(grace=grace))
    queries = RosterQueries(roster_views)

    for name, handler in handlers.table().items():
        host.command(c.CONTEXT, name, c.COMMANDS[name], handler)
    for name, model in c.QUERIES.items():
        host.query(NAME, name, model, getattr(queries, name))

    async def start(es: EventStore) -> None:
        await es.ensure_streams(event_streams(), settings.stream_replicas)
        await handlers.codes.open(es.js, settings.stream_replicas)
        aggregates = Aggregates(es, store, [UNIT, MEMBER], hooks=[views.keep_views])
        host.bus = CommandBus(es, store, aggregates)
        follower = state_projector(
            es,
            store,
            "ROSTER",
            "own:ROSTER",
            aggregates.apply_stream_batch,
            pending=aggregates.not_yet_applied,
            stall_after=settings.follower_stall_s,
        )
        await follower.start()
        await follower.catch_up()
        host.on_stop.append(follower.stop)

        async def catch_up() -> None:
            await follower.catch_up(timeout=10.0)

        handlers.catch_up = catch_up
        # The stream is the truth about who holds a code: restore reservations it implies.
        await handlers.codes.backfill(
            (m["member_id"], m["external_code"])
            for m in roster_views.members(include_retired=True)
            if m.get("external_code")
        )

        async def detail() -> dict[str, object]:
            return await health_detail(es, [follower])

        host.health_detail = detail

    host.setup = start
    return host


async def run(settings: Settings) -> None:
    host = build(settings)
    await host.serve()
