"""The HTML report opens in a real browser (headless Chromium) and shows the figures."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from briefings.report.formats import render_summary
from contracts.reporting import AnnualSummaryQuery
from services.reporting.read_model import ReadModel, memory_engine
from tests.reporting.factories import sample_year

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


def _browser() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _chromium(browser: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_html_summary_renders_in_headless_chromium(tmp_path: Path, lang: str) -> None:
    browser = _browser()
    if browser is None:
        pytest.skip("no Chromium installed (looked for " + ", ".join(CANDIDATES) + ")")
    model = ReadModel(memory_engine())
    model.apply(sample_year().events)
    page = tmp_path / "summary.html"
    page.write_text(
        render_summary(model.annual_summary(AnnualSummaryQuery(year=2022)), "html", lang),
        encoding="utf-8",
    )

    done = _chromium(browser, tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout

    def figure(name: str) -> int:
        found = re.search(rf'id="fig-{name}" data-value="(\d+)"', dom)
        assert found, f"no figure {name} in the rendered page"
        return int(found.group(1))

    assert figure("reporters") == 19
    assert figure("propagandists") == 189
    assert figure("conferences") == 10
    assert figure("member-attendances") == 1712
    assert (figure("awards-collective"), figure("awards-individual")) == (3, 5)
    # the charts are in the page as SVG, one bar per month and per unit
    assert dom.count("<rect") == 12 + 11
    if lang == "vi":
        assert "08 hội nghị thông tin và 02 hội nghị chuyên đề cho hơn 1.700 lượt" in dom
    else:
        assert "8 information conferences and 2 thematic conferences for more than 1,700" in dom

    shot = tmp_path / "summary.png"
    done = _chromium(
        browser, tmp_path, f"--screenshot={shot}", "--window-size=1000,1400", page.as_uri()
    )
    assert done.returncode == 0 and shot.stat().st_size > 10_000, done.stderr[-2000:]
