"""The roster's query tables, kept in step with member and unit snapshots."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    and_,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from contracts.roster import CONTEXT
from contracts.subjects import event_subject
from runtime.paging import Page, decode_cursor, fill
from services.roster.domain.members import Member
from services.roster.domain.units import Unit

metadata = MetaData()

members = Table(
    "roster_members",
    metadata,
    Column("member_id", String(64), primary_key=True),
    Column("full_name", String(200), nullable=False),
    # Case folding lengthens text up to 3x ("ß" -> "ss", "ΐ" -> 3): a 200-character name's key.
    Column("name_key", String(600), nullable=False, index=True),
    Column("role", String(32), nullable=False),
    Column("unit_id", String(64), nullable=False, index=True),
    Column("external_code", String(64), index=True),
    Column("core", Boolean, nullable=False),
    Column("active", Boolean, nullable=False),
    # The state as JSON: escaping can double a 2,000-character contact of quotes.
    Column("state", Text, nullable=False),
)

units = Table(
    "roster_units",
    metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("external_code", String(64), index=True),
    Column("active", Boolean, nullable=False),
    Column("state", Text, nullable=False),
)


def _chunks(values: list[str], size: int = 500) -> Iterator[list[str]]:
    """Bound ``IN (...)`` lists (SQLite allows 32,766 parameters per statement)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def name_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


_UPSERTS: dict[tuple[str, str], Any] = {}


def _upsert(conn: Connection, table: Table, key: str, row: dict[str, Any]) -> None:
    """Replace the row in one statement (built once per dialect and table: building Core
    statements per call costs more than running them)."""
    stmt = _UPSERTS.get((conn.dialect.name, table.name))
    if stmt is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        ins = dialect.insert(table)
        stmt = ins.on_conflict_do_update(
            index_elements=[key],
            set_={c.name: ins.excluded[c.name] for c in table.columns if c.name != key},
        )
        _UPSERTS[(conn.dialect.name, table.name)] = stmt
    conn.execute(stmt, row)


def keep_views(
    conn: Connection, aggregate_type: str, aggregate_id: str, state: BaseModel | None
) -> None:
    """StateHook: replace the row of the aggregate whose snapshot just changed."""
    if isinstance(state, Member):
        _upsert(
            conn,
            members,
            "member_id",
            dict(
                member_id=aggregate_id,
                full_name=state.full_name,
                name_key=name_key(state.full_name),
                role=state.role.value,
                unit_id=state.unit_id,
                external_code=state.external_code,
                core=state.core,
                active=state.active,
                state=state.model_dump_json(),
            ),
        )
    elif isinstance(state, Unit):
        _upsert(
            conn,
            units,
            "unit_id",
            dict(
                unit_id=aggregate_id,
                name=state.name,
                kind=state.kind.value,
                external_code=state.external_code,
                active=state.active,
                state=state.model_dump_json(),
            ),
        )


