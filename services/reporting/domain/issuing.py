"""Issued reports: a report's number is used once a year. Pure decide / evolve, no I/O."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict

from contracts.calendar import derived_id
from contracts.envelope import DomainEvent
from contracts.reporting import REPORT, SERVICE, IssueReport, ReportIssued
from runtime.domain import AggregateKind, AlreadyExists


class IssuedReport(BaseModel):
    """The state of a report aggregate: the event that issued it."""

    model_config = ConfigDict(frozen=True)

    issued: dict[str, Any]


def report_id(number: str, issued_on: date) -> str:
    """The aggregate of ``number`` in the year of ``issued_on``: its subject holds at most one
    ``ReportIssued``, so a second issue with the number is refused by the store itself
    (36-HD/VPTW numbers a body's documents afresh from 01 each 1 January)."""
    return derived_id(f"{issued_on.year}:{number.strip().upper()}", "report-number")


class ReportNumberMustBeUnused(AlreadyExists):
    """A number and symbol is given to one document a year."""


def evolve(state: IssuedReport | None, event: DomainEvent) -> IssuedReport:
    if isinstance(event, ReportIssued):
        return IssuedReport(issued=event.model_dump(mode="json"))
    raise TypeError(f"a report does not apply {type(event).__name__}")


REPORT_KIND: AggregateKind[IssuedReport] = AggregateKind(SERVICE, REPORT, IssuedReport, evolve)


def decide_issue(state: IssuedReport | None, cmd: IssueReport, rid: str) -> list[DomainEvent]:
    if state is not None:
        raise ReportNumberMustBeUnused(
            f"number {cmd.number} is already used in {cmd.issued_on.year}: "
            f"report issued on {state.issued['issued_on']}",
            number=cmd.number,
            issued_on=state.issued["issued_on"],
        )
    fields = cmd.model_dump(exclude={"command_id", "actor", "correlation_id", "occurred_at"})
    return [ReportIssued(report_id=rid, **fields)]
