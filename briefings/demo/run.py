"""``briefings up --demo``: load the sample year into an empty store, wait until reporting
has read it all, and print the 2022 annual summary in Vietnamese and in English."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import typer
from nats.js.errors import NotFoundError

from briefings.client import Client_, RequestFailed
from briefings.demo.generator import DEFAULT_SEED, YEAR, plan_year
from briefings.demo.load import DemoLoadFailed, is_store_empty, load_with_progress
from briefings.report.formats import render_summary
from briefings.terminal import console, err_console, escape, write_out
from contracts.subjects import CONTEXTS, query_subject, stream_name
from runtime.connection import connect
from runtime.settings import Settings


class ReportingLagging(Exception):
    pass


async def stream_ends(settings: Settings) -> dict[str, int]:
    """The last sequence of each event stream: what reporting must have read."""
    nc = await connect(settings, "briefings-demo", allow_reconnect=False)
    try:
        js = nc.jetstream()
        ends = {}
        for context in CONTEXTS:
            try:
                info = await js.stream_info(stream_name(context))
            except NotFoundError:
                continue  # no stream yet: nothing for reporting to read
            ends[stream_name(context)] = int(info.state.last_seq)
        return ends
    finally:
        await nc.close()


def positions_of(status: dict[str, Any]) -> dict[str, int]:
    """Reporting's per-stream positions from its status reply
    (``{"lag": {"ROSTER": {"applied": n, "last": m}, ...}}``)."""
    lag = status.get("lag") or {}
    return {str(k).upper(): int(v.get("applied", 0)) for k, v in lag.items()}


async def wait_until_reported(settings: Settings, timeout: float = 120.0) -> dict[str, int]:
    """Poll ``qry.reporting.status`` until every stream is read up to its current end."""
    ends = await stream_ends(settings)
    deadline = time.monotonic() + timeout
    last: dict[str, int] = {}
    async with Client_(settings) as client:
        while time.monotonic() < deadline:
            try:
                reply = await client.request(query_subject("reporting", "status"), {})
                last = positions_of(reply["data"])
                if all(last.get(stream, 0) >= end for stream, end in ends.items()):
                    return last
            except RequestFailed:
                pass  # reporting may be restarting or rebuilding; keep asking
            await asyncio.sleep(0.25)
    raise ReportingLagging(f"reporting has read {last}, the streams end at {ends}")


async def annual_summary(settings: Settings, year: int = YEAR) -> dict[str, Any]:
    async with Client_(settings) as client:
        reply = await client.request(query_subject("reporting", "annual_summary"), {"year": year})
    data: dict[str, Any] = reply["data"]
    return data


async def prepare(
    settings: Settings, seed: int = DEFAULT_SEED, show_progress: bool = True
) -> dict[str, Any]:
    """Load the year if the store is empty, then wait for reporting; the summary."""
    if await is_store_empty(settings):
        report = await load_with_progress(plan_year(seed), settings, show=show_progress)
        err_console.print(
            f"loaded the 2022 sample year: {report.sent} commands in {report.seconds:.1f} s"
        )
    else:
        err_console.print("the store already holds events: not loading the sample year")
    await wait_until_reported(settings)
    return await annual_summary(settings)


def show_demo(settings: Settings, seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """Called by ``briefings up --demo``; prints the summary and returns it."""
    try:
        summary = asyncio.run(prepare(settings, seed, show_progress=sys.stderr.isatty()))
    except (DemoLoadFailed, ReportingLagging) as exc:
        err_console.print(f"[bold red]the sample year could not be shown[/]: {escape(exc)}")
        raise typer.Exit(1) from exc
    except RequestFailed as exc:
        err_console.print(
            f"[bold red]{escape(exc.reply['code'])}[/]: {escape(exc.reply['message'])}"
        )
        raise typer.Exit(1) from exc
    for lang, heading in (("vi", "Tổng kết năm 2022"), ("en", "The 2022 annual summary")):
        console.rule(heading)
        write_out(render_summary(summary, "text", lang) + "\n")
    return summary