class RosterViews:
    """Reads of the roster's own projection. Each row is the aggregate's state plus its
    ``version`` (from the snapshot table), so clients can tell which state they saw."""

    def __init__(self, engine: Engine, snapshots: Table | None = None) -> None:
        self.engine = engine
        self.snapshots = snapshots

    def _rows(self, query: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [self._row(r) for r in conn.execute(query)]

    @staticmethod
    def _row(r: Any) -> dict[str, Any]:
        row: dict[str, Any] = json.loads(r.state)
        if "version" in r._fields:
            row["version"] = r.version
        return row

    def _select(self, table: Table, id_column: Any, aggregate_type: str) -> Any:
        if self.snapshots is None:
            return select(table.c.state)
        snaps = self.snapshots
        # Joined by the snapshot's primary key (its subject): one index lookup per row, where
        # (aggregate_type, aggregate_id) scanned every snapshot of the type for each row.
        subject = literal(event_subject(CONTEXT, aggregate_type, "x")[:-1]) + id_column
        joined = table.outerjoin(snaps, snaps.c.subject == subject)
        return select(table.c.state, snaps.c.version).select_from(joined)

    def people(self) -> list[dict[str, Any]]:
        """Every registered person (their snapshots: people have no view table)."""
        if self.snapshots is None:
            return []
        snaps = self.snapshots
        query = select(snaps.c.state, snaps.c.version).where(snaps.c.aggregate_type == "person")
        return sorted(self._rows(query), key=lambda p: (p["name"], p["person_id"]))

    def _member_select(self) -> Any:
        return self._select(members, members.c.member_id, "member")

    def _unit_select(self) -> Any:
        return self._select(units, units.c.unit_id, "unit")

    def member(self, member_id: str) -> dict[str, Any] | None:
        rows = self._rows(self._member_select().where(members.c.member_id == member_id))
        return rows[0] if rows else None

    def unit(self, unit_id: str) -> dict[str, Any] | None:
        rows = self._rows(self._unit_select().where(units.c.unit_id == unit_id))
        return rows[0] if rows else None

    def members(
        self, unit_id: str | None = None, include_retired: bool = False
    ) -> list[dict[str, Any]]:
        query = self._member_select().order_by(members.c.name_key, members.c.member_id)
        if unit_id is not None:
            query = query.where(members.c.unit_id == unit_id)
        if not include_retired:
            query = query.where(members.c.active.is_(True))
        return self._rows(query)

    def members_page(
        self, unit_id: str | None, include_retired: bool, limit: int, after: str | None
    ) -> Page:
        """One page in (name, id) order, read by key from the index: page N costs as page 1."""
        query = (
            self._member_select()
            .add_columns(members.c.name_key, members.c.member_id)
            .order_by(members.c.name_key, members.c.member_id)
            .limit(limit + 1)
        )
        if unit_id is not None:
            query = query.where(members.c.unit_id == unit_id)
        if not include_retired:
            query = query.where(members.c.active.is_(True))
        cursor = decode_cursor(after, 2)
        if cursor is not None:
            name, member_id = (str(part) for part in cursor)
            query = query.where(
                or_(
                    members.c.name_key > name,
                    and_(members.c.name_key == name, members.c.member_id > member_id),
                )
            )
        with self.engine.connect() as conn:
            return fill(
                (
                    (self._row(r), len(r.state.encode()), (r.name_key, r.member_id))
                    for r in conn.execute(query)
                ),
                limit,
            )

    def members_by_code(self, codes: Iterable[str]) -> list[dict[str, Any]]:
        """Members whose external code equals one of ``codes`` compared as ``code_key``.

        The column keeps codes as written and its index finds them by the forms a file
        writes (as given, upper, lower); the comparison in Python decides."""
        forms = sorted({form for c in codes for form in (c, c.upper(), c.lower(), c.casefold())})
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(forms):
            query = self._member_select().where(members.c.external_code.in_(chunk))
            found.update((m["member_id"], m) for m in self._rows(query))
        return list(found.values())

    def members_named(self, pairs: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """Members whose ``(unit_id, name_key(full_name))`` is one of ``pairs``."""
        wanted = set(pairs)
        found: list[dict[str, Any]] = []
        for chunk in _chunks(sorted({name for _, name in wanted})):
            found += self._rows(self._member_select().where(members.c.name_key.in_(chunk)))
        return [m for m in found if (m["unit_id"], name_key(m["full_name"])) in wanted]

    def active_member_ids(self, unit_id: str) -> list[str]:
        with self.engine.connect() as conn:
            return [
                r[0]
                for r in conn.execute(
                    select(members.c.member_id).where(
                        members.c.unit_id == unit_id, members.c.active.is_(True)
                    )
                )
            ]

    def units(self, include_dissolved: bool = False) -> list[dict[str, Any]]:
        query = self._unit_select().order_by(units.c.name)
        if not include_dissolved:
            query = query.where(units.c.active.is_(True))
        return self._rows(query)

    def find(self, external_code: str | None, full_name: str | None) -> list[dict[str, Any]]:
        query = self._member_select()
        if external_code:
            query = query.where(members.c.external_code == external_code)
        if full_name:
            query = query.where(members.c.name_key == name_key(full_name))
        return self._rows(query.order_by(members.c.member_id))
