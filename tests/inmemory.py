"""The command services' handlers and buses on the in-memory event store and SQLite: what
each composition root wires, without a nats-server (the ``fast`` suite).

Several harnesses on one ``InMemoryEventStore`` are several service instances on one stream,
each with its own state store, as with two processes on JetStream.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.replies import Command, CommandAccepted
from contracts.subjects import event_streams
from runtime.aggregates import Aggregates
from runtime.commands import CommandBus, Handler
from runtime.memory_store import InMemoryEventStore, MemoryFollower
from runtime.rostercopy import FOLLOWER_KEY
from runtime.rostercopy import RELEVANT_TYPES as ROSTER_COPY_TYPES
from runtime.sql import make_engine
from runtime.statestore import StateStore
from services.awards.adapters import views as award_views
from services.awards.application.handlers import AwardHandlers, AwardsConfig
from services.awards.domain.awards import AWARD
from services.events.adapters import roster_lookup
from services.events.adapters import views as event_views
from services.events.application.handlers import EventsHandlers
from services.events.domain.conferences import CONFERENCE
from services.roster.adapters import views as roster_views
from services.roster.application.handlers import RosterConfig, RosterHandlers
from services.roster.domain.members import MEMBER
from services.roster.domain.units import UNIT


async def memory_store() -> InMemoryEventStore:
    es = InMemoryEventStore()
    await es.ensure_streams(event_streams())
    return es


@dataclass
class Instance:
    """One service instance: its state store, bus, handlers and followers."""

    es: InMemoryEventStore
    store: StateStore
    bus: CommandBus
    handlers: Any
    views: Any
    followers: list[MemoryFollower] = field(default_factory=list)

    async def send(self, command: Command, handler: str | None = None) -> CommandAccepted:
        name = handler or _snake(type(command).__name__)
        fn: Handler = getattr(self.handlers, name)
        return await self.bus.handle(command, fn)

    async def stop(self) -> None:
        for follower in self.followers:
            await follower.stop()


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _sqlite(path: Path) -> Any:
    return make_engine(f"sqlite:///{path}")


async def roster_instance(es: InMemoryEventStore, path: Path) -> Instance:
    engine = _sqlite(path)
    store = StateStore(engine, "roster", [roster_views.metadata])
    views = roster_views.RosterViews(engine, store.tables.snapshots)
    handlers = RosterHandlers(views, RosterConfig())
    aggregates = Aggregates(es, store, [UNIT, MEMBER], hooks=[roster_views.keep_views])
    own = MemoryFollower(
        es,
        store,
        "ROSTER",
        "own:ROSTER",
        aggregates.apply_stream_batch,
        relevant=aggregates.not_yet_applied,
    )
    await own.start()

    async def catch_up() -> None:
        await own.catch_up()

    handlers.catch_up = catch_up
    return Instance(es, store, CommandBus(es, store, aggregates), handlers, views, [own])


async def events_instance(es: InMemoryEventStore, path: Path) -> Instance:
    engine = _sqlite(path)
    roster = roster_lookup.RosterLookup(engine)
    store = StateStore(engine, "events", [event_views.metadata, roster.metadata])
    aggregates = Aggregates(es, store, [CONFERENCE], hooks=[event_views.keep_views])
    own = MemoryFollower(
        es,
        store,
        "EVENTS",
        "own:EVENTS",
        aggregates.apply_stream_batch,
        relevant=aggregates.not_yet_applied,
    )
    copy = MemoryFollower(
        es, store, "ROSTER", FOLLOWER_KEY, roster.copy.apply, only=ROSTER_COPY_TYPES
    )
    roster.follower = copy
    for follower in (own, copy):
        await follower.start()
    bus = CommandBus(es, store, aggregates)
    return Instance(
        es, store, bus, EventsHandlers(roster), event_views.ConferenceViews(engine), [own, copy]
    )


async def awards_instance(
    es: InMemoryEventStore, path: Path, kinds: tuple[str, ...] = ("certificate_of_merit",)
) -> Instance:
    engine = _sqlite(path)
    views = award_views.AwardViews(engine)
    store = StateStore(engine, "awards", [award_views.metadata, views.roster.metadata])
    aggregates = Aggregates(es, store, [AWARD], hooks=[award_views.keep_views])
    own = MemoryFollower(
        es,
        store,
        "AWARDS",
        "own:AWARDS",
        aggregates.apply_stream_batch,
        relevant=aggregates.not_yet_applied,
    )
    copy = MemoryFollower(
        es, store, "ROSTER", FOLLOWER_KEY, views.roster.apply, only=ROSTER_COPY_TYPES
    )
    for follower in (own, copy):
        await follower.start()
    handlers = AwardHandlers(views, AwardsConfig(kinds), copy.catch_up, own.catch_up)
    return Instance(es, store, CommandBus(es, store, aggregates), handlers, views, [own, copy])


@contextlib.asynccontextmanager
async def running(*instances: Instance) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for instance in instances:
            await instance.stop()
