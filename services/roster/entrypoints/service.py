"""The roster service's composition root: settings in, a running ServiceHost out."""

from __future__ import annotations

from contracts import roster as c
from contracts.subjects import event_streams
from briefings.runtime.commands import Aggregates, CommandBus
from briefings.runtime.eventstore import EventStore
from briefings.runtime.follower import StreamFollower
from briefings.runtime.service import ServiceHost
from briefings.runtime.settings import Settings
from briefings.runtime.sql import make_engine
from briefings.runtime.statestore import StateStore
from services.roster.adapters import views
from services.roster.application.handlers import RosterConfig, RosterHandlers
from services.roster.application.queries import RosterQueries
from services.roster.domain.members import MEMBER
from services.roster.domain.units import UNIT

NAME = "roster"


def build(settings: Settings) -> ServiceHost:
    host = ServiceHost(NAME, settings)
    engine = make_engine(settings.database_url_for(NAME))
    store = StateStore(engine, NAME, [views.metadata])
    roster_views = views.RosterViews(engine)
    handlers = RosterHandlers(roster_views, RosterConfig(settings.reporters_at_city_level_only))
    queries = RosterQueries(roster_views)

    command_handlers = {
        "register_unit": handlers.register_unit,
        "rename_unit": handlers.rename_unit,
        "enroll_member": handlers.enroll_member,
    }
    for name, handler in command_handlers.items():
        host.command(c.CONTEXT, name, c.COMMANDS[name], handler)
    for name, fn in {
        "get_unit": queries.get_unit,
        "get_member": queries.get_member,
        "list_members": queries.list_members,
        "list_units": queries.list_units,
        "find_members": queries.find_members,
    }.items():
        host.query(NAME, name, c.QUERIES[name], fn)

    async def start(es: EventStore) -> None:
        await es.ensure_streams(event_streams(), settings.stream_replicas)
        aggregates = Aggregates(es, store, [UNIT, MEMBER], hooks=[views.keep_views])
        host.bus = CommandBus(es, store, aggregates)
        follower = StreamFollower(es, store, "ROSTER", "own:ROSTER", aggregates.apply_stream_batch)
        await follower.start()
        await follower.catch_up()
        host.on_stop.append(follower.stop)

        async def detail() -> dict[str, object]:
            last = await es.stream_last_sequence("ROSTER")
            return {"stream": "ROSTER", "applied": follower.position, "last": last}

        host.health_detail = detail

    host.setup = start
    return host


async def run(settings: Settings) -> None:
    host = build(settings)
    await host.serve()
