"""Command throughput and aggregate load time, each beside its raw nats-py ceiling."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import nats
from nats.aio.client import Client

from bench.common import Row, cpu_seconds, median, percentile, service_process
from contracts import roster as c
from contracts.envelope import EventEnvelope
from contracts.subjects import event_streams, event_subject
from runtime.aggregates import Aggregates
from runtime.eventstore import EventStore
from runtime.sql import make_engine
from runtime.statestore import StateStore


async def wait_health(nc: Client, service: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = await nc.request(f"health.{service}", b"{}", timeout=1)
            if json.loads(msg.data).get("healthy"):
                return
        except Exception:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{service} not healthy")


def envelope_bytes(aggregate_id: str, version: int, event: c.DomainEvent) -> bytes:
    now = datetime.now(UTC)
    return EventEnvelope(
        event_id=uuid.uuid4(),
        type=event.event_type,
        schema_version=1,
        aggregate_type=c.MEMBER,
        aggregate_id=aggregate_id,
        aggregate_version=version,
        occurred_at=now,
        recorded_at=now,
        correlation_id="bench",
        causation_id="bench",
        command_id=None,
        actor="bench",
        payload=event.model_dump(mode="json"),
    ).to_canonical()


def core_event(member_id: str, version: int) -> c.DomainEvent:
    cls = c.MemberCoreFlagSet if version % 2 else c.MemberCoreFlagCleared
    return cls(member_id=member_id, effective_on=datetime(2022, 1, 1).date())


async def command_throughput(nats_url: str, commands: int, clients: int, tmp: Path) -> list[Row]:
    nc = await nats.connect(nats_url)
    rows: list[Row] = []
    with service_process("roster", nats_url, tmp / "roster") as proc:
        await wait_health(nc, "roster")
        unit = {
            "command_id": "bench-unit",
            "kind": "party_cell",
            "name": "Chi bộ Bench",
            "unit_id": "bench",
        }
        await nc.request("cmd.roster.register_unit", json.dumps(unit).encode(), timeout=10)
        latencies: list[float] = []
        errors = 0
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(commands):
            queue.put_nowait(i)

        async def client() -> None:
            nonlocal errors
            while not queue.empty():
                i = queue.get_nowait()
                body = {
                    "command_id": f"bench-{i}",
                    "full_name": f"Nguyễn Văn {i}",
                    "role": "propagandist",
                    "unit_id": "bench",
                    "effective_on": "2022-01-01",
                }
                t0 = time.perf_counter()
                msg = await nc.request(
                    "cmd.roster.enroll_member", json.dumps(body).encode(), timeout=30
                )
                latencies.append(time.perf_counter() - t0)
                if not json.loads(msg.data).get("ok"):
                    errors += 1

        cpu0 = cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - t0
        cpu_ms = (cpu_seconds(proc.pid) - cpu0) / commands * 1000
    ours = commands / elapsed
    p50, p99 = median(latencies) * 1000, percentile(latencies, 99) * 1000

    # The raw ceiling: the same events, plain nats-py, expected-sequence header.
    js = nc.jetstream()
    await js.add_stream(name="RAWCMD", subjects=["raw.>"])
    payloads = [envelope_bytes(f"r{i}", 1, core_event(f"r{i}", 1)) for i in range(commands)]
    t0 = time.perf_counter()
    for i, data in enumerate(payloads):
        await js.publish(
            f"raw.member.r{i}",
            data,
            headers={"Nats-Expected-Last-Subject-Sequence": "0", "Nats-Msg-Id": str(uuid.uuid4())},
        )
    one_at_a_time = commands / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    window = 1000
    for start in range(0, commands, window):
        futures = [
            await js.publish_async(
                f"raw.window.w{i}",
                data,
                headers={
                    "Nats-Expected-Last-Subject-Sequence": "0",
                    "Nats-Msg-Id": str(uuid.uuid4()),
                },
            )
            for i, data in enumerate(payloads[start : start + window], start)
        ]
        await asyncio.wait_for(asyncio.gather(*futures), 30)
    windowed = commands / (time.perf_counter() - t0)
    await nc.close()
    note = (
        f"{clients} clients, p50 {p50:.1f} ms, p99 {p99:.1f} ms, {errors} errors, "
        f"service CPU {cpu_ms:.2f} ms/command"
    )
    rows.append(
        Row(
            f"command throughput (enroll_member, {commands})",
            ours,
            one_at_a_time,
            "cmd/s",
            note + "; ceiling: js.publish one at a time",
        )
    )
    rows.append(
        Row(
            "  … against windowed publish_async",
            ours,
            windowed,
            "cmd/s",
            "ceiling: publish_async, windows of 1000",
        )
    )
    return rows


async def aggregate_load(nats_url: str, sizes: tuple[int, ...]) -> list[Row]:
    nc = await nats.connect(nats_url)
    es = EventStore(nc)
    await es.ensure_streams(event_streams())
    rows: list[Row] = []
    from services.roster.domain.members import MEMBER  # the real kind: evolve is the real fold

    for size in sizes:
        member_id = f"load{size}-{uuid.uuid4().hex[:6]}"
        subject = event_subject("roster", "member", member_id)
        enrolled = c.MemberEnrolled(
            member_id=member_id,
            full_name="Trần Thị Bench",
            role=c.Role.PROPAGANDIST,
            unit_id="bench",
            effective_on=datetime(2022, 1, 1).date(),
        )
        seq = 0
        for version in range(1, size + 1):
            event = enrolled if version == 1 else core_event(member_id, version)
            ack = await es.js.publish(
                subject,
                envelope_bytes(member_id, version, event),
                headers={"Nats-Expected-Last-Subject-Sequence": str(seq)},
            )
            seq = ack.seq
        cold, warm, raw = [], [], []
        for _ in range(5):
            with tempfile.TemporaryDirectory() as tmp:
                store = StateStore(make_engine(f"sqlite:///{tmp}/s.db"), "bench")
                aggregates = Aggregates(es, store, [MEMBER])
                t0 = time.perf_counter()
                loaded = await aggregates.load(MEMBER, member_id)
                cold.append(time.perf_counter() - t0)
                assert loaded.version == size
                t0 = time.perf_counter()
                await aggregates.load(MEMBER, member_id)
                warm.append(time.perf_counter() - t0)
                store.engine.dispose()
            t0 = time.perf_counter()
            done = asyncio.Event()
            counter = [0]

            async def cb(
                msg: object,
                counter: list[int] = counter,
                size: int = size,
                done: asyncio.Event = done,
            ) -> None:
                counter[0] += 1
                if counter[0] == size:
                    done.set()

            sub = await es.js.subscribe(subject, cb=cb, ordered_consumer=True)
            await asyncio.wait_for(done.wait(), 30)
            raw.append(time.perf_counter() - t0)
            await sub.unsubscribe()
        rows.append(
            Row(
                f"aggregate load, {size} events, no snapshot",
                median(cold) * 1000,
                median(raw) * 1000,
                "ms",
                "batched direct get + fold; ceiling: ordered consumer read",
            )
        )
        rows.append(
            Row(
                f"aggregate load, {size} events, current snapshot",
                median(warm) * 1000,
                median(raw) * 1000,
                "ms",
                "snapshot + subject's last sequence",
            )
        )
    await nc.close()
    return rows
