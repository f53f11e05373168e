"""The awards service's SQL: its awards (for queries and decision checks) and its copy of
the roster (``runtime/rostercopy.py``: "exists and active on the decision date")."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
)

from contracts.awards import RecipientType
from runtime.rostercopy import Copied, RosterCopy
from services.awards.domain import recipients as rh
from services.awards.domain.awards import Award, KnownDecision

metadata = MetaData()

awards = Table(
    "awards_awards",
    metadata,
    Column("award_id", String(64), primary_key=True),
    Column("recipient_type", String(16), nullable=False),
    Column("recipient_id", String(64), nullable=False, index=True),
    Column("award_kind", String(64), nullable=False),
    Column("period", String(16), nullable=False, index=True),
    Column("decision_number", String(64), nullable=False, index=True),
    Column("decision_date", Date, nullable=False),
    Column("authority", String(2000), nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("revoke_decision_number", String(64), index=True),
    Column("revoke_decision_date", Date),
    Column("state", Text, nullable=False),
)


def keep_views(
    conn: Connection, aggregate_type: str, aggregate_id: str, state: BaseModel | None
) -> None:
    """StateHook: replace the row of the award whose snapshot just changed."""
    if not isinstance(state, Award):
        return
    conn.execute(delete(awards).where(awards.c.award_id == aggregate_id))
    conn.execute(
        insert(awards).values(
            award_id=aggregate_id,
            recipient_type=state.recipient_type.value,
            recipient_id=state.recipient_id,
            award_kind=state.award_kind,
            period=state.period,
            decision_number=state.decision_number,
            decision_date=state.decision_date,
            authority=state.authority,
            revoked=state.revoked,
            revoke_decision_number=state.revoke_decision_number,
            revoke_decision_date=state.revoke_decision_date,
            state=state.model_dump_json(),
        )
    )


class AwardViews:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.roster = RosterCopy(engine, "awards")

    def recipient(
        self, recipient_type: RecipientType, recipient_id: str
    ) -> rh.RecipientHistory | None:
        copy: Copied | None = (
            self.roster.unit(recipient_id)
            if recipient_type is RecipientType.COLLECTIVE
            else self.roster.member(recipient_id)
        )
        return rh.RecipientHistory.of(recipient_type, recipient_id, copy) if copy else None

    def decision(self, number: str) -> KnownDecision | None:
        """The date (and, from grants, the authority) recorded under ``number``, if used."""
        with self.engine.connect() as conn:
            granted = conn.execute(
                select(awards.c.decision_date, awards.c.authority)
                .where(awards.c.decision_number == number)
                .order_by(awards.c.decision_date)
                .limit(1)
            ).first()
            if granted is not None:
                return KnownDecision(
                    decision_number=number,
                    decision_date=granted.decision_date,
                    authority=granted.authority,
                )
            revoked = conn.execute(
                select(awards.c.revoke_decision_date)
                .where(awards.c.revoke_decision_number == number)
                .limit(1)
            ).scalar()
        if revoked is None:
            return None
        return KnownDecision(decision_number=number, decision_date=revoked)

    def award(self, award_id: str) -> dict[str, Any] | None:
        rows = self.awards_where(awards.c.award_id == award_id)
        return rows[0] if rows else None

    def awards_where(self, *conditions: Any) -> list[dict[str, Any]]:
        query = select(awards.c.state).order_by(
            awards.c.period, awards.c.decision_date, awards.c.award_id
        )
        for condition in conditions:
            query = query.where(condition)
        with self.engine.connect() as conn:
            return [_row(json.loads(r.state)) for r in conn.execute(query)]

    def listing(
        self, period: str | None, recipient_id: str | None, include_revoked: bool = True
    ) -> list[dict[str, Any]]:
        conditions: list[Any] = []
        if period is not None:
            conditions.append(awards.c.period == period)
        if recipient_id is not None:
            conditions.append(awards.c.recipient_id == recipient_id)
        if not include_revoked:
            conditions.append(awards.c.revoked.is_(False))
        return self.awards_where(*conditions)

    def held(self, period: str) -> dict[tuple[str, str], list[str]]:
        """Active award kinds per (recipient_type, recipient_id) for ``period``."""
        held: dict[tuple[str, str], list[str]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(
                select(awards.c.recipient_type, awards.c.recipient_id, awards.c.award_kind).where(
                    awards.c.period == period, awards.c.revoked.is_(False)
                )
            ):
                held.setdefault((r.recipient_type, r.recipient_id), []).append(r.award_kind)
        return held


def _row(state: dict[str, Any]) -> dict[str, Any]:
    state["status"] = "revoked" if state.get("revoked") else "granted"
    return state
