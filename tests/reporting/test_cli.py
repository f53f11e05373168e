"""``briefings report`` and ``briefings reporting`` as a user runs them, against the service."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from nats.aio.client import Client

from contracts.subjects import event_streams
from runtime.eventstore import EventStore
from runtime.settings import Settings
from tests.reporting.factories import publish, sample_year
from tests.support import ROOT, running_service, wait_healthy


async def _briefings(settings: Settings, *args: str) -> tuple[int, str, str]:
    env = dict(os.environ, BRIEFINGS_NATS_URL=settings.nats_url, COLUMNS="200")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "briefings",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_report_and_reporting_commands(
    settings: Settings, nc: Client, tmp_path: Path
) -> None:
    await EventStore(nc).ensure_streams(event_streams())
    await publish(nc.jetstream(), sample_year().events)
    async with running_service("reporting", settings):
        await wait_healthy(nc, "reporting")
        code, out, err = await _briefings(settings, "report", "annual", "2022", "--lang", "vi")
        assert code == 0, err
        assert "đã tổ chức 08 hội nghị thông tin và 02 hội nghị chuyên đề cho hơn 1.700 lượt" in out

        page = tmp_path / "r.html"
        code, _, err = await _briefings(
            settings,
            "report",
            "annual",
            "--from",
            "2022-01-01",
            "--to",
            "2022-12-31",
            "--format",
            "html",
            "-o",
            str(page),
        )
        assert code == 0, err
        assert 'id="fig-member-attendances" data-value="1712"' in page.read_text()

        code, out, err = await _briefings(settings, "reporting", "status", "--json")
        assert code == 0, err
        assert json.loads(out)["lag"]["AWARDS"] == {"applied": 10, "last": 10}

        code, out, err = await _briefings(settings, "reporting", "rebuild")
        assert code == 0, err
        assert "switched to g2" in out and "events/s" in out
