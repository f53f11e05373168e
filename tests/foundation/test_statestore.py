"""The command services' SQL store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from nats.aio.client import Client

from runtime.nats_server import NatsServer
from runtime.settings import Settings
from runtime.sql import make_engine
from runtime.statestore import SnapshotRow, StateStore
from tests.support import ServiceProcess, connect, request, running_service, wait_healthy


def row(subject: str, seq: int) -> SnapshotRow:
    return SnapshotRow(subject, "member", subject[-2:], seq, seq, "a" * 64, '{"x": 1}')


@pytest.mark.fast
def test_snapshots_outcomes_positions_round_trip(database_url: str) -> None:
    store = StateStore(make_engine(database_url), "t")
    with store.engine.begin() as conn:
        store.save_snapshot(conn, row("ev.roster.member.m1", 3), existed=False)
        store.save_outcome(conn, "c1", {"command_id": "c1", "version": 1, "event_ids": ["e1"]})
        store.save_position(conn, "own:ROSTER", 7)
    with store.engine.begin() as conn:
        store.save_snapshot(conn, row("ev.roster.member.m1", 5), existed=True)
        store.save_outcome(conn, "c1", {"command_id": "c1", "version": 2, "event_ids": ["e2"]})
        store.save_position(conn, "own:ROSTER", 9)
    # a second store over the same database sees what the first wrote (no cache involved)
    other = StateStore(make_engine(database_url), "t")
    assert other.snapshot("ev.roster.member.m1") == row("ev.roster.member.m1", 5)
    assert other.outcome("c1") == {"command_id": "c1", "version": 2, "event_ids": ["e1", "e2"]}
    assert other.position("own:ROSTER") == 9
    assert other.snapshot("ev.roster.member.none") is None


@pytest.mark.fast
def test_a_rolled_back_transaction_leaves_no_row(database_url: str) -> None:
    store = StateStore(make_engine(database_url), "t")
    try:
        with store.engine.begin() as conn:
            store.save_position(conn, "p", 5)
            raise RuntimeError("crash mid-transaction")
    except RuntimeError:
        pass
    assert StateStore(make_engine(database_url), "t").position("p") == 0


async def test_roster_service_on_either_database(
    database_url: str, nats_server: NatsServer, nc: Client, tmp_path: Path
) -> None:
    settings = Settings(nats_url=nats_server.url, data_dir=tmp_path, database_url=database_url)
    async with running_service("roster", settings):
        await request(
            nc,
            "cmd.roster.register_unit",
            {"command_id": "u", "kind": "city", "name": "Thành phố", "unit_id": "city"},
        )
        reply = await request(
            nc,
            "cmd.roster.enroll_member",
            {"command_id": "m", "full_name": "Phạm Thu Hà", "role": "reporter", "unit_id": "city"},
        )
        assert reply["ok"], reply
        listed = await request(nc, "qry.roster.list_members", {"unit_id": "city"})
        assert [m["full_name"] for m in listed["data"]] == ["Phạm Thu Hà"]


async def test_sigterm_stops_a_service_cleanly(nats_server: NatsServer, tmp_path: Path) -> None:
    settings = Settings(nats_url=nats_server.url, data_dir=tmp_path / "data")
    proc = ServiceProcess("roster", settings, tmp_path / "roster.log").start()
    client = await connect(nats_server.url)
    try:
        await wait_healthy(client, "roster")
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(20) == 0
    finally:
        proc.kill()
        await client.close()
    log = proc.log()
    assert "stopping: finishing requests in hand" in log and '"stopped"' in log
