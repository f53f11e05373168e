"""A command service's own SQL store: aggregate snapshots, command outcomes, positions.

It is a projection of the service's own stream, kept in step by the command bus (its own
writes) and by a stream follower (everything else); the stream stays the truth.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    insert,
    select,
    update,
)

from runtime.sql import widen_columns


@dataclass(frozen=True)
class StateTables:
    """The tables of one service, prefixed with its name so services can share a database."""

    metadata: MetaData
    snapshots: Table
    outcomes: Table
    positions: Table


def state_tables(prefix: str) -> StateTables:
    md = MetaData()
    return StateTables(
        md,
        Table(
            f"{prefix}_snapshots",
            md,
            Column("subject", String(200), primary_key=True),
            Column("aggregate_type", String(64), nullable=False, index=True),
            Column("aggregate_id", String(64), nullable=False),
            Column("version", Integer, nullable=False),
            Column("last_seq", Integer, nullable=False),
            Column("last_hash", String(64), nullable=False),
            Column("state", Text, nullable=False),
        ),
        Table(
            f"{prefix}_command_outcomes",
            md,
            Column("command_id", String(128), primary_key=True),
            Column("reply", Text, nullable=False),
        ),
        Table(
            f"{prefix}_stream_positions",
            md,
            Column("name", String(128), primary_key=True),
            Column("last_seq", Integer, nullable=False),
        ),
    )


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    subject: str
    aggregate_type: str
    aggregate_id: str
    version: int
    last_seq: int
    last_hash: str
    state: str


class StateStore:
    """SQL rows with an in-memory cache of recent snapshots and outcomes.

    The cache may run ahead of a rolled-back transaction, never behind the stream: every
    cached snapshot describes events that are in the stream, and loads still compare its
    sequence with the subject's last one.
    """

    CACHE_SIZE = 4_096
    """Entries per cache (snapshots, outcomes; parsed states in Aggregates): the aggregates a
    service works on now. 50,000 grew a service by ~3 KB per command over a bulk import
    (tests/reliability/test_memory.py); a miss costs one indexed read."""

    def __init__(
        self, engine: Engine, prefix: str, extra_metadata: Iterable[MetaData] = ()
    ) -> None:
        self.engine = engine
        self.tables = state_tables(prefix)
        self.tables.metadata.create_all(engine)
        for md in extra_metadata:
            md.create_all(engine)
            widen_columns(engine, md)  # tables an older release made narrower
        self._snapshots: OrderedDict[str, SnapshotRow] = OrderedDict()
        self._outcomes: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.outcomes_saved = 0
        """Counts ``save_outcome`` calls: the bus re-reads an outcome it found missing only
        when this moved since (another instance's command, applied meanwhile)."""
        # Statements built once: building Core expressions per call costs more than running them.
        snap, out, pos = self.tables.snapshots, self.tables.outcomes, self.tables.positions
        self._select_snapshot = select(snap).where(snap.c.subject == bindparam("key"))
        self._update_snapshot = (
            update(snap)
            .where(snap.c.subject == bindparam("key"))
            .values({c: bindparam(c) for c in SnapshotRow.__slots__ if c != "subject"})
        )
        self._insert_snapshot = insert(snap)
        self._select_outcome = select(out.c.reply).where(out.c.command_id == bindparam("key"))
        self._insert_outcome = insert(out)
        self._update_outcome = (
            update(out).where(out.c.command_id == bindparam("key")).values(reply=bindparam("reply"))
        )
        self._select_position = select(pos.c.last_seq).where(pos.c.name == bindparam("key"))
        self._update_position = (
            update(pos).where(pos.c.name == bindparam("key")).values(last_seq=bindparam("seq"))
        )
        self._insert_position = insert(pos)

    @classmethod
    def _remember(cls, cache: OrderedDict[str, Any], key: str, value: Any) -> None:
        cache[key] = value
        cache.move_to_end(key)
        if len(cache) > cls.CACHE_SIZE:
            cache.popitem(last=False)

    def snapshot(self, subject: str, conn: Connection | None = None) -> SnapshotRow | None:
        cached = self._snapshots.get(subject)
        if cached is not None:
            return cached
        if conn is None:
            with self.engine.connect() as c:
                row = c.execute(self._select_snapshot, {"key": subject}).first()
        else:
            row = conn.execute(self._select_snapshot, {"key": subject}).first()
        if row is None:
            return None
        found = SnapshotRow(**row._mapping)
        self._remember(self._snapshots, subject, found)
        return found

    def cached_snapshot(self, subject: str) -> SnapshotRow | None:
        return self._snapshots.get(subject)

    def save_snapshot(self, conn: Connection, row: SnapshotRow, existed: bool) -> None:
        values = {k: getattr(row, k) for k in SnapshotRow.__slots__}
        done = 0
        if existed:
            params = {k: v for k, v in values.items() if k != "subject"}
            done = conn.execute(self._update_snapshot, {"key": row.subject, **params}).rowcount
        if not done:
            conn.execute(self._insert_snapshot, values)
        self._remember(self._snapshots, row.subject, row)

    def outcome(self, command_id: str) -> dict[str, Any] | None:
        cached = self._outcomes.get(command_id)
        if cached is not None:
            return cached
        with self.engine.connect() as conn:
            value = conn.execute(self._select_outcome, {"key": command_id}).scalar()
        if not value:
            return None
        reply: dict[str, Any] = json.loads(value)
        self._remember(self._outcomes, command_id, reply)
        return reply

    def save_outcome(
        self, conn: Connection, command_id: str, reply: dict[str, Any], known_new: bool = False
    ) -> None:
        """Record what ``command_id`` did; ``known_new`` skips the look-up (the bus checked)."""
        self._outcomes.pop(command_id, None)
        self.outcomes_saved += 1
        existing = (
            None if known_new else conn.execute(self._select_outcome, {"key": command_id}).scalar()
        )
        if existing is None:
            conn.execute(
                self._insert_outcome, {"command_id": command_id, "reply": json.dumps(reply)}
            )
            return
        # A command that wrote several events: the outcome names all of them.
        merged = json.loads(existing)
        ids = merged.get("event_ids", [])
        for event_id in reply.get("event_ids", []):
            if event_id not in ids:
                ids.append(event_id)
        merged["event_ids"] = ids
        merged["version"] = max(merged.get("version", 0), reply.get("version", 0))
        conn.execute(self._update_outcome, {"key": command_id, "reply": json.dumps(merged)})

    def position(self, name: str) -> int:
        with self.engine.connect() as conn:
            return self.position_in(conn, name)

    def position_in(self, conn: Connection, name: str) -> int:
        value = conn.execute(self._select_position, {"key": name}).scalar()
        return int(value or 0)

    def save_position(self, conn: Connection, name: str, seq: int) -> None:
        done = conn.execute(self._update_position, {"key": name, "seq": seq})
        if done.rowcount == 0:
            conn.execute(self._insert_position, {"name": name, "last_seq": seq})
