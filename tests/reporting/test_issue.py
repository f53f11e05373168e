"""Issue #15: the annual report as the Center issues it, end to end through the CLI against a
real nats-server and the reporting service, on the 2022 sample year.

``briefings report issue`` records ReportIssued and writes PDF, Word, Excel and HTML; the PDF
is A4 and its text (pdftotext) holds every Party-format element and the article's three
sentences; Word and Excel open and agree with the JSON; the QR code on the paper is a receipt
that ``audit check-receipt`` confirms; a second issue with the number is refused; the issued
documents written again (live, and from an export replayed) are byte for byte the same.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from docx import Document
from nats.aio.client import Client
from openpyxl import load_workbook

from contracts import roster as r
from contracts.subjects import event_streams
from runtime.eventstore import EventStore
from runtime.settings import Settings
from tests.reporting.factories import publish, sample_year
from tests.reporting.test_cli import _briefings
from tests.support import running_service, wait_healthy

NUMBER = "45-BC/TTCT"
STEM = "45-BC-TTCT"
PAGES_2022 = 4  # the 2022 sample year's report on A4, with the narrative below
SEED_SENTENCES = (
    "Hiện nay, đội ngũ báo cáo viên của thành phố có 19 đồng chí; tuyên truyền viên chi, "
    "đảng bộ cơ sở 189 đồng chí.",
    "Từ đầu năm đến nay, Trung tâm đã tổ chức 08 hội nghị thông tin và 02 hội nghị chuyên đề "
    "cho hơn 1.700 lượt báo cáo viên, tuyên truyền viên cơ sở thuộc các chi, đảng bộ trực "
    "thuộc Thành ủy.",
    "Giám đốc Trung tâm Chính trị thành phố khen thưởng cho tập thể đội ngũ tuyên truyền viên "
    "nòng cốt của 03 Chi, Đảng bộ và 05 đồng chí tuyên truyền viên nòng cốt vì có thành tích "
    "xuất sắc trong công tác thông tin thời sự của thành phố năm 2022.",
)
NARRATIVE = '''
results = """
Nội dung thông tin đảm bảo đúng định hướng của Ban Tuyên giáo Trung ương.

