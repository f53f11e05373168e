"""Receipts issued by the live reporting service (``briefings report annual --receipt-out``)
are confirmed by ``briefings audit check-receipt`` from the live streams and from an export,
still confirmed after more events are appended ("tomorrow"), and refuted when one event of
the cut is altered (in an export, or in a copy of the streams on another server)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from nats.aio.client import Client

from briefings.audit import receipts
from briefings.audit.export import export_live
from briefings.audit.replay import replay_live
from briefings.audit.source import STREAMS
from briefings.report.formats import render_summary
from contracts.canonical import canonical_json
from contracts.subjects import event_streams
from runtime.eventstore import EventStore
from runtime.nats_server import NatsServer
from runtime.settings import Settings
from tests.audit.history import (
    index_of,
    january_corrections,
    read_lines,
    run_cli,
    write_lines,
    year_2022,
)
from tests.reporting.factories import publish, sample_year
from tests.support import ROOT, connect, request, running_service, settings_for


@dataclass
class World:
    server: NatsServer
    nc: Client
    tmp: Path
    known_at: datetime

    @property
    def url(self) -> str:
        return self.server.url


async def _caught_up(nc: Client, timeout: float = 60) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        reply = await request(nc, "qry.reporting.status", {}, timeout=20)
        status = reply.get("data") or {}
        lag = status.get("lag") or {}
        if (
            lag
            and all(v["applied"] == v["last"] for v in lag.values())
            and not status.get("rebuild")
        ):
            return status
        assert asyncio.get_running_loop().time() < deadline, reply
        await asyncio.sleep(0.1)


def _report(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BRIEFINGS_NATS_URL": url}
    for key in ("BRIEFINGS_NATS_USER", "BRIEFINGS_NATS_PASSWORD", "BRIEFINGS_NATS_CREDS"):
        env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "briefings", "report", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def report(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``briefings report ...`` as a child process, as a user would run it (in a thread: the
    services answering it run on this event loop)."""
    return await asyncio.to_thread(_report, url, *args)


