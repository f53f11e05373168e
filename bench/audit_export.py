"""Bench: memory and speed of ``briefings audit export`` (and ``verify``) on a large history.

    .venv/bin/python bench/audit_export.py                    # 20,000 events (quick)
    .venv/bin/python bench/audit_export.py --events 1000000   # the figure in docs/audit.md

A fresh nats-server gets ``--events`` envelopes with valid hash chains (published directly,
``--aggregates`` subjects spread over the three streams); then ``briefings audit export`` and
``briefings audit verify FILE`` run as child processes and their peak RSS (``wait4``) and
wall time are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402

from contracts.canonical import GENESIS_HASH, canonical_json, format_datetime, sha256_hex  # noqa: E402
from contracts.subjects import event_streams  # noqa: E402
from runtime.eventstore import EventStore  # noqa: E402
from runtime.nats_server import NatsServer  # noqa: E402

CONTEXTS = ("roster", "events", "awards")


async def fill(url: str, events: int, aggregates: int) -> None:
    nc = await nats.connect(url)
    try:
        await EventStore(nc).ensure_streams(event_streams())
        js = nc.jetstream(timeout=30)
        last: dict[int, tuple[str, int]] = {}
        start = datetime(2022, 1, 1, tzinfo=UTC)
        window: list[asyncio.Future] = []
        began = time.monotonic()
        for i in range(events):
            agg = i % aggregates
            context = CONTEXTS[agg % 3]
            prev, version = last.get(agg, (GENESIS_HASH, 0))
            at = format_datetime(start + timedelta(seconds=i))
            envelope = {
                "event_id": str(uuid.UUID(int=i + 1)),
                "type": "AttendanceRecorded",
                "schema_version": 1,
                "aggregate_type": "conference",
                "aggregate_id": f"a{agg}",
                "aggregate_version": version + 1,
                "occurred_at": at,
                "recorded_at": at,
                "correlation_id": f"sheet-{agg}",
                "causation_id": f"cmd-{i}",
                "command_id": f"cmd-{i}",
                "actor": "bench",
                "prev_hash": prev,
                "payload": {
                    "conference_id": f"a{agg}",
                    "member_id": f"m{i % 5000}",
                    "unit_id": f"u{i % 40}",
                },
            }
            data = canonical_json(envelope)
            last[agg] = (sha256_hex(data), version + 1)
            window.append(await js.publish_async(f"ev.{context}.conference.a{agg}", data))
            if len(window) >= 2000:
                await asyncio.gather(*window)
                window.clear()
                if i % 100_000 < 2000:
                    print(
                        f"  published {i + 1:,} ({(i + 1) / (time.monotonic() - began):,.0f}/s)",
                        flush=True,
                    )
        await asyncio.gather(*window)
    finally:
        await nc.close()


def run_measured(args: list[str], env: dict[str, str]) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds, peak RSS in MB, exit code of a child process."""
    began = time.monotonic()
    proc = subprocess.Popen(
        args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - began
    if status:
        sys.stderr.write(proc.stderr.read().decode() if proc.stderr else "")
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, cpu, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--aggregates", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the export file")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        server = NatsServer(Path(tmp) / "nats", log_file=Path(tmp) / "nats.log").start()
        try:
            began = time.monotonic()
            asyncio.run(fill(server.url, opts.events, opts.aggregates))
            print(
                f"history: {opts.events:,} events, {opts.aggregates:,} aggregates, "
                f"written in {time.monotonic() - began:.1f}s"
            )
            env = {**os.environ, "BRIEFINGS_NATS_URL": server.url}
            out = Path(tmp) / "history.jsonl"
            briefings = [sys.executable, "-m", "briefings", "audit"]
            print(f"load average before export: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            seconds, cpu, rss, code = run_measured(
                [*briefings, "export", "-o", str(out), "--no-progress"], env
            )
            size = out.stat().st_size / 1e6
            print(
                f"export: exit {code}, {seconds:.1f}s wall, {cpu:.1f}s CPU "
                f"({opts.events / cpu:,.0f} events per CPU second), peak RSS {rss:.0f} MB, "
                f"file {size:.0f} MB"
            )
            for label, extra in (("verify file", [str(out)]), ("verify live", [])):
                seconds, cpu, rss, code = run_measured(
                    [*briefings, "verify", *extra, "--no-progress"], env
                )
                print(
                    f"{label}: exit {code}, {seconds:.1f}s wall, {cpu:.1f}s CPU, "
                    f"peak RSS {rss:.0f} MB"
                )
            if opts.keep:
                kept = ROOT / "bench" / "history.jsonl"
                out.replace(kept)
                print(f"kept {kept}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
