"""The projection: stored events in, fact rows out, one SQL transaction per batch.

Per stream the last applied sequence is stored with the rows; an event at or below it is
skipped, so redelivery and replay have exactly-once effect. With it, in the same row, the
count and running digest of the events read (domain/digest.py): what a report receipt names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, insert, select

from contracts import awards as a
from contracts import events as e
from contracts import roster as r
from contracts.envelope import DomainEvent
from runtime.eventstore import StoredEvent
from runtime.projector import Decoded, Item, Unappliable, decode
from services.reporting.adapters.tables import Tables, tables
from services.reporting.domain import digest

STREAMS = ("ROSTER", "EVENTS", "AWARDS")
T = TypeVar("T")

__all__ = ["STREAMS", "Decoded", "Projection", "StreamCut", "Unappliable", "decode"]


@dataclass(frozen=True)
class StreamCut:
    """How far a stream was read: last sequence, events read, their running digest."""

    sequence: int
    events: int
    digest: str


def _upsert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT .. ON CONFLICT DO UPDATE (SQLite and PostgreSQL), straight to the driver's
    executemany: SQLAlchemy's per-row parameter processing cost more than the writes."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    cols = [c.name for c in table.columns]
    mark = ":{}" if conn.dialect.name == "sqlite" else "%({})s"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(cols)}) "
        f"VALUES ({', '.join(mark.format(c) for c in cols)}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
    )
    conn.exec_driver_sql(sql, rows)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


class _Keyed:
    """Rows of one keyed table touched by a batch: loaded once, changed in memory, upserted."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.key_cols = [c.name for c in table.primary_key.columns]
        self.rows: dict[tuple[str, ...], dict[str, Any] | None] = {}
        self.dirty: set[tuple[str, ...]] = set()

    def want(self, key: tuple[str, ...]) -> None:
        self.rows.setdefault(key, None)

    def load(self, conn: Connection) -> None:
        # Select by the first key column only (a composite IN compiles slowly), keep the wanted.
        wanted = set(self.rows)
        firsts = sorted({k[0] for k in wanted})
        col = self.table.c[self.key_cols[0]]
        for i in range(0, len(firsts), 400):
            for row in conn.execute(
                select(self.table).where(col.in_(firsts[i : i + 400]))
            ).mappings():
                key = tuple(row[k] for k in self.key_cols)
                if key in wanted:
                    self.rows[key] = dict(row)

    def get(self, key: tuple[str, ...]) -> dict[str, Any] | None:
        return self.rows.get(key)

    def put(self, key: tuple[str, ...], row: dict[str, Any]) -> None:
        self.rows[key] = row
        self.dirty.add(key)

    def flush(self, conn: Connection) -> None:
        rows = [self.rows[k] for k in sorted(self.dirty)]
        _upsert(conn, self.table, [r for r in rows if r is not None])


# ------------------------------------------------------------ appliers by event type

Fields = dict[str, str | bool | None]
"""Field to value; yes/no fields (active, core) are booleans, stored as booleans."""

MEMBER_FIELDS: dict[type[DomainEvent], Callable[[Any], Fields]] = {
    r.MemberEnrolled: lambda ev: {
        "_event": "enrolled",
        "full_name": ev.full_name,
        "role": ev.role.value,
        "unit_id": ev.unit_id,
        "core": ev.core,
        "active": True,
        "external_code": ev.external_code,
    },
    r.MemberReenrolled: lambda ev: {
        "_event": "reenrolled",
        "role": ev.role.value,
        "unit_id": ev.unit_id,
        "active": True,
    },
    r.MemberDetailsCorrected: lambda ev: {"full_name": ev.full_name},
    r.MemberExternalCodeChanged: lambda ev: {"external_code": ev.external_code},
    r.MemberRoleChanged: lambda ev: {"_event": "role_changed", "role": ev.role.value},
    r.MemberTransferred: lambda ev: {"_event": "transferred", "unit_id": ev.to_unit_id},
    r.MemberCoreFlagSet: lambda ev: {"core": True},
    r.MemberCoreFlagCleared: lambda ev: {"core": False},
    r.MemberRetired: lambda ev: {"_event": "retired", "active": False},
}
"""Member events: the fields each one sets, one effective-dated row per field."""

