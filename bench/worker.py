"""One bulk measurement in its own process, so its peak memory is its own (``wait4``).

    python -m bench.worker pull|ordered NATS_URL
    python -m bench.worker project NATS_URL DATABASE_URL [SCHEMA] YEAR

Prints one JSON line: events, seconds (and the summary query's times for ``project``).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

import nats
from nats.js import api as js_api

from contracts.subjects import event_streams

STREAMS = tuple(spec.name for spec in event_streams())


async def lasts(js: Any) -> dict[str, int]:
    return {s: (await js.stream_info(s)).state.last_seq for s in STREAMS}


async def pull(url: str) -> dict[str, Any]:
    """The ceiling of catch-up: a durable pull consumer per stream (concurrently, as reporting
    runs them), fetch(1000), one ack per batch (AckPolicy.ALL), no parsing."""
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=30)
    ends = await lasts(js)
    counts: dict[str, int] = {}

    async def one(stream: str) -> None:
        await js.add_consumer(
            stream,
            js_api.ConsumerConfig(
                durable_name=f"bench_plain_{stream}",
                ack_policy=js_api.AckPolicy.ALL,
                max_ack_pending=4000,
            ),
        )
        sub = await js.pull_subscribe_bind(durable=f"bench_plain_{stream}", stream=stream)
        seen = got = 0
        while seen < ends[stream]:
            msgs = await sub.fetch(1000, timeout=10)
            seen = msgs[-1].metadata.sequence.stream
            got += len(msgs)
            await msgs[-1].ack()
        counts[stream] = got
        await js.delete_consumer(stream, f"bench_plain_{stream}")

    t0 = time.perf_counter()
    await asyncio.gather(*(one(s) for s in STREAMS if ends[s]))
    seconds = time.perf_counter() - t0
    await nc.close()
    return {"events": sum(counts.values()), "seconds": seconds}


async def ordered(url: str) -> dict[str, Any]:
    """The ceiling of a rebuild or replay: nats-py ordered consumers reading every stream."""
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=30)
    ends = await lasts(js)
    total = 0

    async def one(stream: str) -> None:
        nonlocal total
        done = asyncio.Event()

        async def cb(msg: Any) -> None:
            nonlocal total
            total += 1
            if msg.metadata.sequence.stream >= ends[stream]:
                done.set()

        sub = await js.subscribe(
            f"ev.{stream.lower()}.>",
            cb=cb,
            ordered_consumer=True,
            stream=stream,
            pending_msgs_limit=100_000,
            pending_bytes_limit=256 * 2**20,
        )
        await done.wait()
        await sub.unsubscribe()

    t0 = time.perf_counter()
    for s in STREAMS:  # one after the other, as the auditors' replay reads them
        if ends[s]:
            await one(s)
    seconds = time.perf_counter() - t0
    await nc.close()
    return {"events": total, "seconds": seconds}


async def project(url: str, database_url: str, schema: str, year: int) -> dict[str, Any]:
    """Reporting's own catch-up path (its Generation of StreamConsumers) into fresh tables,
    then the annual summary query on what it built."""
    from contracts.reporting import AnnualSummaryQuery
    from runtime.eventstore import EventStore
    from runtime.sql import make_engine
    from services.reporting.adapters.consumer import Generation
    from services.reporting.adapters.projection import Projection
    from services.reporting.read_model import ReadModel

    kwargs: dict[str, Any] = {}
    if schema:
        kwargs["connect_args"] = {"options": f"-c search_path={schema}"}
    engine = make_engine(database_url, **kwargs)
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=30)
    ends = await lasts(js)
    gen = Generation(EventStore(nc, js), Projection(engine, 1), STREAMS)
    t0 = time.perf_counter()
    await gen.start()
    reached = await asyncio.gather(*(gen.consumers[s].wait_for(ends[s], 3600) for s in STREAMS))
    assert all(reached), "the projection did not reach the end of the streams"
    seconds = time.perf_counter() - t0
    # The rebuild's own peak, before the summary query loads its facts.
    catch_up_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    events = sum(c.applied for c in gen.consumers.values())
    await gen.stop(delete=True)
    await nc.close()
    model = ReadModel(engine, 1)
    query = AnnualSummaryQuery(year=year)
    times = []
    for _ in range(3):
        q0 = time.perf_counter()
        summary = model.annual_summary(query)
        times.append(time.perf_counter() - q0)
    engine.dispose()
    return {
        "events": events,
        "seconds": seconds,
        "summary_seconds": sorted(times)[1],
        "catch_up_rss_mb": catch_up_rss,
        "summary_conferences": len(summary.get("conferences", []) or []),
    }


def main() -> None:
    kind, url, *rest = sys.argv[1:]
    if kind == "pull":
        result = asyncio.run(pull(url))
    elif kind == "ordered":
        result = asyncio.run(ordered(url))
    elif kind == "project":
        result = asyncio.run(project(url, rest[0], rest[1], int(rest[2])))
    else:
        raise SystemExit(f"unknown measurement {kind}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
