"""Stream → read model: one runtime projector per stream and generation.

Each stream is read through a durable pull consumer used only as a cursor (recreated at start
from the SQL position, so a restart never waits for ack timeouts; one ack covers a batch);
the projector decodes each event once, sets aside what cannot be applied, and writes the
batch with the stream's position, count and digest in ONE transaction (runtime/projector.py).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence

from sqlalchemy import Connection

from runtime.eventstore import EventStore, StoredEvent
from runtime.projector import DurableSource, Item, Projector
from services.reporting.adapters.projection import Projection

SERVICE = "reporting"


def tune_gc() -> None:
    """Catch-up allocates many short-lived models; the default collector thresholds made
    garbage collection a third of the decode time. Collect young objects less often and
    leave what exists at start-up (modules, schemas) out of every scan."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def consumer_name(stream: str) -> str:
    """The dead-letter consumer name (``reporting.<STREAM>``): the same for every
    generation, so a rebuild names the letters already written instead of adding more."""
    return f"{SERVICE}.{stream}"


DURABLE_SLOTS = ("b", "a")
"""Two names per stream, alternating by generation: the live generation and the one a
rebuild builds never share a slot. NATS permissions match whole subject tokens, so reporting
may create and delete exactly these six durables (deploy/nats/permissions.conf), no others."""


def durable_name(generation: int, stream: str) -> str:
    return f"{SERVICE}_{DURABLE_SLOTS[generation % 2]}_{stream}"


class StreamSink:
    """One stream of a generation's projection, as the projector writes it."""

    only: frozenset[str] | None = None
    """Every event: an unknown type is set aside, never skipped silently."""
    threaded: bool = True
    """Nothing else writes a generation's tables: the writes leave the event loop."""

    def __init__(self, projection: Projection, stream: str) -> None:
        self.projection = projection
        self.stream = stream
        self.engine = projection.engine

    def position(self) -> int:
        return self.projection.positions()[self.stream]

    def pending(self, events: Sequence[StoredEvent]) -> Sequence[StoredEvent]:
        return events  # every event read is part of the digest

    def write(self, conn: Connection, items: Sequence[Item], through: int) -> None:
        self.projection.write(conn, self.stream, items, through)


class Generation:
    """One generation's projection fed by a projector per stream."""

    def __init__(
        self, es: EventStore, projection: Projection, streams: tuple[str, ...], batch: int = 1000
    ) -> None:
        self.projection = projection
        self.consumers = {
            s: Projector(
                es,
                s,
                StreamSink(projection, s),
                consumer_name(s),
                source=DurableSource(es.js, s, durable_name(projection.generation, s), batch),
                batch_size=batch,
            )
            for s in streams
        }
        self.started_at = time.monotonic()

    @property
    def number(self) -> int:
        return self.projection.generation

    async def start(self) -> None:
        for c in self.consumers.values():
            await c.start()
        self.started_at = time.monotonic()

    async def stop(self, delete: bool = False) -> None:
        for c in self.consumers.values():
            await c.stop(delete)

    def positions(self) -> dict[str, int]:
        return {s: c.position for s, c in self.consumers.items()}

    def set_aside(self) -> int:
        return sum(sum(c.set_aside.values()) for c in self.consumers.values())

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started_at
        done = sum(c.applied for c in self.consumers.values())
        return round(done / elapsed, 1) if elapsed > 0 else 0.0
