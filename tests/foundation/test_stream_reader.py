"""Reading a stream without a consumer (runtime/streamreader.py, EventStore.iterate): every
message in order from a given sequence, large ones across batches cut by bytes, and a tail
that follows what is appended later."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client

from runtime.eventstore import EventStore
from runtime.streamreader import ReadMsg, StreamTail

BIG = 200 * 1024  # 30 of these are more than one batch's byte limit


async def test_iterate_and_tail_read_every_message_in_order_across_byte_limited_batches(
    nc: Client,
) -> None:
    js = nc.jetstream()
    await js.add_stream(name="BIG", subjects=["big.>"], max_msg_size=256 * 1024, allow_direct=True)
    for n in range(30):
        await js.publish(f"big.{n % 3}", bytes([n]) * BIG, headers={"Nats-Msg-Id": f"m{n}"})
    es = EventStore(nc)
    read = [e async for e in es.iterate("BIG", start=5)]
    assert [e.sequence for e in read] == list(range(5, 31))
    assert all(e.data == bytes([e.sequence - 1]) * BIG for e in read)
    assert read[0].msg_id == "m4" and read[0].headers == {"Nats-Msg-Id": "m4"}
    assert read[0].time is not None

    seen: list[int] = []
    done = asyncio.Event()

    async def on_batch(msgs: list[ReadMsg]) -> None:
        seen.extend(m.sequence for m in msgs)
        if seen and seen[-1] >= 32:
            done.set()

    tail = await StreamTail(nc, "BIG", ["big.>"], 2, on_batch).start()
    try:
        for n in (30, 31):  # appended while it follows
            await js.publish(f"big.{n}", b"late")
        await done.wait()
    finally:
        await tail.stop()
    assert seen == list(range(2, 33))
