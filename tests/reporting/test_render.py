"""How the summary is written: the Center's Vietnamese, English, and every format."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from briefings.report.formats import bar_chart, render_summary, sentences
from briefings.report.vi import en_about, vi_about, vi_date_long, vi_int, vi_num
from contracts.reporting import AnnualSummaryQuery
from services.reporting.read_model import ReadModel, memory_engine
from tests.reporting.factories import sample_year

pytestmark = pytest.mark.fast

ARTICLE = (
    "Từ đầu năm đến nay, Trung tâm đã tổ chức 08 hội nghị thông tin và 02 hội nghị chuyên đề "
    "cho hơn 1.700 lượt báo cáo viên, tuyên truyền viên cơ sở thuộc các chi, đảng bộ trực "
    "thuộc Thành ủy."
)


PAST = (
    "Trong năm 2022, Trung tâm đã tổ chức 08 hội nghị thông tin và 02 hội nghị chuyên đề "
    "cho hơn 1.700 lượt báo cáo viên, tuyên truyền viên cơ sở thuộc các chi, đảng bộ trực "
    "thuộc Thành ủy."
)


@pytest.fixture(scope="module")
def summary() -> dict:
    model = ReadModel(memory_engine())
    model.apply(sample_year().events)
    return model.annual_summary(AnnualSummaryQuery(year=2022))


@pytest.mark.parametrize(
    ("n", "text"),
    [(8, "08"), (2, "02"), (19, "19"), (189, "189"), (1700, "1.700"), (1234567, "1.234.567")],
)
def test_vietnamese_numbers(n: int, text: str) -> None:
    assert vi_int(n) == text


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(2022, 12, 9), "ngày 09 tháng 12 năm 2022"),
        (date(2022, 1, 14), "ngày 14 tháng 01 năm 2022"),
    ],
)
def test_the_date_line_form(day: date, text: str) -> None:
    assert vi_date_long(day) == text


@pytest.mark.parametrize(
    ("n", "vi", "en"),
    [
        (1712, "hơn 1.700", "more than 1,700"),
        (1700, "1.700", "1,700"),
        (189, "hơn 180", "more than 180"),
        (42, "42", "42"),
    ],
)
def test_rounded_down_figures_say_more_than(n: int, vi: str, en: str) -> None:
    assert (vi_about(n), en_about(n)) == (vi, en)


def test_the_vietnamese_summary_is_written_as_the_center_writes_it(summary: dict) -> None:
    # Written on the day of the review (an issued report's date): the article's words.
    text = " ".join(sentences(summary, "vi", today=date(2022, 12, 9)))
    assert (
        "Hiện nay, đội ngũ báo cáo viên của thành phố có 19 đồng chí; tuyên truyền viên chi, "
        "đảng bộ cơ sở 189 đồng chí."
    ) in text
    assert ARTICLE in text
    assert (
        "Giám đốc Trung tâm Chính trị thành phố khen thưởng cho tập thể đội ngũ tuyên truyền viên "
        "nòng cốt của 03 Chi, Đảng bộ và 05 đồng chí tuyên truyền viên nòng cốt vì có thành tích "
        "xuất sắc trong công tác thông tin thời sự của thành phố năm 2022."
    ) in text


def test_a_closed_period_is_not_written_in_the_present(summary: dict) -> None:
    """No "Hiện nay" / "đến nay" for a past period (a summary without a date of writing, or
    written after the period ended)."""
    for text in (
        render_summary(summary, "text", "vi"),
        " ".join(sentences(summary, "vi", today=date(2023, 1, 20))),
    ):
        assert "Hiện nay" not in text and "đến nay" not in text
        assert (
            "Đến ngày 31/12/2022, đội ngũ báo cáo viên của thành phố có 19 đồng chí; tuyên "
            "truyền viên chi, đảng bộ cơ sở 189 đồng chí."
        ) in text
        assert PAST in text
    english = render_summary(summary, "text", "en")
    assert "On 31 December 2022 the city had 19 reporters" in english
    assert "In 2022, the Center held 8 information conferences" in english


def test_vietnamese_is_the_default_language(summary: dict) -> None:
    assert render_summary(summary) == render_summary(summary, "text", "vi")


def test_vietnamese_tables_write_dates_and_figures_the_vietnamese_way(summary: dict) -> None:
    text = render_summary(summary, "text", "vi")
    assert "14/01/2022" in text and "2022-01-14" not in text
    assert "1.712" in text  # member attendances: grouped, never zero-padded in a table
    assert re.search(r"^thôi tham gia +1$", text, re.M)  # was "01" in a table


def test_english(summary: dict) -> None:
    text = render_summary(summary, "text", "en")
    assert "19 reporters and 189 grassroots propagandists" in text
    assert "8 information conferences and 2 thematic conferences for more than 1,700" in text


def test_markdown_and_json(summary: dict) -> None:
    md = render_summary(summary, "markdown", "vi")
    assert md.startswith("# Tổng hợp công tác thông tin thời sự năm 2022") and PAST in md
    assert "| 09/12/2022 | Hội nghị 12/2022 | thông tin, tổng kết |" in md
    data = json.loads(render_summary(summary, "json"))
    assert data == json.loads(json.dumps(summary))
    assert list(data) == [
        "attendance",
        "awards",
        "conferences",
        "period",
        "roster",
        "top_participants",
    ]


def test_a_period_that_is_not_a_year(summary: dict) -> None:
    model = ReadModel(memory_engine())
    model.apply(sample_year().events)
    s = model.annual_summary(AnnualSummaryQuery(start="2022-04-01", end="2022-06-30"))
    assert s["period"]["year"] is None and s["conferences"]["held"] == 3
    assert (
        "Từ ngày 01/04/2022 đến ngày 30/06/2022, Trung tâm đã tổ chức 02 hội nghị thông tin "
        "và 01 hội nghị chuyên đề cho hơn 510 lượt" in render_summary(s, "text", "vi")
    )


def test_unknown_format_or_language_is_refused(summary: dict) -> None:
    with pytest.raises(ValueError):
        render_summary(summary, "pdf")
    with pytest.raises(ValueError):
        render_summary(summary, "text", "fr")


def test_awards_to_others_are_worded_generally(summary: dict) -> None:
    other = {**summary, "awards": {**summary["awards"], "individual_core_propagandists": 4}}
    text = render_summary(other, "text", "vi")
    assert "Trung tâm khen thưởng cho 03 tập thể và 05 cá nhân có thành tích xuất sắc." in text


def test_chart_labels_are_never_cut_and_print_in_black() -> None:
    name = "Đảng bộ Cơ quan Mặt trận Tổ quốc và các đoàn thể chính trị - xã hội thành phố"
    svg = bar_chart("Lượt tham dự theo đơn vị", [(name, 120), ("Chi bộ 01", 40)], "c", vi_num)
    lines = re.findall(r"<tspan[^>]*>([^<]*)</tspan>", svg)
    assert " ".join(lines[:-1]) == name and all(len(t) <= 30 for t in lines)  # wrapped, whole
    assert "#b22222" not in svg and 'fill="#333"' in svg and ">120<" in svg  # value beside bar
    width = int(re.search(r'viewBox="0 0 (\d+) ', svg).group(1))  # type: ignore[union-attr]
    assert 'width="100%"' in svg and width >= 240 + 360  # scales to the page, labels inside
