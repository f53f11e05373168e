"""A command's first attempt reads snapshots without asking the stream; whatever another
instance changed meanwhile must still decide the outcome.

Two roster instances share one nats-server, each with its own state store and no follower,
so each one's snapshots of the other's writes are stale until a command reads the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from contracts import roster as c
from contracts.replies import CommandAccepted
from contracts.subjects import event_streams, event_subject
from runtime.aggregates import Aggregates
from runtime.commands import CommandBus
from runtime.eventstore import EventStore
from runtime.sql import make_engine
from runtime.statestore import StateStore
from services.roster.adapters import views
from services.roster.adapters.codes import CodeReservations
from services.roster.application.handlers import RosterConfig, RosterHandlers
from services.roster.domain.members import MEMBER
from services.roster.domain.units import UNIT, UnitMustBeActive


@dataclass
class Instance:
    bus: CommandBus
    handlers: RosterHandlers

    async def send(self, command_name: str, **body: Any) -> CommandAccepted:
        command = c.COMMANDS[command_name].model_validate(body)
        return await self.bus.handle(command, getattr(self.handlers, command_name))


async def instance(nc: Client, db: Path) -> Instance:
    es = EventStore(nc)
    await es.ensure_streams(event_streams())
    engine = make_engine(f"sqlite:///{db}")
    store = StateStore(engine, "roster", [views.metadata])
    handlers = RosterHandlers(
        views.RosterViews(engine, store.tables.snapshots), RosterConfig(), CodeReservations()
    )
    await handlers.codes.open(es.js, 1)
    aggregates = Aggregates(es, store, [UNIT, MEMBER], hooks=[views.keep_views])
    return Instance(CommandBus(es, store, aggregates), handlers)


async def test_stale_snapshots_never_decide(nc: Client, tmp_path: Path) -> None:
    a = await instance(nc, tmp_path / "a.db")
    b = await instance(nc, tmp_path / "b.db")
    es = EventStore(nc)

    # Given a unit registered on A, unknown to B's store:
    await a.send(
        "register_unit",
        command_id="u1",
        unit_id="cell",
        kind="party_cell",
        name="Chi bộ 1",
        effective_on="2022-01-01",
    )
    # when B enrols into it, the "unit must exist" refusal its snapshot-less first attempt
    # reaches is checked against the stream, and the command succeeds.
    enrolled = await b.send(
        "enroll_member",
        command_id="m1",
        member_id="hoa",
        full_name="Nguyễn Thị Hoa",
        role="propagandist",
        unit_id="cell",
        effective_on="2022-01-10",
    )
    assert enrolled.ok and enrolled.version == 1 and not enrolled.replayed

    # Given a second unit that B then renames (A's snapshot of it is now stale):
    await a.send(
        "register_unit",
        command_id="u2",
        unit_id="cell2",
        kind="party_cell",
        name="Chi bộ 2",
        effective_on="2022-01-01",
    )
    renamed = await b.send(
        "rename_unit",
        command_id="r2",
        unit_id="cell2",
        name="Chi bộ Hai",
        effective_on="2022-02-01",
    )
    assert renamed.version == 2
    # when A dissolves it from its stale snapshot, the append's expected sequence catches it
    # and the retry dissolves the renamed unit:
    dissolved = await a.send(
        "dissolve_unit", command_id="d2", unit_id="cell2", effective_on="2022-03-01"
    )
    assert dissolved.version == 3

    # then B, whose snapshot still says the unit is active, must not enrol into it: the unit
    # it only read is checked before the member's append, and the retry refuses.
    with pytest.raises(UnitMustBeActive):
        await b.send(
            "enroll_member",
            command_id="m2",
            member_id="lan",
            full_name="Trần Thị Lan",
            role="propagandist",
            unit_id="cell2",
            effective_on="2022-03-10",
        )
    assert await es.last_sequence("ROSTER", event_subject("roster", "member", "lan")) == 0

    # and a retry of an enrolment A never saw is answered from the stream, not done twice.
    again = await a.send(
        "enroll_member",
        command_id="m1",
        member_id="hoa",
        full_name="Nguyễn Thị Hoa",
        role="propagandist",
        unit_id="cell",
        effective_on="2022-01-10",
    )
    assert again.replayed and again.event_ids == enrolled.event_ids
