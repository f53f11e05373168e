"""The projection: stored events in, fact rows out, one SQL transaction per batch.

Per stream the last applied sequence is stored with the rows; an event at or below it is
skipped, so redelivery and replay have exactly-once effect. With it, in the same row, the
count and running digest of the events read (domain/digest.py): what a report receipt names.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, Table, insert, select

from contracts import awards as a
from contracts import events as e
from contracts import roster as r
from contracts.envelope import DomainEvent, EventEnvelope
from contracts.registry import NewerSchemaVersion, UnknownEventType, registry
from runtime.eventstore import StoredEvent
from services.reporting.adapters.tables import Tables, tables
from services.reporting.domain import digest

STREAMS = ("ROSTER", "EVENTS", "AWARDS")


@dataclass(frozen=True)
class StreamCut:
    """How far a stream was read: last sequence, events read, their running digest."""

    sequence: int
    events: int
    digest: str


@dataclass(frozen=True)
class Decoded:
    stored: StoredEvent
    envelope: EventEnvelope
    event: DomainEvent


@dataclass(frozen=True)
class Unappliable:
    """A message the projection cannot apply, with a short reason word and the error."""

    stored: StoredEvent
    reason: str  # malformed | unknown_type | newer_version | invalid_payload
    error: str


def decode(stored: StoredEvent) -> Decoded | Unappliable:
    try:
        envelope = stored.envelope()
    except (ValidationError, ValueError) as exc:
        return Unappliable(stored, "malformed", _short(exc))
    try:
        event = registry.decode(envelope)
    except UnknownEventType as exc:
        return Unappliable(stored, "unknown_type", str(exc))
    except NewerSchemaVersion as exc:
        return Unappliable(stored, "newer_version", str(exc))
    except (ValidationError, ValueError) as exc:
        return Unappliable(stored, "invalid_payload", _short(exc))
    return Decoded(stored, envelope, event)


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__


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


NEEDS_PRIOR_ROW = (
    e.ConferenceScheduled,
    e.ConferenceRescheduled,
    e.ConferenceHeld,
    e.ConferenceCancelled,
    e.AttendanceCorrected,
    a.AwardRevoked,
)
"""Events that change part of a row; the others replace their row whole (no read needed)."""


def _event_keys(ev: DomainEvent) -> list[tuple[str, tuple[str, ...]]]:
    if isinstance(
        ev,
        (e.ConferenceScheduled, e.ConferenceRescheduled, e.ConferenceHeld, e.ConferenceCancelled),
    ):
        return [("conferences", (ev.conference_id,))]
    if isinstance(ev, (e.AttendanceRecorded, e.AttendanceCorrected)):
        return [("attendance", (ev.conference_id, ev.member_id))]
    if isinstance(ev, e.GuestAttendanceRecorded):
        return [("guests", (ev.conference_id, ev.category.value))]
    if isinstance(ev, (a.AwardGranted, a.AwardRevoked)):
        return [("awards", (ev.award_id,))]
    return []


def _member_fields(ev: DomainEvent) -> dict[str, str | None] | None:
    if isinstance(ev, r.MemberEnrolled):
        return {
            "_event": "enrolled",
            "full_name": ev.full_name,
            "role": ev.role.value,
            "unit_id": ev.unit_id,
            "core": "1" if ev.core else "0",
            "active": "1",
            "external_code": ev.external_code,
        }
    if isinstance(ev, r.MemberReenrolled):
        return {"_event": "reenrolled", "role": ev.role.value, "unit_id": ev.unit_id, "active": "1"}
    if isinstance(ev, r.MemberDetailsCorrected):
        return {"full_name": ev.full_name}
    if isinstance(ev, r.MemberExternalCodeChanged):
        return {"external_code": ev.external_code}
    if isinstance(ev, r.MemberRoleChanged):
        return {"_event": "role_changed", "role": ev.role.value}
    if isinstance(ev, r.MemberTransferred):
        return {"_event": "transferred", "unit_id": ev.to_unit_id}
    if isinstance(ev, r.MemberCoreFlagSet):
        return {"core": "1"}
    if isinstance(ev, r.MemberCoreFlagCleared):
        return {"core": "0"}
    if isinstance(ev, r.MemberRetired):
        return {"_event": "retired", "active": "0"}
    return None


def _unit_fields(ev: DomainEvent) -> dict[str, str | None] | None:
    if isinstance(ev, r.UnitRegistered):
        return {
            "_event": "registered",
            "name": ev.name,
            "kind": ev.kind.value,
            "parent_id": ev.parent_id,
            "active": "1",
        }
    if isinstance(ev, r.UnitRenamed):
        return {"name": ev.name}
    if isinstance(ev, r.UnitDissolved):
        return {"_event": "dissolved", "active": "0"}
    return None


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

    def apply(
        self,
        conn: Connection,
        events: Sequence[StoredEvent],
        decoded: dict[tuple[str, int], Decoded | Unappliable] | None = None,
    ) -> list[Unappliable]:
        """Apply ``events`` (any streams, each stream in order) in the caller's transaction.

        Events at or below their stream's stored position are skipped. Unappliable ones are
        passed over (the position moves past them) and returned for the caller to set aside.
        ``decoded`` may carry the events already decoded, keyed by (stream, sequence).
        """
        cuts = self.cut(conn)
        fresh: list[StoredEvent] = []
        for stored in events:
            before = cuts.get(stored.stream) or StreamCut(0, 0, digest.GENESIS)
            if stored.sequence > before.sequence:
                fresh.append(stored)
                # Unappliable events too: they are part of what the model read.
                cuts[stored.stream] = StreamCut(
                    stored.sequence,
                    before.events + 1,
                    digest.chain(before.digest, digest.event_hash(stored.data)),
                )
        if not fresh:
            return []
        good: list[Decoded] = []
        bad: list[Unappliable] = []
        for stored in fresh:
            result = (decoded or {}).get((stored.stream, stored.sequence)) or decode(stored)
            if isinstance(result, Decoded):
                good.append(result)
            else:
                bad.append(result)
        self.apply_decoded(conn, good)
        moved = sorted({stored.stream for stored in fresh})
        _upsert(
            conn,
            self.t.positions,
            [
                {
                    "stream": s,
                    "sequence": cuts[s].sequence,
                    "events": cuts[s].events,
                    "digest": cuts[s].digest,
                }
                for s in moved
            ],
        )
        return bad

    def apply_decoded(self, conn: Connection, decoded: Sequence[Decoded]) -> None:
        """Write the effect of ``decoded`` (no position check: callers decide what is new)."""
        keyed = {
            "conferences": _Keyed(self.t.conferences),
            "attendance": _Keyed(self.t.attendance),
            "guests": _Keyed(self.t.guests),
            "awards": _Keyed(self.t.awards),
        }
        for d in decoded:
            if isinstance(d.event, NEEDS_PRIOR_ROW):
                for name, key in _event_keys(d.event):
                    keyed[name].want(key)
        for k in keyed.values():
            if k.rows:
                k.load(conn)
        changes: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for d in decoded:
            ev: Any = d.event  # each branch below knows its event's fields
            seq = d.stored.sequence
            if (fields := _member_fields(ev)) is not None:
                changes["member"].extend(
                    {
                        "member_id": ev.member_id,
                        "seq": seq,
                        "field": f,
                        "value": v,
                        "effective_on": ev.effective_on,
                    }
                    for f, v in fields.items()
                )
            elif (fields := _unit_fields(ev)) is not None:
                changes["unit"].extend(
                    {
                        "unit_id": ev.unit_id,
                        "seq": seq,
                        "field": f,
                        "value": v,
                        "effective_on": ev.effective_on,
                    }
                    for f, v in fields.items()
                )
            for name, key in _event_keys(ev):
                table = keyed[name]
                row = table.get(key)
                if name == "conferences":
                    table.put(key, _conference(row, ev, seq))
                elif name == "attendance":
                    attended = True if isinstance(ev, e.AttendanceRecorded) else ev.attended
                    unit_id = (
                        ev.unit_id
                        if isinstance(ev, e.AttendanceRecorded)
                        else (row or {}).get("unit_id")
                    )
                    table.put(
                        key,
                        {
                            "conference_id": key[0],
                            "member_id": key[1],
                            "attended": attended,
                            "unit_id": unit_id,
                            "seq": seq,
                        },
                    )
                elif name == "guests":
                    table.put(
                        key,
                        {
                            "conference_id": key[0],
                            "category": key[1],
                            "headcount": ev.headcount,
                            "seq": seq,
                        },
                    )
                elif name == "awards":
                    new = _award(row, ev, seq)
                    if new is not None:
                        table.put(key, new)
        if changes["member"]:
            conn.execute(insert(self.t.member_changes), changes["member"])
        if changes["unit"]:
            conn.execute(insert(self.t.unit_changes), changes["unit"])
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