Trung tâm thường xuyên cập nhật nội dung tài liệu tham khảo.
"""
shortcomings = "Một số chi, đảng bộ cử chưa đủ tuyên truyền viên dự hội nghị."
lessons = "Bám sát định hướng của cấp ủy; chuẩn bị kỹ tài liệu."
orientations = "Tổ chức tuyên truyền sâu rộng các văn kiện, Nghị quyết Trung ương khóa XIII."
'''
SIGNER = "Nguyễn Đức Hiện"
RECIPIENTS = ("Ban Thường vụ Thành ủy (để báo cáo)", "Ban Tuyên giáo Thành ủy", "Lưu Trung tâm")

pytestmark = pytest.mark.skipif(
    not (shutil.which("pdftotext") and shutil.which("zbarimg")),
    reason="needs poppler-utils and zbar-tools (.ci/run installs them)",
)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _issue_args(out: Path, narrative: Path) -> list[str]:
    args = ["report", "issue", "2022", "--number", NUMBER, "--date", "2022-12-09"]
    args += ["--signer", SIGNER, "--place", "Thành phố", "--narrative", str(narrative)]
    for name in RECIPIENTS:
        args += ["--recipients", name]
    return [*args, "--output-dir", str(out), "--command-id", "issue-45-2022"]


def _bytes(directory: Path) -> dict[str, bytes]:
    return {p.suffix: p.read_bytes() for p in sorted(directory.iterdir())}


async def test_the_annual_report_is_issued_as_the_center_issues_it(
    settings: Settings, nc: Client, tmp_path: Path
) -> None:
    await EventStore(nc).ensure_streams(event_streams())
    streams = sample_year()
    await publish(nc.jetstream(), streams.events)
    narrative = tmp_path / "narrative.toml"
    narrative.write_text(NARRATIVE, "utf-8")
    first, again, replayed = tmp_path / "first", tmp_path / "again", tmp_path / "replayed"
    async with running_service("reporting", settings):
        await wait_healthy(nc, "reporting")
        code, out, err = await _briefings(settings, *_issue_args(first, narrative))
        assert code == 0, err + out
        assert sorted(p.name for p in first.iterdir()) == [
            f"{STEM}.docx",
            f"{STEM}.html",
            f"{STEM}.pdf",
            f"{STEM}.xlsx",
        ]

        # The figures the report was issued with, for the checks below.
        code, out, err = await _briefings(settings, "report", "annual", "2022", "--format", "json")
        assert code == 0, err
        summary = json.loads(out)

        # Bad input: a clear error before anything is asked or written.
        bad = tmp_path / "bad"
        args = _issue_args(bad, narrative)
        code, out, err = await _briefings(settings, *[a.replace(NUMBER, "45/TTCT") for a in args])
        assert code == 2 and "45/TTCT" in err and not bad.exists(), err

        # The same command sent again (a retry): its first outcome, the issued documents.
        retried = tmp_path / "retried"
        code, out, err = await _briefings(settings, *_issue_args(retried, narrative))
        assert code == 0 and "repeat" in out, err + out
        assert _bytes(retried) == _bytes(first)

        # The history moves on (one more reporter from 1 December): the report written again
        # below still states the figures it was issued with (its receipt's cut).
        later = streams.add(
            r.MemberEnrolled(
                member_id="rep99",
                full_name="Báo cáo viên 99",
                role=r.Role.REPORTER,
                unit_id="city",
                effective_on=date(2022, 12, 1),
            )
        )
        await publish(nc.jetstream(), [later])

        # A second issue with the same number is refused and writes nothing.
        refused = tmp_path / "refused"
        again_args = [
            a.replace("issue-45-2022", "issue-45-again") for a in _issue_args(refused, narrative)
        ]
        code, out, err = await _briefings(settings, *again_args)
        assert code == 1 and "already used" in err and "ReportNumberMustBeUnused" in err, err
        assert not refused.exists()

        code, out, err = await _briefings(settings, "report", "issued", "--json")
        assert code == 0, err
        [issued] = json.loads(out)
        assert (issued["number"], issued["issued_on"], issued["signer"]["name"]) == (
            NUMBER,
            "2022-12-09",
            SIGNER,
        )
        assert issued["summary_receipt"]["events"] == sum(issued["summary_receipt"]["cut"].values())
        assert set(issued["documents"]) == {"pdf", "docx", "xlsx", "html"}

        # Written again from the live history: byte for byte the same.
        code, out, err = await _briefings(
            settings, "report", "issued", NUMBER, "--output-dir", str(again)
        )
        assert code == 0, err + out
        assert _bytes(again) == _bytes(first)

        # And from an export file, replayed by the audit tools.
        export = tmp_path / "export.jsonl"
        code, _, err = await _briefings(settings, "audit", "export", "-o", str(export))
        assert code == 0, err
        code, out, err = await _briefings(
            settings,
            "report",
            "issued",
            NUMBER,
            "--from",
            str(export),
            "--output-dir",
            str(replayed),
        )
        assert code == 0, err + out
        assert _bytes(replayed) == _bytes(first)

    # The QR code printed on the paper is a receipt the auditors' check confirms.
    receipt = tmp_path / "paper-receipt.json"
    receipt.write_text(_scan_qr(first / f"{STEM}.pdf", PAGES_2022, tmp_path), "utf-8")
    code, out, err = await _briefings(settings, "audit", "check-receipt", str(receipt))
    assert code == 0 and "CONFIRMED" in out, out + err
    _check_documents(first, summary)


def _scan_qr(pdf: Path, page: int, tmp: Path) -> str:
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "200",
            "-png",
            "-f",
            str(page),
            "-l",
            str(page),
            str(pdf),
            str(tmp / "p"),
        ],
        check=True,
    )
    [image] = list(tmp.glob("p*.png"))
    done = subprocess.run(["zbarimg", "--raw", "-q", str(image)], capture_output=True, check=True)
    return done.stdout.decode("utf-8").strip()


def _check_documents(first: Path, summary: dict) -> None:
    # ---- the PDF: A4, its pages, and the Party-format elements in its text
    pdf = first / f"{STEM}.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Page size:\s+595\.\d+ x 841\.\d+ pts \(A4\)", info), info
    assert re.search(r"Pages:\s+(\d+)", info).group(1) == str(PAGES_2022)  # type: ignore[union-attr]
    _has_the_report(_pdf_text(pdf, PAGES_2022))

    # ---- Word: opens with python-docx and holds the same
    doc = Document(str(first / f"{STEM}.docx"))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            for cell in row.cells:
                parts.append(cell.text)
    _has_the_report(_flat(" ".join(parts)))
    section = doc.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)

    # ---- Excel: its sums are the JSON's
    book = load_workbook(first / f"{STEM}.xlsx")
    conferences = list(book["Hoi nghi"].iter_rows(min_row=2, values_only=True))
    assert len(conferences) == summary["conferences"]["held"]
    assert sum(r[5] for r in conferences) == summary["attendance"]["member_attendances"]
    assert sum(r[6] for r in conferences) == summary["attendance"]["guest_attendances"]
    months = list(book["Theo thang"].iter_rows(min_row=2, values_only=True))
    assert sum(r[1] + r[2] for r in months) == summary["attendance"]["total_attendances"]
    units = list(book["Theo don vi"].iter_rows(min_row=2, values_only=True))
    assert sum(r[2] for r in units) == summary["attendance"]["member_attendances"]
    roster = {r[0]: r[2] for r in book["Doi ngu"].iter_rows(min_row=2, values_only=True)}
    assert roster["Báo cáo viên"] == summary["roster"]["at_end"]["reporter"] == 19
    assert roster["Tuyên truyền viên"] == summary["roster"]["at_end"]["propagandist"] == 189
    awards = list(book["Khen thuong"].iter_rows(min_row=2, values_only=True))
    assert len(awards) == summary["awards"]["collective"] + summary["awards"]["individual"]


WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="[\d.]+" yMax="[\d.]+">(.*?)</word>')
TOP_MARGIN = 20 / 25.4 * 72  # 20 mm in points


def _words(pdf: Path, page: int) -> list[tuple[float, float, str]]:
    """``(x, y, word)`` of one page, in reading order (pdftotext -bbox)."""
    out = subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), "-bbox", str(pdf), "-"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [(float(x), float(y), html.unescape(w)) for x, y, w in WORD.findall(out)]


def _pdf_text(pdf: Path, pages: int) -> str:
    """The PDF's text page by page without the top margin (20 mm), where the guide puts the
    page number on every page but the first: a paragraph across pages reads whole."""
    out = []
    for n in range(1, pages + 1):
        words = _words(pdf, n)
        margin = [w for _x, y, w in words if y < TOP_MARGIN]
        assert margin == ([] if n == 1 else [str(n)]), (n, margin)
        out += [w for _x, y, w in words if y >= TOP_MARGIN]
    return " ".join(out)


def _has_the_report(text: str) -> None:
    for element in (
        "ĐẢNG CỘNG SẢN VIỆT NAM",  # the Party header
        "THÀNH ỦY",  # the parent committee
        "TRUNG TÂM CHÍNH TRỊ",  # the issuing body
        f"Số {NUMBER}",
        "Thành phố, ngày 09 tháng 12 năm 2022",
        "BÁO CÁO",
        "tổng kết công tác thông tin thời sự năm 2022",
        *SEED_SENTENCES,
        "14/01/2022",  # conferences with Vietnamese dates
        "Nguyễn Quán Phú (Ban Tuyên giáo Trung ương)",  # and speakers
        "Nội dung thông tin đảm bảo đúng định hướng của Ban Tuyên giáo Trung ương.",
        "IV. PHƯƠNG HƯỚNG, NHIỆM VỤ NĂM 2023",
        "GIÁM ĐỐC",
        SIGNER,
        "Nơi nhận:",
        "- Ban Thường vụ Thành ủy (để báo cáo),",
        "- Lưu Trung tâm.",
    ):
        at = text.find(element[:24])
        assert element in text, (element, text[at : at + len(element) + 40])
    assert "2022-01-14" not in text
