"""Catch-up throughput: the projection against plain nats-py consumption of the same stream.

    .venv/bin/python -m bench.catchup [events] [database-url]

Starts its own nats-server in a temp folder, stores about ``events`` events, then measures
(1) a plain nats-py pull consumer (fetch 1000, one ack per batch, no parsing) and (2) the
reporting consumers catching up into fresh tables.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import nats
from nats.js import api as js_api

from runtime.eventstore import EventStore
from runtime.nats_server import NatsServer
from runtime.sql import make_engine
from services.reporting.adapters.consumer import Generation, tune_gc
from services.reporting.adapters.projection import STREAMS, Projection


async def main(total: int, url: str | None) -> None:
    from tests.reporting.factories import busy_years, publish  # a dev tool: test data

    tmp = Path(tempfile.mkdtemp(prefix="reporting-bench-"))
    server = NatsServer(tmp / "nats", log_file=tmp / "nats.log").start()
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream(timeout=10)
        events = busy_years(max(1, total // 208)).events
        await publish(js, events)
        n = len(events)
        tune_gc()  # for both measurements, as the service does

        t0 = time.perf_counter()
        got = 0
        for s in STREAMS:
            await js.add_consumer(
                s,
                js_api.ConsumerConfig(
                    durable_name=f"plain_{s}", ack_policy=js_api.AckPolicy.ALL, max_ack_pending=4000
                ),
            )
            sub = await js.pull_subscribe_bind(durable=f"plain_{s}", stream=s)
            last = (await js.stream_info(s)).state.last_seq
            seen = 0
            while seen < last:
                msgs = await sub.fetch(1000, timeout=5)
                seen = msgs[-1].metadata.sequence.stream
                got += len(msgs)
                await msgs[-1].ack()
        plain = got / (time.perf_counter() - t0)

        engine = make_engine(url or f"sqlite:///{tmp / 'reporting.db'}")
        gen = Generation(EventStore(nc, js), Projection(engine, 1), STREAMS)
        t0 = time.perf_counter()
        await gen.start()
        lasts = {s: (await js.stream_info(s)).state.last_seq for s in STREAMS}
        for s in STREAMS:
            await gen.consumers[s].wait_for(lasts[s], 600)
        projected = n / (time.perf_counter() - t0)
        await gen.stop(delete=True)
        gen.projection.drop()
        print(
            f"events: {n}; plain nats-py: {plain:,.0f}/s; projection ({engine.dialect.name}): "
            f"{projected:,.0f}/s = {projected / plain:.0%}"
        )
        await nc.close()
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 50_000,
            sys.argv[2] if len(sys.argv) > 2 else None,
        )
    )
