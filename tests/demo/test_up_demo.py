"""The README's run command, ``briefings up --demo``, as a user runs it: its own embedded
nats-server, the four services as child processes, a fresh data folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.nats_server import free_port
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
