"""The events service's query table, kept in step with conference snapshots."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    Column,
    Connection,
    Date,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
)

from services.events.domain.conferences import Conference

metadata = MetaData()

conferences = Table(
    "events_conferences",
    metadata,
    Column("conference_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("day", Date, nullable=False, index=True),
    Column("year", Integer, nullable=False, index=True),
    Column("state", Text, nullable=False),
)


def keep_views(
    conn: Connection, aggregate_type: str, aggregate_id: str, state: BaseModel | None
) -> None:
    """StateHook: replace the row of the conference whose snapshot just changed."""
    if not isinstance(state, Conference):
        return
    day = state.held_on or state.planned_on
    conn.execute(delete(conferences).where(conferences.c.conference_id == aggregate_id))
    conn.execute(
        insert(conferences).values(
            conference_id=aggregate_id,
            status=state.status.value,
            day=day,
            year=day.year,
            state=state.model_dump_json(),
        )
    )


class ConferenceViews:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def conference(self, conference_id: str) -> Conference | None:
        with self.engine.connect() as conn:
            state = conn.execute(
                select(conferences.c.state).where(conferences.c.conference_id == conference_id)
            ).scalar()
        return Conference.model_validate_json(state) if state else None

    def conferences(self, year: int | None = None) -> list[Conference]:
        query = select(conferences.c.state).order_by(conferences.c.day, conferences.c.conference_id)
        if year is not None:
            query = query.where(conferences.c.year == year)
        with self.engine.connect() as conn:
            return [Conference.model_validate_json(row.state) for row in conn.execute(query)]


def summary(conference: Conference) -> dict[str, Any]:
    data = conference.model_dump(mode="json", exclude={"attendees"})
    data["member_attendance"] = conference.member_attendance
    data["guest_attendance"] = conference.guest_attendance
    data["total_attendance"] = conference.member_attendance + conference.guest_attendance
    return data
