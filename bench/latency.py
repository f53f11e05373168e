"""End-to-end latency at a steady rate: a command sent → its event visible in reporting.

Roster and reporting run as real service processes. Commands (enroll_member) go out
open-loop at ``rate`` per second, each as its own request. An ordered consumer on the ROSTER
stream maps each event id to its stream sequence; one poller asks reporting for its status
(``qry.reporting.status``: the applied position per stream) back to back, and an event is
visible at the first status reply whose applied ROSTER position covers its sequence. The
figure therefore includes up to one status round trip of polling delay.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import nats

from bench.commands import wait_health
from bench.common import Row, median, percentile, service_process


async def end_to_end(nats_url: str, rate: float, seconds: float, tmp: Path) -> list[Row]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream(timeout=30)
    with (
        service_process("roster", nats_url, tmp / "latency"),
        service_process("reporting", nats_url, tmp / "latency"),
    ):
        await wait_health(nc, "roster")
        await wait_health(nc, "reporting")
        unit = {
            "command_id": "lat-unit",
            "kind": "party_cell",
            "name": "Chi bộ Latency",
            "unit_id": "lat",
        }
        await nc.request("cmd.roster.register_unit", json.dumps(unit).encode(), timeout=30)

        seq_of: dict[str, int] = {}

        async def on_event(msg: Any) -> None:
            seq_of[json.loads(msg.data)["event_id"]] = msg.metadata.sequence.stream

        sub = await js.subscribe("ev.roster.>", cb=on_event, ordered_consumer=True, stream="ROSTER")
        sent_at: dict[str, float] = {}  # event id -> when its command was sent
        visible: list[float] = []
        replies: list[float] = []
        errors = 0
        done_sending = asyncio.Event()

        async def command(i: int) -> None:
            nonlocal errors
            body = {
                "command_id": f"lat-{i}",
                "full_name": f"Lê Thị {i}",
                "role": "propagandist",
                "unit_id": "lat",
                "effective_on": "2022-01-01",
            }
            t0 = time.perf_counter()
            try:
                msg = await nc.request(
                    "cmd.roster.enroll_member", json.dumps(body).encode(), timeout=30
                )
            except Exception:
                errors += 1
                return
            reply = json.loads(msg.data)
            if not reply.get("ok"):
                errors += 1
                return
            if i < warmup:  # the first second warms caches and connections: not counted
                return
            replies.append(time.perf_counter() - t0)
            sent_at[reply["event_ids"][0]] = t0

        async def poller() -> None:
            while not (done_sending.is_set() and not sent_at):
                try:
                    msg = await nc.request("qry.reporting.status", b"{}", timeout=10)
                except Exception:
                    continue
                now = time.perf_counter()
                body = json.loads(msg.data)
                applied = body.get("data", body).get("lag", {}).get("ROSTER", {}).get("applied", 0)
                for event_id in [k for k in list(sent_at) if seq_of.get(k, 1 << 62) <= applied]:
                    visible.append(now - sent_at.pop(event_id))
                await asyncio.sleep(0.001)

        polling = asyncio.create_task(poller())
        tasks = []
        warmup = int(rate)
        total = int(rate * seconds) + warmup
        start = time.perf_counter()
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(command(i)))
        await asyncio.gather(*tasks)
        achieved = total / (time.perf_counter() - start)
        if errors:
            print(f"latency: {errors} commands failed", flush=True)
        done_sending.set()
        try:
            await asyncio.wait_for(polling, 60)
        except TimeoutError:
            pass
        await sub.unsubscribe()
    await nc.close()
    note = (
        f"{total - warmup} enroll_member (after {warmup} warm-up) at {achieved:.0f}/s; "
        "reply p50 "
        f"{median(replies) * 1000:.1f} ms, p99 {percentile(replies, 99) * 1000:.1f} ms; "
        f"{errors} errors; {len(visible)} seen"
    )
    return [
        Row(
            f"end-to-end latency p50 at {rate:.0f} cmd/s (sent → in reporting)",
            median(visible) * 1000,
            None,
            "ms",
            note,
        ),
        Row(
            f"end-to-end latency p99 at {rate:.0f} cmd/s",
            percentile(visible, 99) * 1000,
            None,
            "ms",
            "target < 100 ms; includes one status poll round trip",
        ),
    ]