async def audit(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``briefings audit ...`` as a child process."""
    return await asyncio.to_thread(run_cli, url, *args)


@pytest_asyncio.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("receipts-world")
    server = NatsServer(tmp / "nats", log_file=tmp / "nats.log").start()
    nc = await connect(server.url)
    try:
        settings = settings_for(server.url, tmp / "data")
        async with (
            running_service("roster", settings),
            running_service("events", settings),
            running_service("awards", settings),
            running_service("reporting", settings),
        ):
            await year_2022(nc)
            await asyncio.sleep(0.05)
            known_at = datetime.now(UTC)
            await asyncio.sleep(0.05)
            await january_corrections(nc)
            await _caught_up(nc)
            yield World(server, nc, tmp, known_at)
    finally:
        await nc.close()
        server.stop()


async def _export(nc: Client, path: Path) -> dict[str, Any]:
    with path.open("wb") as out:
        return await export_live(nc, out)


async def _copy_streams(records: list[dict[str, Any]], tmp: Path) -> NatsServer:
    """Another server whose streams hold ``records`` at the same sequences."""
    server = NatsServer(tmp / "nats", log_file=tmp / "nats.log").start()
    nc = await connect(server.url)
    try:
        await EventStore(nc).ensure_streams(event_streams())
        js = nc.jetstream()
        for rec in records:
            ack = await js.publish(
                rec["subject"], canonical_json(rec["envelope"]), stream=rec["stream"]
            )
            assert ack.seq == rec["seq"]
    finally:
        await nc.close()
    return server


async def test_a_service_receipt_is_confirmed_tomorrow_and_refuted_when_an_event_is_altered(
    world: World, tmp_path: Path
) -> None:
    receipt, output = tmp_path / "receipt.json", tmp_path / "summary.md"
    done = await report(
        world.url,
        "annual",
        "2022",
        "--format",
        "markdown",
        "--lang",
        "vi",
        "-o",
        str(output),
        "--receipt-out",
        str(receipt),
    )
    assert done.returncode == 0, done.stderr
    issued = json.loads(receipt.read_text())
    lasts = {s: (await world.nc.jetstream().stream_info(s)).state.last_seq for s in STREAMS}
    assert issued["cut"] == lasts and issued["events"] == sum(lasts.values())
    assert issued["output_digest"] == receipts.output_digest(output.read_text("utf-8"))
    assert (issued["format"], issued["lang"], issued["query"]) == ("markdown", "vi", {"year": 2022})

    # Confirmed from the live streams and from an export of them.
    done = await audit(world.url, "check-receipt", str(receipt))
    assert done.returncode == 0 and "CONFIRMED" in done.stdout, done.stdout + done.stderr
    export = tmp_path / "today.jsonl"
    await _export(world.nc, export)
    done = await audit(world.url, "check-receipt", str(receipt), "--from", str(export))
    assert done.returncode == 0, done.stdout + done.stderr

    # "Tomorrow": more events; the summary changes, the receipt's cut still gives its report.
    reply = await request(
        world.nc,
        "cmd.events.record_attendance",
        {"command_id": "after-receipt", "conference_id": "c3", "member_id": "p2"},
        timeout=20,
    )
    assert reply["ok"], reply
    await _caught_up(world.nc)
    now = (await request(world.nc, "qry.reporting.annual_summary", {"year": 2022}))["data"]
    assert now["receipt"]["events"] == issued["events"] + 1
    assert now["receipt"]["events_digest"] != issued["events_digest"]
    done = await audit(world.url, "check-receipt", str(receipt))
    assert done.returncode == 0, done.stdout + done.stderr
    later = tmp_path / "tomorrow.jsonl"
    await _export(world.nc, later)
    done = await audit(world.url, "check-receipt", str(receipt), "--from", str(later))
    assert done.returncode == 0, done.stdout + done.stderr

    # One event of the cut altered in an export (resealed as a careful forger would).
    lines = read_lines(later)
    i = index_of(lines, "c2", 1)  # the scheduling of c2: changes no figure of the report
    assert lines[i]["seq"] <= issued["cut"][lines[i]["stream"]]
    lines[i]["envelope"]["actor"] = "someone-else"
    altered = tmp_path / "altered.jsonl"
    write_lines(altered, lines, reseal=True)
    done = await audit(world.url, "check-receipt", str(receipt), "--from", str(altered), "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    findings = json.loads(done.stdout)["findings"]
    assert any("events of the cut differ" in f for f in findings)
    assert any(f.startswith("events of EVENTS differ") for f in findings)
    assert not any("report output" in f for f in findings)  # the same figures, all the same

    # One event altered in a copy of the streams on another server: refuted live too.
    lines = read_lines(later)
    records = [o for o in lines if "manifest" not in o]
    g = index_of(records, "c2", 2)
    records[g]["envelope"]["payload"]["held_on"] = "2022-06-16"  # any field of the event
    copy = await _copy_streams(records, tmp_path / "copy")
    try:
        done = await audit(copy.url, "check-receipt", str(receipt), "--json")
        assert done.returncode == 1, done.stdout + done.stderr
        assert any(
            f.startswith("events of EVENTS differ") for f in json.loads(done.stdout)["findings"]
        )
        # The unaltered copy confirms it (the copy is faithful, sequences included).
        records[g] = [o for o in read_lines(later) if "manifest" not in o][g]
    finally:
        copy.stop()
    faithful = await _copy_streams(records, tmp_path / "faithful")
    try:
        done = await audit(faithful.url, "check-receipt", str(receipt))
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        faithful.stop()


async def test_an_as_of_receipt_carries_its_filter_and_is_confirmed(
    world: World, tmp_path: Path
) -> None:
    receipt, output = tmp_path / "receipt.json", tmp_path / "summary.json"
    done = await report(
        world.url,
        "annual",
        "2022",
        "--as-of",
        world.known_at.isoformat(),
        "--format",
        "json",
        "-o",
        str(output),
        "--receipt-out",
        str(receipt),
    )
    assert done.returncode == 0, done.stderr
    issued = json.loads(receipt.read_text())
    assert issued["query"]["as_of"] and issued["events"] < sum(issued["cut"].values())
    summary = json.loads(output.read_text("utf-8"))
    assert "receipt" not in summary and summary["period"]["as_of"]
    done = await audit(world.url, "check-receipt", str(receipt))
    assert done.returncode == 0, done.stdout + done.stderr
    # The same receipt without its as-of filter names other events: refuted.
    unfiltered = dict(issued, query={"year": 2022})
    (tmp_path / "unfiltered.json").write_text(json.dumps(unfiltered))
    done = await audit(world.url, "check-receipt", str(tmp_path / "unfiltered.json"))
    assert done.returncode == 1, done.stdout + done.stderr


async def test_a_service_receipt_is_confirmed_on_sqlite_and_postgresql(
    settings: Settings, nc: Client, database_url: str
) -> None:
    """The reply's receipt, completed where it is rendered, as a replay recomputes it."""
    settings = settings.with_(database_url=database_url)
    year = sample_year()
    await EventStore(nc).ensure_streams(event_streams())
    await publish(nc.jetstream(), year.events)
    async with running_service("reporting", settings):
        await _caught_up(nc)
        reply = await request(nc, "qry.reporting.annual_summary", {"year": 2022}, timeout=60)
    data = reply["data"]
    text = render_summary(data, "html", "vi")
    receipt = receipts.complete(data["receipt"], text, "html", "vi")
    assert receipt["events"] == len(year.events)
    assert receipt["cut"] == {s: len(year.of(s)) for s in STREAMS}
    with await replay_live(nc, receipts.cut_of(receipt)) as replay:
        outcome = receipts.check(receipt, replay)
    assert outcome.confirmed, outcome.findings
