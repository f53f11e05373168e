"""Issuing, the rule: a report's number and symbol is used once a year (given / when / then)."""

from __future__ import annotations

from datetime import date

import pytest

from contracts.reporting import IssueReport, Signer
from services.reporting.domain.issuing import (
    ReportNumberMustBeUnused,
    decide_issue,
    evolve,
    report_id,
)

pytestmark = pytest.mark.fast


def _command(number: str, day: date) -> IssueReport:
    return IssueReport(
        command_id="c1",
        number=number,
        issued_on=day,
        query={"year": 2022},
        summary_line="tổng kết",
        signer=Signer(name="A"),
        recipients=["B"],
        narrative_digest="0" * 64,
        summary_receipt={},
        template_digest="0" * 64,
        documents={},
    )


def test_a_number_is_used_once_a_year() -> None:
    cmd = _command("45-BC/TTCT", date(2022, 12, 9))
    rid = report_id(cmd.number, cmd.issued_on)
    [issued] = decide_issue(None, cmd, rid)
    state = evolve(None, issued)
    with pytest.raises(ReportNumberMustBeUnused, match="already used in 2022"):
        decide_issue(state, _command("45-BC/TTCT", date(2022, 12, 20)), rid)
    # The same subject whatever the day of that year; numbering starts again each year.
    assert report_id("45-BC/TTCT", date(2022, 1, 2)) == rid
    assert report_id("45-BC/TTCT", date(2023, 1, 2)) != rid


@pytest.mark.parametrize("number", ["45/TTCT", "BC-45", "45-bc/ttct", "45-BC/TTCT/x y"])
def test_a_number_not_in_the_guide_form_is_refused(number: str) -> None:
    with pytest.raises(ValueError):
        _command(number, date(2022, 12, 9))
