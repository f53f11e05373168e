"""The whole system across real processes: a nats-server, the four services as
``briefings serve <name>`` children, and the CLI as a subprocess, as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
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
from tests.reporting.test_issue import _pdf_text
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


def _pdf_words(pdf: Path) -> str:
    """The text without the page numbers (tests/reporting/test_issue.py)."""
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    pages = int(info.stdout.split("Pages:")[1].split()[0])
    return _pdf_text(pdf, pages)


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs poppler-utils (.ci/run)")
async def test_the_sample_years_report_is_issued_with_the_articles_figures(
    system: Settings, tmp_path: Path
) -> None:
    """The demo's 2022, issued on the day of the review: the report says what the article
    says, and written again from the history it is the same bytes."""
    ok(cli(system, "demo", "load", "--json"))  # idempotent: replays what is there
    await wait_until_reported(system, timeout=120)
    first, again = tmp_path / "first", tmp_path / "again"
    args = ["report", "issue", "2022", "--number", "45-BC/TTCT", "--date", "2022-12-09"]
    args += ["--signer", "Nguyễn Đức Hiện", "--recipients", "Ban Thường vụ Thành ủy; Lưu"]
    ok(cli(system, *args, "--output-dir", str(first)))
    text = _pdf_words(first / "45-BC-TTCT.pdf")
    for sentence in (
        "Hiện nay, đội ngũ báo cáo viên của thành phố có 19 đồng chí; tuyên truyền viên chi,",
        "Từ đầu năm đến nay, Trung tâm đã tổ chức " + ARTICLE_VI,
        "Giám đốc Trung tâm Chính trị thành phố khen thưởng cho tập thể đội ngũ tuyên truyền "
        "viên nòng cốt của 03 Chi, Đảng bộ và 05 đồng chí tuyên truyền viên nòng cốt",
        "ĐẢNG CỘNG SẢN VIỆT NAM",
        "Số 45-BC/TTCT",
        "ngày 09 tháng 12 năm 2022",
        "Nơi nhận:",
    ):
        assert sentence in text, sentence
    ok(cli(system, "report", "issued", "45-BC/TTCT", "--output-dir", str(again)))
    for name in ("45-BC-TTCT.pdf", "45-BC-TTCT.docx", "45-BC-TTCT.xlsx", "45-BC-TTCT.html"):
        assert (again / name).read_bytes() == (first / name).read_bytes(), name
