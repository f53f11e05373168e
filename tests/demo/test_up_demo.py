"""The README's run command, ``briefings up --demo``, as a user runs it: its own embedded
nats-server, the four services as child processes, a fresh data folder."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from briefings.access import ensure_embedded_access
from briefings.keys import KeyFile
from contracts.envelope import EventEnvelope
from runtime.eventstore import EventStore
from runtime.nats_server import NatsServer, free_port
from runtime.settings import credentials_path
from tests.demo.test_end_to_end import ARTICLE_EN, ARTICLE_VI, ok
from tests.support import ROOT

pytestmark = pytest.mark.timeout(300)


def test_briefings_up_demo_prints_the_articles_summary(tmp_path: Path) -> None:
    """An empty data folder: the year is loaded, the summary printed in both languages."""
    env = {k: v for k, v in os.environ.items() if k != "BRIEFINGS_NATS_URL"}
    env.update(BRIEFINGS_DATA_DIR=str(tmp_path / "data"), BRIEFINGS_LOG_FORMAT="json")
    command = [
        sys.executable,
        "-m",
        "briefings",
        "up",
        "--demo",
        "--exit-after-demo",
        "--nats-port",
        str(free_port()),
    ]
    run = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
    out = ok(run)
    assert ARTICLE_VI in out and ARTICLE_EN in out
    assert "19 đồng chí" in out and "189 đồng chí" in out
    assert "nòng cốt của 03 Chi, Đảng bộ và 05 đồng chí tuyên truyền viên nòng cốt" in out
    assert "loaded the 2022 sample year" in run.stderr
    # Issue #13 finding 5: up made the first operator (key file owner-only) and every command
    # of the sample year was signed by them: their person id is each event's actor.
    data = tmp_path / "data"
    key_file = data / "credentials" / "person.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    operator = KeyFile.read(key_file)
    assert operator.role == "operator" and f"operator {operator.person_id}" in out
    assert asyncio.run(actors_of(data)) == {operator.person_id}


async def actors_of(data: Path) -> set[str]:
    """Every actor on ROSTER, EVENTS and AWARDS, read as the auditor from the data folder."""
    server = NatsServer(
        data / "nats", config_file=ensure_embedded_access(data), log_file=data / "check.log"
    ).start()
    try:
        auditor = json.loads(credentials_path(data, "auditor").read_text())
        nc = await nats.connect(server.url, user=auditor["user"], password=auditor["password"])
        es = EventStore(nc)
        found: set[str] = set()
        for stream in ("ROSTER", "EVENTS", "AWARDS"):
            async for event in es.iterate(stream):
                found.add(EventEnvelope.from_bytes(event.data).actor)
        await nc.close()
        return found
    finally:
        server.stop()
