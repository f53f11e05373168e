"""The reporting service's composition root: settings in, a running ServiceHost out.

Queries: ``qry.reporting.annual_summary``, ``qry.reporting.participation``,
``qry.reporting.status``, ``qry.reporting.issued_reports``. Operator requests:
``cmd.reporting.rebuild``, ``cmd.reporting.dlq_retry``. Command: ``cmd.reporting.issue_report``
(stream REPORTING, one subject per report number and year). Health detail carries ``lag`` per
stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.nats.annotations import NatsMessage
from pydantic import BaseModel

from contracts import reporting as c
from contracts.replies import ErrorCode, ErrorReply
from contracts.subjects import ISSUED_REPORTS_STREAM, command_subject
from runtime.commands import Aggregates, CommandBus
from runtime.domain import DomainError
from runtime.eventstore import EventStore
from runtime.logging import get_logger
from runtime.projector import state_projector
from runtime.service import ServiceHost, domain_error, parse_request
from runtime.settings import Settings
from runtime.sql import make_engine
from runtime.statestore import StateStore
from services.reporting.adapters.consumer import tune_gc
from services.reporting.application import issuing
from services.reporting.application.readmodels import ReportingApp
from services.reporting.domain.issuing import REPORT_KIND

NAME = c.SERVICE
log = get_logger(__name__)


async def _raw(msg: NatsMessage) -> bytes:
    return msg.body


def _operation(
    host: ServiceHost,
    name: str,
    model: type[BaseModel],
    fn: Callable[[Any], Awaitable[dict[str, Any]]],
) -> None:
    """A request that acts on the read models (not an aggregate command): reply ok or error."""

    async def handle(msg: NatsMessage) -> bytes:
        parsed = parse_request(model, msg.body)
        if isinstance(parsed, ErrorReply):
            return parsed.model_dump_json().encode()
        try:
            return json.dumps(await fn(parsed), ensure_ascii=False).encode()
        except DomainError as exc:
            return domain_error(exc).model_dump_json().encode()
        except Exception as exc:
            log.exception("operation failed", operation=name)
            return (
                ErrorReply(code=ErrorCode.INTERNAL, message=f"internal error: {type(exc).__name__}")
                .model_dump_json()
                .encode()
            )

    handle.__name__ = f"op_{name}"
    host.broker.subscriber(
        command_subject(NAME, name),
        queue=f"{NAME}-workers",
        decoder=_raw,
        title=f"reporting {name}",
        description=f"{model.__name__}; replies ok or ErrorReply",
    )(handle)


def build(settings: Settings) -> ServiceHost:
    host = ServiceHost(NAME, settings)
    engine = make_engine(settings.database_url_for(NAME))
    state: dict[str, ReportingApp] = {}

    def app() -> ReportingApp:
        return state["app"]

    host.query(NAME, "annual_summary", c.AnnualSummaryQuery, lambda q: app().annual_summary(q))
    host.query(NAME, "participation", c.ParticipationQuery, lambda q: app().participation(q))
    host.query(NAME, "status", c.StatusQuery, lambda q: app().status())

    # Issued reports: a command service of their own stream, beside the read models.
    store = StateStore(engine, "reports")
    host.command(NAME, "issue_report", c.IssueReport, issuing.issue_report)

    async def issued(q: c.IssuedReports) -> dict[str, Any]:
        return await asyncio.to_thread(issuing.issued_reports, store, q)

    host.query(NAME, "issued_reports", c.IssuedReports, issued)

    async def rebuild(_: c.Rebuild) -> dict[str, Any]:
        return {"ok": True, "generation": await app().rebuild()}

    _operation(host, "rebuild", c.Rebuild, rebuild)
    _operation(host, "dlq_retry", c.RetryDeadLetter, lambda r: app().retry_dead_letter(r))

    async def start(es: EventStore) -> None:
        await es.ensure_streams([ISSUED_REPORTS_STREAM], settings.stream_replicas)
        aggregates = Aggregates(es, store, [REPORT_KIND])
        host.bus = CommandBus(es, store, aggregates)
        own = state_projector(
            es,
            store,
            ISSUED_REPORTS_STREAM.name,
            f"own:{ISSUED_REPORTS_STREAM.name}",
            aggregates.apply_stream_batch,
            pending=aggregates.not_yet_applied,
            stall_after=settings.follower_stall_s,
        )
        await own.start()
        host.on_stop.append(own.stop)
        await own.catch_up()
        state["app"] = ReportingApp(engine, es)
        await state["app"].start()
        host.on_stop.append(state["app"].stop)
        reporting = state["app"]

        async def detail() -> dict[str, Any]:
            return await reporting.health([own])

        host.health_detail = detail

    host.setup = start
    return host


async def run(settings: Settings) -> None:
    host = build(settings)
    tune_gc()
    await host.serve()
