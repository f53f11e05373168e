"""The reporting read model: apply stored events, ask for the summary and its receipt.

Used by the reporting service and by the auditors' offline replay into a temporary database
(what was known at an instant: services/reporting/as_of.py; the summary's wording and
documents: briefings/report/).

- ``ReadModel(engine)`` creates its tables (the live generation recorded in
  ``reporting_meta``; generation 1 on an empty database).
- ``apply(events)``: one transaction; per stream, events at or below the stored position are
  skipped. Events it cannot apply (malformed, unknown type, newer schema version, invalid
  payload) do not raise: the position moves past them, they are logged and appended to
  ``read_model.unappliable`` for the caller to set aside (the service sends them to the DLQ).
- ``annual_summary_with_receipt(query)``: the summary and its receipt basis (the cut, the
  events digest, the projection version), read in one database snapshot.
- ``as_of``: the model answers from what was applied to it and only echoes ``as_of``. To ask
  "what was known at T", replay the streams into a fresh model with ``as_of.replay_as_of``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import StaticPool

from contracts.canonical import format_datetime
from contracts.reporting import RECEIPT_FORMAT, AnnualSummaryQuery
from runtime.eventstore import StoredEvent
from runtime.logging import get_logger
from services.reporting.adapters.projection import Projection, StreamCut, Unappliable
from services.reporting.adapters.queries import period_facts
from services.reporting.adapters.tables import meta, meta_metadata
from services.reporting.domain import digest as _digest
from services.reporting.domain.summary import (
    Facts,
    Period,
    annual_summary,
    participation,
    period_of,
)

PROJECTION_VERSION = "5"
"""Bump when what the projection writes changes: the service then rebuilds from sequence 1."""

log = get_logger(__name__)


class Meta:
    """Which generation of tables is live (and its projection version), which is being built."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        meta_metadata.create_all(engine)

    def get(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {r.key: r.value for r in conn.execute(select(meta)) if r.value is not None}

    def set(self, **values: str | None) -> None:
        with self.engine.begin() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(meta)
            stmt = stmt.on_conflict_do_update(
                index_elements=["key"], set_={"value": stmt.excluded.value}
            )
            conn.execute(stmt, [{"key": k, "value": v} for k, v in sorted(values.items())])

    def active(self) -> tuple[int, str] | None:
        m = self.get()
        return (int(m["active_gen"]), m.get("active_version", "")) if "active_gen" in m else None

    def building(self) -> tuple[int, str] | None:
        m = self.get()
        return (
            (int(m["building_gen"]), m.get("building_version", "")) if "building_gen" in m else None
        )


class ReadModel:
    def __init__(self, engine: Engine, generation: int | None = None) -> None:
        self.engine = engine
        if generation is None:
            m = Meta(engine)
            active = m.active()
            if active is None:
                m.set(active_gen="1", active_version=PROJECTION_VERSION)
                generation = 1
            else:
                generation = active[0]
        self.projection = Projection(engine, generation)
        self.unappliable: list[Unappliable] = []

    @property
    def generation(self) -> int:
        return self.projection.generation

    def apply(self, events: Sequence[StoredEvent]) -> None:
        with self.engine.begin() as conn:
            bad = self.projection.apply(conn, events)
        for u in bad:
            log.warning(
                "event cannot be applied",
                stream=u.stored.stream,
                sequence=u.stored.sequence,
                reason=u.reason,
                error=u.error,
            )
        self.unappliable.extend(bad)

    def positions(self) -> dict[str, int]:
        return self.projection.positions()

    def facts(self, period: Period | None = None) -> Facts:
        """Every fact, or (``period``) only what its summary needs (adapters/queries.py)."""
        with self.engine.connect() as conn:
            return self._facts(conn, period)

    def _facts(self, conn: Connection, period: Period | None) -> Facts:
        if period is None:
            return Facts.of(self.projection.rows(conn))
        return period_facts(conn, self.projection.t, period)

    def annual_summary(self, query: AnnualSummaryQuery) -> dict[str, Any]:
        period = _period(query)
        return _summarise(self.facts(period), query)

    def cut(self) -> dict[str, StreamCut]:
        with snapshot(self.engine) as conn:
            return self.projection.cut(conn)

    def annual_summary_with_receipt(
        self, query: AnnualSummaryQuery, until_seq: dict[str, int] | None = None
    ) -> dict[str, Any]:
        """The summary with ``receipt``: facts and cut read in ONE snapshot, so the cut is
        exactly what the figures were computed from. ``until_seq``: the cut's sequences when
        they are not the positions (an as-of replay read past its last admitted event)."""
        period = _period(query)
        with snapshot(self.engine) as conn:
            facts = self._facts(conn, period)
            cut = self.projection.cut(conn)
        summary = _summarise(facts, query)
        summary["receipt"] = receipt_basis(query, cut, until_seq)
        return summary

    def participation(self, year: int) -> dict[str, Any]:
        period = Period.of_year(year)
        with self.engine.connect() as conn:
            rows = self.projection.period_rows(conn, period.start, period.end)
        return participation(Facts.of(rows), year)

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        return self.projection.dump()


def _period(query: AnnualSummaryQuery) -> Period:
    return period_of(query.year, query.start, query.end)


def _summarise(facts: Facts, query: AnnualSummaryQuery) -> dict[str, Any]:
    period = _period(query)
    as_of = format_datetime(query.as_of) if query.as_of else None
    return annual_summary(facts, period, as_of).as_json()


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction whose statements all see one state of the database."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # pysqlite opens no transaction for SELECTs: each would see the latest commit.
            conn.exec_driver_sql("BEGIN")
        else:
            # The first statement of the (auto-begun) transaction; READ COMMITTED would give
            # each statement its own snapshot.
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield conn
        finally:
            conn.rollback()


def receipt_basis(
    query: AnnualSummaryQuery,
    cut: dict[str, StreamCut],
    until_seq: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The receipt without its rendering part (``format``, ``lang``, ``output_digest``),
    which whoever renders the summary adds (briefings/audit/receipts.py ``complete``)."""
    seqs = {s: c.sequence for s, c in cut.items()} | dict(until_seq or {})
    return {
        "receipt": RECEIPT_FORMAT,
        "cut": dict(sorted(seqs.items())),
        "streams": {s: {"events": c.events, "digest": c.digest} for s, c in sorted(cut.items())},
        "events": sum(c.events for c in cut.values()),
        "events_digest": _digest.events_digest({s: c.digest for s, c in cut.items()}),
        "projection_version": PROJECTION_VERSION,
        "query": query.model_dump(mode="json", exclude_none=True),
    }


def memory_engine() -> Engine:
    """A private in-memory SQLite database (one connection, usable from any thread)."""
    return create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