UNIT_FIELDS: dict[type[DomainEvent], Callable[[Any], Fields]] = {
    r.UnitRegistered: lambda ev: {
        "_event": "registered",
        "name": ev.name,
        "kind": ev.kind.value,
        "parent_id": ev.parent_id,
        "active": True,
    },
    r.UnitRenamed: lambda ev: {"name": ev.name},
    r.UnitDissolved: lambda ev: {"_event": "dissolved", "active": False},
}

Row = dict[str, Any]


@dataclass(frozen=True)
class Keyed:
    """Events that change one keyed row: which table, the row's key, the new row."""

    table: str
    key: Callable[[Any], tuple[str, ...]]
    change: Callable[[Row | None, Any, int], Row | None]
    needs_prior: bool
    """The event changes part of a row (the row is read first); else it replaces it whole."""


def _conference_key(ev: Any) -> tuple[str, ...]:
    return (ev.conference_id,)


def _attendance_key(ev: Any) -> tuple[str, ...]:
    return (ev.conference_id, ev.member_id)


def _recorded(row: Row | None, ev: Any, seq: int) -> Row:
    return {
        "conference_id": ev.conference_id,
        "member_id": ev.member_id,
        "attended": True,
        "unit_id": ev.unit_id,
        "seq": seq,
    }


def _corrected(row: Row | None, ev: Any, seq: int) -> Row:
    return {
        "conference_id": ev.conference_id,
        "member_id": ev.member_id,
        "attended": ev.attended,
        "unit_id": (row or {}).get("unit_id"),
        "seq": seq,
    }


def _guests(row: Row | None, ev: Any, seq: int) -> Row:
    return {
        "conference_id": ev.conference_id,
        "category": ev.category.value,
        "headcount": ev.headcount,
        "seq": seq,
    }


def _conference(row: dict[str, Any] | None, ev: DomainEvent, seq: int) -> dict[str, Any]:
    base = row or {
        "status": "scheduled",
        "kinds": "[]",
        "title": "",
        "planned_on": None,
        "held_on": None,
        "cancelled_on": None,
        "venue": "",
        "organiser": "",
        "presenters": "[]",
        "topics": "[]",
    }
    new = {**base, "conference_id": ev.conference_id, "seq": seq}  # type: ignore[attr-defined]
    if isinstance(ev, (e.ConferenceScheduled, e.ConferenceHeld)):
        new.update(
            kinds=_json([k.value for k in ev.kinds]),
            title=ev.title,
            venue=ev.venue,
            organiser=ev.organiser,
            presenters=_json([p.model_dump() for p in ev.presenters]),
            topics=_json(list(ev.topics)),
        )
        if isinstance(ev, e.ConferenceScheduled):
            new["planned_on"] = ev.planned_on
        else:
            new.update(status="held", held_on=ev.held_on)
    elif isinstance(ev, e.ConferenceRescheduled):
        new["planned_on"] = ev.planned_on
        if ev.venue is not None:
            new["venue"] = ev.venue
    elif isinstance(ev, e.ConferenceCancelled):
        new.update(status="cancelled", cancelled_on=ev.cancelled_on)
    return new


def _award(row: dict[str, Any] | None, ev: DomainEvent, seq: int) -> dict[str, Any] | None:
    if isinstance(ev, a.AwardGranted):
        return {
            "award_id": ev.award_id,
            "recipient_type": ev.recipient_type.value,
            "recipient_id": ev.recipient_id,
            "recipient_name": ev.recipient_name,
            "award_kind": ev.award_kind,
            "title": ev.title,
            "period": ev.period,
            "reason": ev.reason,
            "decision_number": ev.decision_number,
            "decision_date": ev.decision_date,
            "authority": ev.authority,
            "revoked": False,
            "revoked_on": None,
            "revocation_number": None,
            "seq": seq,
        }
    if isinstance(ev, a.AwardRevoked) and row is not None:
        return {
            **row,
            "revoked": True,
            "revoked_on": ev.decision_date,
            "revocation_number": ev.decision_number,
            "seq": seq,
        }
    return row  # a revocation of an award this model never saw changes nothing


