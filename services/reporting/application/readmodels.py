"""The reporting application: which generation answers, rebuilds, queries, dead-letter retry."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from nats.js.errors import NotFoundError
from sqlalchemy import Engine, inspect

from contracts.reporting import (
    AnnualSummaryQuery,
    Participation,
    ParticipationQuery,
    RetryDeadLetter,
)
from contracts.subjects import event_streams
from runtime.deadletter import (
    DeadLetter,
    LetterNotFound,
    ensure_dlq_stream,
    get_letter,
    record_resolution,
)
from runtime.domain import Conflict, DomainError, NotFound
from runtime.eventstore import EventStore, StoredEvent
from runtime.logging import get_logger
from runtime.projector import Decoded, Projector, Unappliable, decode, health_detail
from services.reporting.adapters.consumer import Generation, consumer_name, durable_name
from services.reporting.adapters.projection import STREAMS, Projection
from services.reporting.adapters.tables import tables
from services.reporting.as_of import replay_as_of
from services.reporting.read_model import PROJECTION_VERSION, Meta, ReadModel

log = get_logger(__name__)
GENERATION_TABLE = re.compile(r"^reporting_g(\d+)_")


class DeadLetterNotFound(NotFound):
    """The dead letter named is not in the DLQ stream of a reporting consumer."""


class DeadLetterStillUnappliable(DomainError):
    """Re-applying a dead letter needs code that understands it."""


class RebuildAlreadyRunning(Conflict):
    """One rebuild at a time."""


class ReportingApp:
    def __init__(self, engine: Engine, es: EventStore, version: str = PROJECTION_VERSION) -> None:
        self.engine = engine
        self.es = es
        self.version = version
        self.meta = Meta(engine)
        self.live: Generation | None = None
        self.live_following = False
        self.building: Generation | None = None
        self.rebuild_total: dict[str, int] = {}
        self._watch: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._read: ReadModel | None = None

    # ------------------------------------------------------------ lifecycle

    def _generation(self, number: int) -> Generation:
        return Generation(self.es, Projection(self.engine, number), STREAMS)

    async def start(self) -> None:
        await self.es.ensure_streams(event_streams())
        await ensure_dlq_stream(self.es.js)
        m = await asyncio.to_thread(self.meta.get)
        if "active_gen" not in m:
            await asyncio.to_thread(self.meta.set, active_gen="1", active_version=self.version)
            m = {"active_gen": "1", "active_version": self.version}
        self.live = await asyncio.to_thread(self._generation, int(m["active_gen"]))
        if m.get("active_version") == self.version:
            await self.live.start()
            self.live_following = True
        building = m.get("building_gen")
        keep = {int(m["active_gen"])}
        if building and m.get("building_version") == self.version:
            keep.add(int(building))
        await self._remove_leftovers(keep)
        if building and m.get("building_version") == self.version:
            log.info("resuming the rebuild", generation=building)
            await self._start_building(int(building))
        elif not self.live_following:
            log.info(
                "projection version changed: rebuilding",
                stored=m.get("active_version"),
                code=self.version,
            )
            await self.rebuild()

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self.building is not None:
            await self.building.stop()
        if self.live is not None:
            await self.live.stop()

    # -------------------------------------------------------------- rebuild

    async def rebuild(self) -> int:
        """Replay every stream into a fresh generation; switch to it when it has caught up."""
        async with self._lock:
            if self.building is not None:
                raise RebuildAlreadyRunning(
                    "a rebuild is already running", generation=self.building.number
                )
            m = await asyncio.to_thread(self.meta.get)
            number = max(int(m.get("active_gen", "0")), int(m.get("building_gen") or 0)) + 1
            if number % 2 == int(m.get("active_gen", "0")) % 2:
                number += 1  # the other durable slot than the live generation's
            stale = m.get("building_gen")
            if stale:  # an older version's unfinished rebuild: its tables are worthless now
                await self._generation(int(stale)).stop(delete=True)
                await asyncio.to_thread(Projection(self.engine, int(stale)).drop)
            await asyncio.to_thread(
                self.meta.set, building_gen=str(number), building_version=self.version
            )
            await self._start_building(number)
            return number

    async def _start_building(self, number: int) -> None:
        self.rebuild_total = {s: await self.es.stream_last_sequence(s) for s in STREAMS}
        self.building = await asyncio.to_thread(self._generation, number)
        await self.building.start()
        self._watch = asyncio.create_task(self._switch_when_caught_up(), name="reporting-rebuild")

    async def _switch_when_caught_up(self) -> None:
        assert self.building is not None
        while True:
            await asyncio.sleep(0.2)
            lasts = {s: await self.es.stream_last_sequence(s) for s in STREAMS}
            if all(self.building.consumers[s].position >= lasts[s] for s in STREAMS):
                break
        old, new = self.live, self.building
        await asyncio.to_thread(
            self.meta.set,
            active_gen=str(new.number),
            active_version=self.version,
            building_gen=None,
            building_version=None,
        )
        self.live, self.live_following = new, True
        log.info("rebuild finished: switched", generation=new.number, events_per_s=new.rate())
        if old is not None:
            await old.stop(delete=True)
            await asyncio.to_thread(old.projection.drop)
        self.building = None  # status shows the rebuild until the old generation is gone

    async def _remove_leftovers(self, keep: set[int]) -> None:
        """Tables and durable consumers of generations neither live nor being built: left by
        a crash between a switch and its clean-up."""

        def drop_tables() -> list[int]:
            names = inspect(self.engine).get_table_names()
            found = {int(m.group(1)) for n in names if (m := GENERATION_TABLE.match(n))}
            for number in sorted(found - keep):
                tables(number).metadata.drop_all(self.engine)
            return sorted(found - keep)

        dropped = await asyncio.to_thread(drop_tables)
        kept = {durable_name(n, s) for n in keep for s in STREAMS}
        for stream in STREAMS:
            for slot in (0, 1):  # by name: reporting may not list others' consumers
                name = durable_name(slot, stream)
                if name not in kept:
                    with contextlib.suppress(NotFoundError):
                        await self.es.js.delete_consumer(stream, name)
        if dropped:
            log.info("removed leftover generations", generations=dropped)

    # --------------------------------------------------------------- status

    async def status(self) -> dict[str, Any]:
        lasts = {s: await self.es.stream_last_sequence(s) for s in STREAMS}
        assert self.live is not None
        live_pos = (
            self.live.positions()
            if self.live_following
            else await asyncio.to_thread(self.live.projection.positions)
        )
        detail: dict[str, Any] = {
            "version": self.version,
            "generation": self.live.number,
            "lag": {s: {"applied": live_pos.get(s, 0), "last": lasts[s]} for s in STREAMS},
            "dead_letters_set_aside": sum(
                g.set_aside() for g in (self.live, self.building) if g is not None
            ),
            "rebuild": None,
        }
        if self.building is not None:
            pos = self.building.positions()
            detail["rebuild"] = {
                "generation": self.building.number,
                "applied": sum(pos.values()),
                "total": sum(max(self.rebuild_total.get(s, 0), 0) for s in STREAMS),
                "lag": {s: {"applied": pos[s], "last": lasts[s]} for s in STREAMS},
                "events_per_s": self.building.rate(),
            }
        return detail

    async def health(self, others: Sequence[Projector] = ()) -> dict[str, Any]:
        """The one health shape (followers and problems), with the status beside it."""
        running = [*others] + [
            c
            for g, on in ((self.live, self.live_following), (self.building, True))
            if g is not None and on
            for c in g.consumers.values()
        ]
        return {**await self.status(), **await health_detail(self.es, running)}

    # -------------------------------------------------------------- queries

    async def _caught_up(self, within: float = 5.0) -> None:
        """Read your writes: wait (briefly) for what the streams hold now."""
        if self.live is None or not self.live_following:
            return
        for s, consumer in self.live.consumers.items():
            await consumer.wait_for(await self.es.stream_last_sequence(s), within)

    def _model(self) -> ReadModel:
        """The live generation's model (called in a worker thread: it may create tables)."""
        assert self.live is not None
        number = self.live.number
        if self._read is None or self._read.generation != number:
            self._read = ReadModel(self.engine, number)
        return self._read

    async def annual_summary(self, query: AnnualSummaryQuery) -> dict[str, Any]:
        """The summary with its ``receipt`` (briefings/audit/receipts.py): the cut it was
        computed from. None (with ``receipt_unavailable``) while an older projection
        version answers during a rebuild: its tables carry no digests of this version."""
        if query.as_of is not None:
            return await self._as_of(query, query.as_of)
        await self._caught_up()
        if not self.live_following:
            summary = await asyncio.to_thread(lambda: self._model().annual_summary(query))
            summary["receipt"] = None
            summary["receipt_unavailable"] = "a rebuild for a new projection version is running"
            return summary
        return await asyncio.to_thread(lambda: self._model().annual_summary_with_receipt(query))

    async def _as_of(self, query: AnnualSummaryQuery, as_of: datetime) -> dict[str, Any]:
        events: list[StoredEvent] = []
        cut: dict[str, int] = {}
        for s in STREAMS:
            cut[s] = await self.es.stream_last_sequence(s)
            events.extend([e async for e in self.es.iterate(s, until=cut[s])])
        model = await asyncio.to_thread(replay_as_of, events, as_of)
        return await asyncio.to_thread(model.annual_summary_with_receipt, query, cut)

    async def participation(self, query: ParticipationQuery) -> dict[str, Any]:
        await self._caught_up()
        data = await asyncio.to_thread(lambda: self._model().participation(query.year))
        return Participation.model_validate(data).model_dump(mode="json")

    # ---------------------------------------------------------- dead letters

    async def _find_letter(self, dead_letter_id: str) -> DeadLetter:
        try:
            entry = await get_letter(self.es, dead_letter_id)
        except LetterNotFound:
            entry = None
        if entry is None or entry.letter.consumer not in {consumer_name(s) for s in STREAMS}:
            raise DeadLetterNotFound(
                f"no reporting dead letter {dead_letter_id}", dead_letter_id=dead_letter_id
            )
        return entry.letter

    async def retry_dead_letter(self, req: RetryDeadLetter) -> dict[str, Any]:
        letter = await self._find_letter(req.dead_letter_id)
        stored = StoredEvent(
            letter.stream or "", letter.sequence or 0, letter.subject or "", letter.data
        )
        result = decode(stored)
        if not isinstance(result, Decoded):
            assert isinstance(result, Unappliable)
            raise DeadLetterStillUnappliable(
                f"still cannot apply it: {result.error}", reason=result.reason
            )
        assert self.live is not None
        projection = self.live.projection

        def write(d: Decoded) -> None:
            # Its sequence is below the position (the stream moved past it), so it is
            # applied without the position check.
            with self.engine.begin() as conn:
                projection.apply_decoded(conn, [d])

        await asyncio.to_thread(write, result)
        await record_resolution(self.es.js, letter, "retried", actor=req.actor)
        applied = f"{result.envelope.type} from {letter.stream} #{letter.sequence} applied"
        return {
            "ok": True,
            "dead_letter_id": letter.dead_letter_id,
            "outcome": "retried",
            "message": applied,
        }
