"""Roster handlers and the command bus on the in-memory event store (no nats-server)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from contracts import roster as c
from contracts.calendar import derived_id
from contracts.canonical import canonical_json, sha256_hex
from runtime.commands import CommandIdReused
from runtime.domain import DomainError
from runtime.eventport import ConcurrencyConflict
from runtime.memory_store import InMemoryEventStore
from tests.inmemory import Instance, memory_store, roster_instance, running

pytestmark = pytest.mark.fast


def city(command_id: str = "u-city") -> c.RegisterUnit:
    return c.RegisterUnit(command_id=command_id, unit_id="city", kind="city", name="Cấp thành phố")


def cell(unit_id: str, command_id: str | None = None) -> c.RegisterUnit:
    return c.RegisterUnit(
        command_id=command_id or f"u-{unit_id}",
        unit_id=unit_id,
        kind="party_cell",
        name=f"Chi bộ {unit_id}",
        effective_on=date(2022, 1, 1),
    )


def enrol(command_id: str, name: str, unit_id: str = "cell1") -> c.EnrollMember:
    return c.EnrollMember(
        command_id=command_id,
        full_name=name,
        role="propagandist",
        unit_id=unit_id,
        effective_on=date(2022, 1, 10),
    )


async def stored(es: InMemoryEventStore) -> list[dict[str, object]]:
    return [json.loads(e.data) async for e in es.iterate("ROSTER")]


async def test_register_enrol_rename_and_the_views_follow(tmp_path: Path) -> None:
    es = await memory_store()
    roster = await roster_instance(es, tmp_path / "r.db")
    async with running(roster):
        assert (await roster.send(city())).version == 1
        await roster.send(cell("cell1"))
        hoa = await roster.send(enrol("m1", "  Nguyễn Thị Hoa "))
        assert hoa.aggregate_type == "member" and hoa.version == 1
        renamed = await roster.send(
            c.RenameUnit(command_id="r1", unit_id="cell1", name="Chi bộ Khu phố 1")
        )
        assert renamed.version == 2
        assert roster.views.member(hoa.aggregate_id)["full_name"] == "Nguyễn Thị Hoa"
        # Every event carries its command's id and digest; the chain links each to the last.
        events = await stored(es)
        assert [e["command_id"] for e in events] == ["u-city", "u-cell1", "m1", "r1"]
        assert all(len(str(e["command_digest"])) == 64 for e in events)


async def test_a_refusal_is_named_and_stores_nothing(tmp_path: Path) -> None:
    es = await memory_store()
    roster = await roster_instance(es, tmp_path / "r.db")
    async with running(roster):
        with pytest.raises(DomainError) as refused:
            await roster.send(enrol("m1", "Trần Văn An", unit_id="ghost"))
        assert refused.value.rule == "UnitMustExist"
        assert await es.stream_last_sequence("ROSTER") == 0


async def test_a_change_to_the_same_value_writes_nothing(tmp_path: Path) -> None:
    es = await memory_store()
    roster = await roster_instance(es, tmp_path / "r.db")
    async with running(roster):
        await roster.send(city())
        same = await roster.send(
            c.RenameUnit(command_id="r1", unit_id="city", name="Cấp thành phố")
        )
        assert same.unchanged and same.event_ids == [] and same.version == 1
        # The one "nothing to change" idiom: the reply says what is already so.
        assert same.message == "unit city is already named 'Cấp thành phố'"
        assert await es.stream_last_sequence("ROSTER") == 1


async def two_instances(es: InMemoryEventStore, tmp_path: Path) -> tuple[Instance, Instance]:
    return await roster_instance(es, tmp_path / "a.db"), await roster_instance(
        es, tmp_path / "b.db"
    )


async def test_two_instances_racing_renames_keep_the_stream_a_line(tmp_path: Path) -> None:
    es = await memory_store()
    a, b = await two_instances(es, tmp_path)
    async with running(a, b):
        await a.send(city())
        replies = await asyncio.gather(
            *(
                (a if i % 2 else b).send(
                    c.RenameUnit(command_id=f"r{i}", unit_id="city", name=f"Thành phố {i}")
                )
                for i in range(20)
            ),
            return_exceptions=True,
        )
        assert all(
            not isinstance(r, BaseException) or isinstance(r, ConcurrencyConflict) for r in replies
        )
        versions = [e["aggregate_version"] for e in await stored(es)]
        assert versions == list(range(1, len(versions) + 1))  # no gap, no duplicate


async def test_one_id_for_twenty_different_renames_over_two_instances(tmp_path: Path) -> None:
    es = await memory_store()
    a, b = await two_instances(es, tmp_path)
    async with running(a, b):
        await a.send(city())
        replies = await asyncio.gather(
            *(
                (a if i % 2 else b).send(
                    c.RenameUnit(command_id="same", unit_id="city", name=f"Thành phố {i}")
                )
                for i in range(20)
            ),
            return_exceptions=True,
        )
        accepted = [r for r in replies if not isinstance(r, BaseException)]
        refused = [r for r in replies if isinstance(r, BaseException)]
        assert len(accepted) == 1 and len(refused) == 19, replies
        assert all(isinstance(r, CommandIdReused) for r in refused)
        assert all(r.rule == "command_id_reused" and r.code == "conflict" for r in refused)  # type: ignore[union-attr]
        assert await es.stream_last_sequence("ROSTER") == 2


async def test_twenty_copies_of_one_enrolment_over_two_instances_one_outcome(
    tmp_path: Path,
) -> None:
    es = await memory_store()
    a, b = await two_instances(es, tmp_path)
    async with running(a, b):
        await a.send(city())
        await a.send(cell("cell1"))
        for round_ in range(5):
            copy = enrol(f"enrol-{round_}", f"Người {round_}")
            replies = await asyncio.gather(*((a if i % 2 else b).send(copy) for i in range(20)))
            assert len({(r.aggregate_id, r.version, tuple(r.event_ids)) for r in replies}) == 1
            assert sum(not r.replayed for r in replies) == 1
        assert await es.stream_last_sequence("ROSTER") == 2 + 5


async def test_a_store_rebuilt_from_the_stream_keeps_each_id_bound(tmp_path: Path) -> None:
    es = await memory_store()
    first = await roster_instance(es, tmp_path / "first.db")
    async with running(first):
        await first.send(city())
        done = await first.send(c.RenameUnit(command_id="r1", unit_id="city", name="Thành phố A"))
    fresh = await roster_instance(es, tmp_path / "fresh.db")  # rebuilt from the stream
    async with running(fresh):
        again = await fresh.send(
            c.RenameUnit(command_id="r1", unit_id="city", name="Thành phố A", correlation_id="x")
        )
        assert again.replayed and again.event_ids == done.event_ids
        with pytest.raises(CommandIdReused):
            await fresh.send(c.RenameUnit(command_id="r1", unit_id="city", name="Thành phố B"))
        with pytest.raises(CommandIdReused):
            await fresh.send(enrol("r1", "Trần Văn An", unit_id="city"))
    assert await es.stream_last_sequence("ROSTER") == 2


async def test_dissolution_transfers_active_members_then_dissolves_once(tmp_path: Path) -> None:
    es = await memory_store()
    roster = await roster_instance(es, tmp_path / "r.db")
    async with running(roster):
        await roster.send(city())
        await roster.send(cell("cell1"))
        await roster.send(cell("cell2"))
        ids = [
            (await roster.send(enrol(f"m{i}", f"Thành viên {i}"))).aggregate_id for i in range(3)
        ]
        dissolve = c.DissolveUnit(
            command_id="d1", unit_id="cell1", reason="sáp nhập", transfer_to_unit_id="cell2"
        )
        reply = await roster.send(dissolve)
        assert reply.aggregate_id == "cell1"
        assert {m["unit_id"] for m in map(roster.views.member, ids)} == {"cell2"}
        before = await es.stream_last_sequence("ROSTER")
        assert (await roster.send(dissolve)).replayed
        assert await es.stream_last_sequence("ROSTER") == before


async def test_events_from_before_the_digest_still_read_chain_and_replay(tmp_path: Path) -> None:
    """An event stored before ``command_digest`` existed has no such key: it reads, the next
    event chains to its bytes as stored, and its command id replays as it always did."""
    es = await memory_store()
    first = await roster_instance(es, tmp_path / "first.db")
    async with running(first):
        await first.send(city())
    (stored_event,) = [e async for e in es.iterate("ROSTER")]
    old = json.loads(stored_event.data)
    del old["command_digest"]
    old_bytes = canonical_json(old)
    legacy = await memory_store()
    await legacy.append_encoded("ROSTER", "ev.roster.unit.city", [(old["event_id"], old_bytes)], 0)
    roster = await roster_instance(legacy, tmp_path / "legacy.db")
    async with running(roster):
        renamed = await roster.send(c.RenameUnit(command_id="r1", unit_id="city", name="Mới"))
        assert renamed.version == 2
        again = await roster.send(c.RenameUnit(command_id="u-city", unit_id="city", name="X"))
        assert again.replayed and again.version == 1  # no digest known: the old behaviour
    events = [e async for e in legacy.iterate("ROSTER")]
    assert events[0].data == old_bytes
    assert json.loads(events[1].data)["prev_hash"] == sha256_hex(old_bytes)


async def test_a_dissolution_retried_on_a_later_day_replays_its_transfers(tmp_path: Path) -> None:
    """The first attempt transferred one member, then stopped (a crash); the retry the next
    day moves only who is still there (its sub-command ids derive from the dissolution's, so
    no transfer is sent twice) and dissolves."""
    es = await memory_store()
    roster = await roster_instance(es, tmp_path / "r.db")
    async with running(roster):
        await roster.send(city())
        await roster.send(cell("cell1"))
        await roster.send(cell("cell2"))
        ids = [
            (await roster.send(enrol(f"m{i}", f"Thành viên {i}"))).aggregate_id for i in range(2)
        ]
        dissolve = c.DissolveUnit(command_id="d1", unit_id="cell1", transfer_to_unit_id="cell2")
        day_one = datetime(2023, 3, 1, 3, 0, tzinfo=UTC)
        roster.bus.clock = lambda: day_one
        first_transfer = c.TransferMember(  # as the dissolution sends it
            command_id=derived_id("d1", f"dissolve-transfer:{ids[0]}"),
            actor=dissolve.actor,
            correlation_id="d1",
            member_id=ids[0],
            to_unit_id="cell2",
            effective_on=dissolve.effective_on,
        )
        await roster.send(first_transfer)
        roster.bus.clock = lambda: day_one + timedelta(days=1)
        done = await roster.send(dissolve)
        assert done.aggregate_id == "cell1" and not done.replayed
        assert {roster.views.member(m)["unit_id"] for m in ids} == {"cell2"}
