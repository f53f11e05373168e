"""Rebuilds: on a projection version change, on demand, and after kill -9 in the middle."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from nats.aio.client import Client
from sqlalchemy import inspect

from contracts.reporting import AnnualSummaryQuery
from contracts.subjects import event_streams
from runtime.eventstore import EventStore
from runtime.settings import Settings
from runtime.sql import make_engine
from services.reporting.read_model import PROJECTION_VERSION, Meta, ReadModel, memory_engine
from tests.reporting.factories import busy_years, publish
from tests.support import request, running_service, wait_healthy

Y2022 = AnnualSummaryQuery(year=2022)


async def _status(nc: Client) -> dict[str, Any]:
    return (await request(nc, "qry.reporting.status", {}, timeout=20))["data"]  # type: ignore[no-any-return]


async def _switched(nc: Client, generation: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = await _status(nc)
        if (
            status["generation"] == generation
            and status["rebuild"] is None
            and all(v["applied"] == v["last"] for v in status["lag"].values())
        ):
            return status
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.2)


def _clean(events: list[Any]) -> ReadModel:
    model = ReadModel(memory_engine())
    for i in range(0, len(events), 2000):
        model.apply(events[i : i + 2000])
    return model


def _tables(url: str) -> set[str]:
    return {n for n in inspect(make_engine(url)).get_table_names() if n.startswith("reporting_g")}


async def test_a_new_projection_version_rebuilds_while_old_tables_answer(
    settings: Settings, nc: Client, database_url: str
) -> None:
    settings = settings.with_(database_url=database_url)
    events = busy_years(20).events
    await EventStore(nc).ensure_streams(event_streams())
    await publish(nc.jetstream(), events)
    url = settings.database_url_for("reporting")
    # tables written by an older version of the code, from part of the history
    engine = make_engine(url)
    old = ReadModel(engine)
    old.apply(events[:300])
    Meta(engine).set(active_version="0")
    old_summary = old.annual_summary(Y2022)
    clean = _clean(events)

    async with running_service("reporting", settings):
        await wait_healthy(nc, "reporting")
        summary = (await request(nc, "qry.reporting.annual_summary", {"year": 2022}))["data"]
        status = await _status(nc)
        if status["rebuild"] is not None:  # answered while the rebuild was still running
            # The old version's tables carry no digests of this version: no receipt then.
            assert summary.pop("receipt") is None and summary.pop("receipt_unavailable")
            assert status["generation"] == 1 and summary == old_summary
            assert status["rebuild"]["generation"] == 2
        await _switched(nc, 2)
        summary = (await request(nc, "qry.reporting.annual_summary", {"year": 2022}))["data"]
        assert summary.pop("receipt")["events"] == len(events)
        assert summary == clean.annual_summary(Y2022)
    assert ReadModel(make_engine(url)).dump() == clean.dump()
    assert Meta(make_engine(url)).active() == (2, PROJECTION_VERSION)
    assert not any(n.startswith("reporting_g1_") for n in _tables(url))
