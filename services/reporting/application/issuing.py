"""Issuing a report: the command handler and the list of issued reports."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from contracts.replies import CommandAccepted
from contracts.reporting import REPORT, IssuedReports, IssueReport
from runtime.commands import CommandContext, UnitOfWork
from runtime.statestore import StateStore
from services.reporting.domain.issuing import REPORT_KIND, decide_issue, report_id


async def issue_report(cmd: IssueReport, ctx: CommandContext, uow: UnitOfWork) -> CommandAccepted:
    rid = report_id(cmd.number, cmd.issued_on)
    loaded = await uow.load(REPORT_KIND, rid)
    return await uow.record(loaded, decide_issue(loaded.state, cmd, rid))


def issued_reports(store: StateStore, query: IssuedReports) -> dict[str, Any]:
    """Every issued report (``ReportIssued`` as recorded), by date and number."""
    snap = store.tables.snapshots
    with store.engine.connect() as conn:
        rows = conn.execute(select(snap.c.state).where(snap.c.aggregate_type == REPORT)).all()
    reports = [json.loads(r.state)["issued"] for r in rows]
    reports = [
        r
        for r in reports
        if (query.number is None or r["number"] == query.number)
        and (query.year is None or r["issued_on"][:4] == str(query.year))
    ]
    reports.sort(key=lambda r: (r["issued_on"], r["number"]))
    return {"reports": reports}
