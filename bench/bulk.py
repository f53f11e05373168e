"""The bulk figures on one realistic history: projection catch-up (SQLite, PostgreSQL),
rebuild memory, the auditors' replay, the annual summary query and the export.

Each measurement runs in its own child process (``bench.worker`` or the ``briefings`` CLI),
so its peak RSS is its own; ceilings are plain nats-py children reading the same streams.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import nats

from bench.common import Row, Stopwatch, run_measured
from bench.history import Shape, publish_history, shape

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def worker(kind: str, url: str, *args: str) -> tuple[dict[str, float], float]:
    _s, rss, out = run_measured([sys.executable, "-m", "bench.worker", kind, url, *args])
    return json.loads(out.strip().splitlines()[-1]), rss


async def fill(url: str, s: Shape) -> float:
    nc = await nats.connect(url)
    try:
        with Stopwatch() as w:
            await publish_history(nc, s, progress=s.events >= 200_000)
    finally:
        await nc.close()
    return w.seconds


def pg_schema(action: str, schema: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(
            PG_URL.replace("postgresql://", "postgresql://", 1), autocommit=True, connect_timeout=5
        ) as conn:
            if action == "create":
                conn.execute(f"CREATE SCHEMA {schema}")
            else:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        return True
    except Exception as exc:  # no PostgreSQL here: its rows are left out, and said so
        print(f"PostgreSQL unavailable ({exc}); skipping its figures", file=sys.stderr)
        return False


def bulk(url: str, events: int, tmp: Path, wanted: set[str], postgres: bool = True) -> list[Row]:
    s = shape(events)
    seconds = asyncio.run(fill(url, s))
    print(
        f"history: {events:,} events ({s.cities} cities × {s.years} years) stored in "
        f"{seconds:.1f}s",
        file=sys.stderr,
    )
    rows: list[Row] = []
    n = f"{events:,}"
    year = str(s.last_year)
    ordered: tuple[float, float] | None = None

    def ordered_ceiling() -> tuple[float, float]:
        nonlocal ordered
        if ordered is None:
            plain, plain_rss = worker("ordered", url)
            ordered = (plain["events"] / plain["seconds"], plain_rss)
        return ordered

    if wanted & {"projection", "summary", "rebuild"}:
        plain, _ = worker("pull", url)
        ceiling = plain["events"] / plain["seconds"]
        ours, rss = worker("project", url, f"sqlite:///{tmp / 'reporting.db'}", "", year)
        rate = ours["events"] / ours["seconds"]
        rows.append(
            Row(
                f"projection catch-up, SQLite, {n} events",
                rate,
                ceiling,
                "events/s",
                f"{ours['seconds']:.1f} s; ceiling: pull fetch(1000) + ack, no processing",
            )
        )
        o_rate, o_rss = ordered_ceiling()
        rows.append(
            Row(
                f"rebuild (reporting's catch-up into fresh SQLite tables), {n} events",
                rate,
                o_rate,
                "events/s",
                f"{ours['seconds']:.1f} s, peak {ours['catch_up_rss_mb']:.0f} MB "
                f"(ceiling's {o_rss:.0f} MB); ceiling: ordered consumer",
            )
        )
        rows.append(
            Row(
                f"  rebuild peak memory, {n} events",
                ours["catch_up_rss_mb"],
                None,
                "MB",
                f"target < 300 MB at 1,000,000; {rss:.0f} MB once the summary query "
                "below has loaded its facts",
            )
        )
        rows.append(
            Row(
                f"annual summary {year}, SQLite, history of {n}",
                ours["summary_seconds"] * 1000,
                None,
                "ms",
                "ReadModel.annual_summary, median of 3; target < 200 ms at 1,000,000",
            )
        )
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        if postgres and pg_schema("create", schema):
            try:
                ours, rss = worker("project", url, PG_URL, schema, year)
            finally:
                pg_schema("drop", schema)
            rate = ours["events"] / ours["seconds"]
            rows.append(
                Row(
                    f"projection catch-up, PostgreSQL, {n} events",
                    rate,
                    ceiling,
                    "events/s",
                    f"{ours['seconds']:.1f} s; peak {rss:.0f} MB",
                )
            )
            rows.append(
                Row(
                    f"annual summary {year}, PostgreSQL, history of {n}",
                    ours["summary_seconds"] * 1000,
                    None,
                    "ms",
                    "median of 3",
                )
            )
    env = {**os.environ, "BRIEFINGS_NATS_URL": url}
    briefings = [sys.executable, "-m", "briefings", "audit"]
    if "replay" in wanted:
        ceiling, plain_rss = ordered_ceiling()
        seconds, rss, _ = run_measured(
            [*briefings, "replay", year, "--format", "json", "-o", str(tmp / "summary.json")], env
        )
        rows.append(
            Row(
                f"audit replay (briefings audit replay), {n} events",
                events / seconds,
                ceiling,
                "events/s",
                f"{seconds:.1f} s, peak {rss:.0f} MB (ceiling's {plain_rss:.0f} MB); "
                "ceiling: ordered consumer, no processing",
            )
        )
    if "export" in wanted:
        out = tmp / "history.jsonl"
        seconds, rss, _ = run_measured([*briefings, "export", "-o", str(out), "--no-progress"], env)
        size = out.stat().st_size / 1e6
        out.unlink()
        rows.append(
            Row(
                f"export (briefings audit export), {n} events",
                seconds,
                None,
                "s",
                f"{events / seconds:,.0f} events/s, peak {rss:.0f} MB, file {size:.0f} MB",
            )
        )
    return rows
