"""The whole system across real processes: a nats-server, the four services as
``briefings serve <name>`` children, and the CLI as a subprocess, as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from briefings.demo.generator import Plan, Step, plan_year
from briefings.demo.load import DemoLoadFailed, load_plan
from briefings.demo.run import annual_summary, prepare, stream_ends, wait_until_reported
from briefings.report.formats import render_summary
from contracts import events as e
from contracts.subjects import SERVICES
from runtime.nats_server import NatsServer
from runtime.settings import Settings
from tests.support import ROOT, ServiceProcess, connect, settings_for, wait_healthy

pytestmark = pytest.mark.timeout(300)

ARTICLE_VI = "08 hội nghị thông tin và 02 hội nghị chuyên đề cho hơn 1.700 lượt"
ARTICLE_EN = "8 information conferences and 2 thematic conferences for more than 1,700 attendances"


@contextlib.asynccontextmanager
async def running_system(tmp: Path) -> AsyncIterator[Settings]:
    """nats-server and the four services as separate processes, all healthy."""
    server = NatsServer(tmp / "nats", log_file=tmp / "nats.log").start()
    settings = settings_for(server.url, tmp / "data")
    processes = [ServiceProcess(name, settings, tmp / f"{name}.log").start() for name in SERVICES]
    nc = await connect(server.url)
    try:
        for name in SERVICES:
            await wait_healthy(nc, name, timeout=90)
        yield settings
    except BaseException:
        for p in processes:
            sys.stderr.write(f"--- {p.name} log (tail)\n{p.log()[-3000:]}\n")
        raise
    finally:
        await nc.close()
        for p in processes:
            try:
                p.terminate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        server.stop()


def cli(settings: Settings, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BRIEFINGS_NATS_URL": settings.nats_url, "BRIEFINGS_LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "briefings", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def figures(summary: dict[str, Any]) -> dict[str, int]:
    end, kinds = summary["roster"]["at_end"], summary["conferences"]["by_kind"]
    return {
        "reporters": end["reporter"],
        "propagandists": end["propagandist"],
        "information": kinds["information"],
        "thematic": kinds["thematic"],
        "review": kinds["review"],
        "attendances": summary["attendance"]["member_attendances"],
        "collective_awards": summary["awards"]["collective"],
        "individual_awards": summary["awards"]["individual"],
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    """One system for the slice and the sample year (starting four processes takes a while);
    the two tests do not depend on each other's data or order."""
    async with running_system(tmp_path_factory.mktemp("system")) as settings:
        yield settings


async def test_the_slice_a_cli_enrolment_is_counted_by_reporting(system: Settings) -> None:
    """The foundation's slice: a command from the CLI, an event in JetStream, a row in the
    read model, a figure in the report. In 2023, so the sample year's 2022 stays as it is."""
    await wait_until_reported(system, timeout=60)
    before = (await annual_summary(system, 2023))["roster"]["at_end"]
    ok(
        cli(
            system,
            "roster",
            "register-unit",
            "Chi bộ Khu phố 3",
            "--unit-id",
            "kp3",
            "--kind",
            "party_cell",
            "--effective-on",
            "2023-01-03",
        )
    )
    out = ok(
        cli(
            system,
            "roster",
            "enroll",
            "Trần Thị Mỹ Hạnh",
            "--unit",
            "kp3",
            "--member-id",
            "hanh",
            "--effective-on",
            "2023-02-01",
            "--json",
        )
    )
    assert json.loads(out)["aggregate_id"] == "hanh"

    await wait_until_reported(system, timeout=60)
    report = json.loads(ok(cli(system, "report", "annual", "2023", "--format", "json")))
    after = report["roster"]["at_end"]
    assert after["propagandist"] == before["propagandist"] + 1
    assert after["reporter"] == before["reporter"]


async def test_a_refused_command_stops_the_load_with_the_rule(system: Settings) -> None:
    stray = Step(
        0,
        0,
        "x",
        "record_attendance",
        e.RecordAttendance(command_id="stray-1", conference_id="nowhere", member_id="x"),
        date(2022, 1, 1),
    )
    with pytest.raises(DemoLoadFailed) as failed:
        await load_plan(Plan(0, (stray,)), system)
    assert failed.value.reply["code"] == "not_found"
    assert failed.value.reply["rule"] == "ConferenceMustExist"
    assert "record_attendance" in str(failed.value)


async def test_the_sample_year_shows_the_articles_figures(system: Settings) -> None:
    plan = plan_year(2022)
    # An interrupted load (the first 300 commands), then the whole year: the first part
    # replays, the rest is applied.
    head = await load_plan(Plan(plan.seed, plan.steps[:300]), system)
    assert head.applied == 300
    loaded = json.loads(ok(cli(system, "demo", "load", "--json")))
    assert loaded["sent"] == len(plan.steps)
    assert (loaded["replayed"], loaded["applied"]) == (300, len(plan.steps) - 300)

    await wait_until_reported(system, timeout=120)
    summary = await annual_summary(system, 2022)
    got = figures(summary)
    assert got == {
        "reporters": 19,
        "propagandists": 189,
        "information": 8,
        "thematic": 2,
        "review": 1,
        "attendances": plan.figures.attendances,
        "collective_awards": 3,
        "individual_awards": 5,
    }
    assert 1700 < got["attendances"] < 1800
    assert ARTICLE_VI in render_summary(summary, "text", "vi")
    assert ARTICLE_EN in render_summary(summary, "text", "en")
    assert ARTICLE_VI in ok(cli(system, "report", "annual", "2022", "--lang", "vi"))

    # A re-run replays every command: nothing is written twice, the figures stand.
    again = json.loads(ok(cli(system, "demo", "load", "--json")))
    assert again["replayed"] == len(plan.steps) and again["applied"] == 0
    await wait_until_reported(system, timeout=60)
    assert figures(await annual_summary(system, 2022)) == got

    # What ``briefings up --demo`` does on a store that is not empty: load nothing, show it.
    ends = await stream_ends(system)
    assert figures(await prepare(system, show_progress=False)) == got
    assert await stream_ends(system) == ends