KEYED: dict[type[DomainEvent], Keyed] = {
    e.ConferenceScheduled: Keyed("conferences", _conference_key, _conference, True),
    e.ConferenceRescheduled: Keyed("conferences", _conference_key, _conference, True),
    e.ConferenceHeld: Keyed("conferences", _conference_key, _conference, True),
    e.ConferenceCancelled: Keyed("conferences", _conference_key, _conference, True),
    e.AttendanceRecorded: Keyed("attendance", _attendance_key, _recorded, False),
    e.AttendanceCorrected: Keyed("attendance", _attendance_key, _corrected, True),
    e.GuestAttendanceRecorded: Keyed(
        "guests", lambda ev: (ev.conference_id, ev.category.value), _guests, False
    ),
    a.AwardGranted: Keyed("awards", lambda ev: (ev.award_id,), _award, False),
    a.AwardRevoked: Keyed("awards", lambda ev: (ev.award_id,), _award, True),
}
"""Every event type that changes a keyed row; an event type in none of the three tables
changes nothing here (e.g. nominations)."""


def _for(table: dict[type[DomainEvent], T], kind: type) -> T | None:
    """The applier of ``kind`` (or of the event class it extends, as newer code's may)."""
    for cls in kind.__mro__:
        found = table.get(cls)
        if found is not None:
            return found
    return None


def _changes(key: str, ident: str, seq: int, ev: Any, fields: Fields) -> list[Row]:
    return [
        {
            key: ident,
            "seq": seq,
            "field": f,
            "value": None if isinstance(v, bool) else v,
            "flag": v if isinstance(v, bool) else None,
            "effective_on": ev.effective_on,
        }
        for f, v in fields.items()
    ]


