"""A period's facts, read from the fact tables with the database doing the filtering,
folding and counting (SQLite and PostgreSQL alike).

What the summary of a period needs, and how it is read:

- the conferences held in it (index on ``held_on``) and their guests (primary key);
- attendance at those conferences counted per member (count, first and last day) and per
  conference; the rows themselves only of the members whose attendances cannot be counted
  under one unit and role (domain/summary.py ``needs_detail``: few);
- the awards decided in it (index on ``decision_date``);
- each member's state the day before it starts, folded by the database (the last change of
  each field effective before the start, a window function), and the changes effective in
  it (index on ``effective_on``); each member's last recorded name, whatever its date;
- every unit change (a few per unit).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Integer, and_, case, cast, func, select

from services.reporting.adapters.tables import Tables
from services.reporting.domain.summary import (
    Facts,
    History,
    Period,
    Tallies,
    needs_detail,
)

STATE_FIELDS = ("active", "unit_id", "role", "core")
"""The member fields a period's figures fold (names are read apart)."""
VALUES = ("unit_id", "role")
FLAGS = ("active", "core")
"""Yes/no fields: stored as booleans (``flag``)."""

IN_CHUNK = 500
DETAIL_FOR_ALL = 2000
"""Above this many members needing detail, every attendance row of the period is read."""


def _dicts(conn: Connection, stmt: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(stmt).mappings()]


def period_facts(conn: Connection, t: Tables, period: Period) -> Facts:
    """The facts of ``period`` (read in ``conn``'s transaction: one snapshot if it is one)."""
    if conn.dialect.name == "postgresql":
        # The default cost of a random page (4, for spinning disks) makes the planner scan
        # all the attendance instead of its index for the period's conferences (5x slower
        # at a million events). For this transaction only.
        conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")
    c, a, g, w = t.conferences, t.attendance, t.guests, t.awards
    held_where = (c.c.status == "held") & c.c.held_on.between(period.start, period.end)
    held_ids = select(c.c.conference_id).where(held_where)
    present = a.c.conference_id.in_(held_ids) & a.c.attended

    members = _members(conn, t, period)

    per_member = {
        mid: (int(n), first, last)
        for mid, n, first, last in conn.execute(
            select(a.c.member_id, func.count(), func.min(c.c.held_on), func.max(c.c.held_on))
            .select_from(a.join(c, a.c.conference_id == c.c.conference_id))
            .where(held_where & a.c.attended)
            .group_by(a.c.member_id)
        )
    }
    per_conference = {
        cid: int(n)
        for cid, n in conn.execute(
            select(a.c.conference_id, func.count()).where(present).group_by(a.c.conference_id)
        )
    }
    tallies = Tallies(per_member, per_conference)

    need = needs_detail(members, tallies)
    detail = sorted(need)
    rows: list[Any] = []
    cols = (a.c.conference_id, a.c.member_id, a.c.unit_id)
    if len(detail) > DETAIL_FOR_ALL:
        wanted = set(detail)
        rows = [r for r in conn.execute(select(*cols).where(present)) if r[1] in wanted]
    else:
        for i in range(0, len(detail), IN_CHUNK):
            chunk = detail[i : i + IN_CHUNK]
            rows.extend(conn.execute(select(*cols).where(present & a.c.member_id.in_(chunk))))
    attended: dict[str, set[str]] = defaultdict(set)
    recorded_unit: dict[tuple[str, str], str | None] = {}
    for cid, mid, unit in rows:
        attended[cid].add(mid)
        recorded_unit[(cid, mid)] = unit

    guests: dict[str, dict[str, int]] = defaultdict(dict)
    for row in _dicts(conn, select(g).where(g.c.conference_id.in_(held_ids))):
        guests[row["conference_id"]][row["category"]] = int(row["headcount"])
    return Facts(
        members,
        History.of(_dicts(conn, select(t.unit_changes)), "unit_id"),
        _dicts(conn, select(c).where(held_where)),
        dict(attended),
        recorded_unit,
        dict(guests),
        _dicts(conn, select(w).where(w.c.decision_date.between(period.start, period.end))),
        tallies,
        need,
    )


def _members(conn: Connection, t: Tables, period: Period) -> History:
    m = t.member_changes
    before = period.start - timedelta(days=1)
    # The last change of each state field effective before the period, one row per member.
    ranked = (
        select(
            m.c.member_id,
            m.c.field,
            m.c.value,
            m.c.flag,
            func.row_number()
            .over(
                partition_by=(m.c.member_id, m.c.field),
                order_by=(m.c.effective_on.desc(), m.c.seq.desc()),
            )
            .label("rn"),
        )
        .where((m.c.effective_on <= before) & m.c.field.in_(STATE_FIELDS))
        .subquery()
    )
    pivot = (
        select(
            ranked.c.member_id,
            *(func.max(case((ranked.c.field == f, ranked.c.value))).label(f) for f in VALUES),
            # booleans have no max() on PostgreSQL: as 0/1 here, booleans again below
            *(
                func.max(case((ranked.c.field == f, cast(ranked.c.flag, Integer)))).label(f)
                for f in FLAGS
            ),
        )
        .where(ranked.c.rn == 1)
        .group_by(ranked.c.member_id)
    )
    base: dict[str, dict[str, str | bool | None]] = {}
    for row in conn.execute(pivot):
        state: dict[str, str | bool | None] = dict(
            zip(VALUES, row[1 : 1 + len(VALUES)], strict=True)
        )
        for f, flag in zip(FLAGS, row[1 + len(VALUES) :], strict=True):
            state[f] = None if flag is None else bool(flag)
        base[row[0]] = state
    changes = _dicts(
        conn,
        select(m).where(
            m.c.effective_on.between(period.start, period.end)
            & m.c.field.in_((*STATE_FIELDS, "_event"))
        ),
    )
    # The name last recorded (highest sequence), whatever its date.
    last = (
        select(m.c.member_id, func.max(m.c.seq).label("seq"))
        .where(m.c.field == "full_name")
        .group_by(m.c.member_id)
        .subquery()
    )
    names = {
        mid: {"full_name": value}
        for mid, value in conn.execute(
            select(m.c.member_id, m.c.value).join(
                last,
                and_(
                    m.c.member_id == last.c.member_id,
                    m.c.seq == last.c.seq,
                    m.c.field == "full_name",
                ),
            )
        )
    }
    history = History.of(changes, "member_id")
    history.base, history.base_day, history.names = base, before, names
    return history
