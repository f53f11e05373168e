"""The reporting service's composition root: connected, it builds the service whole.

Queries: ``qry.reporting.annual_summary``, ``qry.reporting.participation``,
``qry.reporting.status``, ``qry.reporting.issued_reports``. Operator requests:
``cmd.reporting.rebuild``, ``cmd.reporting.dlq_retry``. Command: ``cmd.reporting.issue_report``
(stream REPORTING, one subject per report number and year). Health detail carries ``lag`` per
stream.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client

from contracts import reporting as c
from contracts.subjects import ISSUED_REPORTS_STREAM
from runtime.aggregates import Aggregates
from runtime.commands import CommandBus
from runtime.eventstore import EventStore
from runtime.projector import state_projector
from runtime.service import Api, Service, ServiceHost
from runtime.settings import Settings
from runtime.sql import make_engine
from runtime.statestore import StateStore
from services.reporting.adapters.consumer import tune_gc
from services.reporting.application import issuing
from services.reporting.application.readmodels import ReportingApp
from services.reporting.domain.issuing import REPORT_KIND

NAME = c.SERVICE


@dataclass(frozen=True)
class ReportingQueries:
    app: ReportingApp
    reports: StateStore

    async def annual_summary(self, q: c.AnnualSummaryQuery) -> dict[str, Any]:
        return await self.app.annual_summary(q)

    async def participation(self, q: c.ParticipationQuery) -> dict[str, Any]:
        return await self.app.participation(q)

    async def status(self, _: c.StatusQuery) -> dict[str, Any]:
        return await self.app.status()

    async def issued_reports(self, q: c.IssuedReports) -> dict[str, Any]:
        return await asyncio.to_thread(issuing.issued_reports, self.reports, q)


@dataclass(frozen=True)
class ReportingOperations:
    app: ReportingApp

    async def rebuild(self, _: c.Rebuild) -> dict[str, Any]:
        return {"ok": True, "generation": await self.app.rebuild()}

    async def dlq_retry(self, r: c.RetryDeadLetter) -> dict[str, Any]:
        return await self.app.retry_dead_letter(r)


@dataclass(frozen=True)
class IssuingHandlers:
    """Issued reports: a command service of their own stream, beside the read models."""

    issue_report = staticmethod(issuing.issue_report)


async def compose(settings: Settings, es: EventStore, nc: Client) -> Service:
    await es.ensure_streams([ISSUED_REPORTS_STREAM], settings.stream_replicas)
    engine = make_engine(settings.database_url_for(NAME))
    reports = StateStore(engine, "reports")
    aggregates = Aggregates(es, reports, [REPORT_KIND])
    own = state_projector(
        es,
        reports,
        ISSUED_REPORTS_STREAM.name,
        f"own:{ISSUED_REPORTS_STREAM.name}",
        aggregates.apply_stream_batch,
        pending=aggregates.not_yet_applied,
        stall_after=settings.follower_stall_s,
    )
    app = ReportingApp(engine, es)
    return Service(
        bus=CommandBus(es, reports, aggregates),
        handlers=IssuingHandlers(),
        queries=ReportingQueries(app, reports),
        operations=ReportingOperations(app),
        followers=[own],
        on_start=[app.start],
        on_stop=[app.stop],
        health=app.health,
    )


def build(settings: Settings) -> ServiceHost:
    return ServiceHost(NAME, settings, Api.of(c, NAME), compose)


async def run(settings: Settings) -> None:
    host = build(settings)
    tune_gc()
    await host.serve()
