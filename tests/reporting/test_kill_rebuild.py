"""kill -9 in the middle of a rebuild, restart: the tables end as a clean rebuild's."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest
from nats.aio.client import Client

from contracts.subjects import event_streams
from runtime.eventstore import EventStore
from runtime.settings import Settings
from runtime.sql import make_engine
from services.reporting.adapters.consumer import durable_name
from services.reporting.read_model import ReadModel
from tests.reporting.factories import busy_years, publish
from tests.reporting.test_rebuild import _clean, _status, _switched, _tables
from tests.support import ServiceProcess, request, wait_healthy


async def test_kill_9_during_a_rebuild_then_restart_ends_like_a_clean_rebuild(
    settings: Settings, nc: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONFAULTHANDLER", "1")
    events = busy_years(80).events  # ~18,600 events
    await EventStore(nc).ensure_streams(event_streams())
    await publish(nc.jetstream(), events)
    clean = _clean(events)
    proc = ServiceProcess("reporting", settings, tmp_path / "reporting.log").start()
    try:
        await wait_healthy(nc, "reporting", 60)
        await _switched(nc, 1)
        reply = await request(nc, "cmd.reporting.rebuild", {"actor": "test"})
        assert reply == {"ok": True, "generation": 2}
        again = await request(nc, "cmd.reporting.rebuild", {})
        assert again["ok"] is False and again["rule"] == "RebuildAlreadyRunning"
        while True:
            status = await _status(nc)
            rebuild = status["rebuild"]
            assert rebuild is not None, "the rebuild finished before it could be killed"
            if rebuild["applied"] > 0:
                break
            await asyncio.sleep(0.01)
        proc.kill()  # SIGKILL: no clean shutdown
        assert 0 < rebuild["applied"] < rebuild["total"]
        proc.start()
        await wait_healthy(nc, "reporting", 60)
        await _switched(nc, 2)
        assert "resuming the rebuild" in proc.log()
        try:
            code = proc.terminate(timeout=90)
        except subprocess.TimeoutExpired:  # show where it hangs (faulthandler on SIGABRT)
            assert proc.proc is not None
            proc.proc.send_signal(signal.SIGABRT)
            proc.proc.wait(10)
            raise AssertionError(proc.log()[-12000:]) from None
        assert code == 0, proc.log()[-4000:]
    finally:
        proc.kill()
    url = settings.database_url_for("reporting")
    assert ReadModel(make_engine(url)).dump() == clean.dump()
    assert {n.split("_")[1] for n in _tables(url)} == {"g2"}
    consumers = [
        c.name
        for s in ("ROSTER", "EVENTS", "AWARDS")
        for c in await nc.jetstream().consumers_info(s)
    ]
    assert sorted(consumers) == [durable_name(2, s) for s in ("AWARDS", "EVENTS", "ROSTER")]
