"""The issued report's documents, without a server: determinism,
English on request, the template's digest, and the Chromium print view of the header blocks
where 36-HD/VPTW puts them."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from briefings.report import document
from contracts.reporting import AnnualSummaryQuery, Narrative, Signer
from services.reporting.read_model import ReadModel, memory_engine
from tests.reporting.factories import sample_year
from tests.reporting.test_html_browser import _browser, _chromium

ISSUE = document.Issue(
    number="45-BC/TTCT",
    issued_on=date(2022, 12, 9),
    signer=Signer(name="Nguyễn Đức Hiện"),
    recipients=["Ban Thường vụ Thành ủy", "Lưu Trung tâm"],
    narrative=Narrative(results="Kết quả.", orientations="Phương hướng."),
)


@pytest.fixture(scope="module")
def summary_and_basis() -> tuple[dict[str, Any], dict[str, Any]]:
    model = ReadModel(memory_engine())
    model.apply(sample_year().events)
    summary = model.annual_summary_with_receipt(AnnualSummaryQuery(year=2022))
    return summary, summary.pop("receipt")


def test_the_documents_are_the_same_bytes_every_time(
    summary_and_basis: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    summary, basis = summary_and_basis
    first = document.render_documents(summary, ISSUE, basis)
    again = document.render_documents(summary, ISSUE, basis)
    assert document.digests(first) == document.digests(again)
    assert first["pdf"].startswith(b"%PDF-")
    assert document.file_stem(ISSUE.number) == "45-BC-TTCT"


def test_english_on_request(summary_and_basis: tuple[dict[str, Any], dict[str, Any]]) -> None:
    summary, basis = summary_and_basis
    ctx = document.context(summary, document.Issue(**{**ISSUE.__dict__, "lang": "en"}), basis)
    page = document.render_html(ctx)
    assert "COMMUNIST PARTY OF VIETNAM" in page and "No. 45-BC/TTCT" in page
    assert "Thành phố, 9 December 2022" in page and "REPORT" in page
    assert "Since the beginning of 2022, the Center has held 8 information" in html.unescape(page)


def test_the_template_digest_changes_with_the_template(tmp_path: Path, monkeypatch: Any) -> None:
    before = document.template_digest()
    copy = tmp_path / "templates"
    shutil.copytree(document.TEMPLATES, copy)
    monkeypatch.setattr(document, "TEMPLATES", copy)
    assert document.template_digest() == before
    (copy / document.STYLE).write_text((copy / document.STYLE).read_text() + "\n/* edited */\n")
    assert document.template_digest() != before


WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">(.*?)</word>'
)


def test_chromium_prints_the_header_blocks_where_the_guide_puts_them(
    tmp_path: Path, summary_and_basis: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """The HTML's print view in Chromium: A4; the issuing body top left with the number
    under it, the Party header top right with the date line under it, "BÁO CÁO" centred
    below both; "Nơi nhận" at the left and the signer at the right of the closing."""
    browser = _browser()
    if browser is None or not shutil.which("pdftotext"):
        pytest.skip("needs chromium and poppler-utils (.ci/run installs them)")
    summary, basis = summary_and_basis
    page = tmp_path / "report.html"
    page.write_bytes(document.render_documents(summary, ISSUE, basis)["html"])
    printed, shot = tmp_path / "print.pdf", tmp_path / "print.png"
    done = _chromium(
        browser, tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={printed}", page.as_uri()
    )
    assert printed.exists(), done.stderr
    _chromium(browser, tmp_path, f"--screenshot={shot}", "--window-size=794,1123", page.as_uri())
    info = subprocess.run(["pdfinfo", str(printed)], capture_output=True, text=True).stdout
    assert re.search(r"Page size:.*\(A4\)", info), info
    out = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", "-bbox", str(printed), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    words = [(float(a), float(b), float(c), html.unescape(w)) for a, b, c, w in WORD.findall(out)]

    def at(word: str) -> tuple[float, float, float]:
        found = [(x0, y, x1) for x0, y, x1, w in words if w == word]
        assert found, word
        return found[0]

    width, middle = 595.0, 595.0 / 2
    issuer, party, kind = at("TRUNG"), at("ĐẢNG"), at("BÁO")
    number, date_line = at("45-BC/TTCT"), at("ngày")
    assert issuer[2] < middle < party[0]  # body top left, Party header top right
    assert abs(issuer[1] - party[1]) < 30  # on the first lines
    assert number[1] > issuer[1] and number[2] < middle  # number under the body
    assert date_line[1] > party[1] and date_line[0] > middle - 20  # date under the header
    assert kind[1] > max(number[1], date_line[1])  # the kind below both
    left_margin = 30 / 25.4 * 72
    assert min(x0 for x0, _y, _x1, _w in words) >= left_margin - 2  # 30 mm on the left
    assert abs((kind[0] + at("CÁO")[2]) / 2 - (left_margin + width - 15 / 25.4 * 72) / 2) < 15