class Projection:
    """One generation's tables and how events change them."""

    def __init__(self, engine: Engine, generation: int) -> None:
        self.engine = engine
        self.t: Tables = tables(generation)
        self.t.metadata.create_all(engine)

    @property
    def generation(self) -> int:
        return self.t.generation

    def positions(self, conn: Connection | None = None) -> dict[str, int]:
        if conn is None:
            with self.engine.connect() as c:
                return self.positions(c)
        p = self.t.positions
        found = {row.stream: row.sequence for row in conn.execute(select(p.c.stream, p.c.sequence))}
        return {s: int(found.get(s, 0)) for s in STREAMS} | {
            s: int(v) for s, v in found.items() if s not in STREAMS
        }

    def cut(self, conn: Connection) -> dict[str, StreamCut]:
        """Per stream: position, events read and their running digest (read in ``conn``'s
        transaction, so they match the facts read there)."""
        found = {
            row.stream: StreamCut(int(row.sequence), int(row.events), row.digest)
            for row in conn.execute(select(self.t.positions))
        }
        return {s: found.get(s, StreamCut(0, 0, digest.GENESIS)) for s in STREAMS} | {
            s: c for s, c in found.items() if s not in STREAMS
        }

    def apply(self, conn: Connection, events: Sequence[StoredEvent]) -> list[Unappliable]:
        """Apply ``events`` (any streams, each stream in order) in the caller's transaction.

        Events at or below their stream's stored position are skipped. Unappliable ones are
        passed over (the position moves past them) and returned for the caller to set aside.
        """
        by_stream: dict[str, list[Item]] = {}
        for stored in events:
            item = decode(stored)
            assert item is not None  # no type filter: every event decodes or is unappliable
            by_stream.setdefault(stored.stream, []).append(item)
        bad: list[Unappliable] = []
        for stream, items in by_stream.items():
            bad.extend(self.write(conn, stream, items))
        return bad

    def write(
        self, conn: Connection, stream: str, items: Sequence[Item], through: int = 0
    ) -> list[Unappliable]:
        """The projector's write: ``items`` of one stream (decoded once, in stream order) and
        the stream's position, count and running digest, in the caller's transaction.

        Items at or below the stored position are skipped; unappliable ones are counted in
        the digest (they are part of what the model read) and passed over.
        """
        p = self.t.positions
        row = conn.execute(select(p).where(p.c.stream == stream)).first()
        cut = StreamCut(int(row.sequence), int(row.events), row.digest) if row else None
        cut = cut or StreamCut(0, 0, digest.GENESIS)
        fresh: list[Item] = []
        for item in items:
            if item.stored.sequence <= cut.sequence:
                continue  # redelivered or replayed
            fresh.append(item)
            cut = StreamCut(
                item.stored.sequence,
                cut.events + 1,
                digest.chain(cut.digest, digest.event_hash(item.stored.data)),
            )
        if not fresh and through <= cut.sequence:
            return []
        self.apply_decoded(conn, [i for i in fresh if isinstance(i, Decoded)])
        _upsert(
            conn,
            p,
            [
                {
                    "stream": stream,
                    "sequence": max(cut.sequence, through),
                    "events": cut.events,
                    "digest": cut.digest,
                }
            ],
        )
        return [i for i in fresh if isinstance(i, Unappliable)]

    def apply_decoded(self, conn: Connection, decoded: Sequence[Decoded]) -> None:
        """Write the effect of ``decoded`` (no position check: callers decide what is new).
        Each event's applier is looked up by its type."""
        keyed = {
            "conferences": _Keyed(self.t.conferences),
            "attendance": _Keyed(self.t.attendance),
            "guests": _Keyed(self.t.guests),
            "awards": _Keyed(self.t.awards),
        }
        for d in decoded:
            spec = _for(KEYED, type(d.event))
            if spec is not None and spec.needs_prior:
                keyed[spec.table].want(spec.key(d.event))
        for k in keyed.values():
            if k.rows:
                k.load(conn)
        members: list[Row] = []
        units: list[Row] = []
        for d in decoded:
            ev: Any = d.event
            kind = type(ev)
            seq = d.stored.sequence
            if (member := _for(MEMBER_FIELDS, kind)) is not None:
                members.extend(_changes("member_id", ev.member_id, seq, ev, member(ev)))
            elif (unit := _for(UNIT_FIELDS, kind)) is not None:
                units.extend(_changes("unit_id", ev.unit_id, seq, ev, unit(ev)))
            elif (spec := _for(KEYED, kind)) is not None:
                table = keyed[spec.table]
                key = spec.key(ev)
                new = spec.change(table.get(key), ev, seq)
                if new is not None:
                    table.put(key, new)
        if members:
            conn.execute(insert(self.t.member_changes), members)
        if units:
            conn.execute(insert(self.t.unit_changes), units)
        for k in keyed.values():
            k.flush(conn)

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table's rows, sorted: equal dumps mean equal read models."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        prefix = f"reporting_g{self.generation}_"
        with self.engine.connect() as conn:
            for table in self.t.facts():
                rows = [tuple(row) for row in conn.execute(select(table))]
                out[table.name.removeprefix(prefix)] = sorted(rows, key=repr)
        return out

    def rows(self, conn: Connection) -> dict[str, list[dict[str, Any]]]:
        """The raw facts the queries fold (small enough to fold in memory)."""
        return {
            name: [dict(m) for m in conn.execute(select(getattr(self.t, name))).mappings()]
            for name in (
                "member_changes",
                "unit_changes",
                "conferences",
                "attendance",
                "guests",
                "awards",
            )
        }

    def period_rows(
        self, conn: Connection, start: date, end: date
    ) -> dict[str, list[dict[str, Any]]]:
        """``rows`` with the period's filters where they need no folding: the conferences
        held in it, their attendances (attended only) and guests, the awards decided in it;
        every member and unit change (participation names members enrolled after the year)."""
        t = self.t
        c, a, g, w = t.conferences, t.attendance, t.guests, t.awards
        held = (c.c.status == "held") & c.c.held_on.between(start, end)
        held_ids = select(c.c.conference_id).where(held)

        def fetch(stmt: Any) -> list[dict[str, Any]]:
            return [dict(row) for row in conn.execute(stmt).mappings()]

        return {
            "member_changes": fetch(select(t.member_changes)),
            "unit_changes": fetch(select(t.unit_changes)),
            "conferences": fetch(select(c).where(held)),
            "attendance": fetch(
                select(a.c.conference_id, a.c.member_id, a.c.unit_id, a.c.attended).where(
                    a.c.conference_id.in_(held_ids) & a.c.attended
                )
            ),
            "guests": fetch(select(g).where(g.c.conference_id.in_(held_ids))),
            "awards": fetch(select(w).where(w.c.decision_date.between(start, end))),
        }

    def drop(self) -> None:
        self.t.metadata.drop_all(self.engine)
