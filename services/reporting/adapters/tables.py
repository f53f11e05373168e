"""The read model's tables. Each generation has its own set (``reporting_g<N>_*``) so a
rebuild fills fresh tables while the old ones keep answering; ``reporting_meta`` says which
generation is live and which one is being built.

Rows hold raw facts keyed by the fact's own identity (member changes, attendance by
(conference, member), ...). Report figures are derived at query time by joining them, so
no stream's event ever updates a row another stream wrote: the tables do not depend on how
the streams interleave.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

meta_metadata = MetaData()
meta = Table(
    "reporting_meta",
    meta_metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(200), nullable=True),
)


@dataclass(frozen=True)
class Tables:
    generation: int
    metadata: MetaData
    positions: Table
    member_changes: Table
    unit_changes: Table
    conferences: Table
    attendance: Table
    guests: Table
    awards: Table

    def facts(self) -> list[Table]:
        """Every table whose content the projection decides (what a dump compares)."""
        return [
            self.positions,
            self.member_changes,
            self.unit_changes,
            self.conferences,
            self.attendance,
            self.guests,
            self.awards,
        ]


def tables(generation: int) -> Tables:
    p = f"reporting_g{generation}_"
    md = MetaData()

    def changes(name: str, key: str) -> Table:
        # One row per field an event set: effective-dated, so any date's state can be folded.
        return Table(
            p + name,
            md,
            Column(key, String(64), primary_key=True),
            Column("seq", Integer, primary_key=True, autoincrement=False),
            Column("field", String(32), primary_key=True),
            Column("value", String(400), nullable=True),
            # a yes/no field (active, core) as a boolean; ``value`` is then NULL
            Column("flag", Boolean, nullable=True),
            Column("effective_on", Date, nullable=False),
            # a period's query reads the changes effective by its end (and later names)
            Index(f"{p}{name}_effective_on", "effective_on"),
        )

    return Tables(
        generation=generation,
        metadata=md,
        positions=Table(
            p + "positions",
            md,
            Column("stream", String(32), primary_key=True),
            Column("sequence", Integer, nullable=False),
            # Events applied (or set aside) so far and their running digest: what a receipt
            # names (services/reporting/domain/digest.py). Written with the position.
            Column("events", Integer, nullable=False, default=0),
            Column("digest", String(64), nullable=False),
        ),
        member_changes=changes("member_changes", "member_id"),
        unit_changes=changes("unit_changes", "unit_id"),
        conferences=Table(
            p + "conferences",
            md,
            Column("conference_id", String(64), primary_key=True),
            Column("status", String(16), nullable=False),
            Column("kinds", Text, nullable=False),
            Column("title", String(200), nullable=False),
            Column("planned_on", Date, nullable=True),
            Column("held_on", Date, nullable=True),
            Column("cancelled_on", Date, nullable=True),
            Column("venue", Text, nullable=False),
            Column("organiser", Text, nullable=False),
            Column("presenters", Text, nullable=False),
            Column("topics", Text, nullable=False),
            Column("seq", Integer, nullable=False),
            # the summary reads the conferences held in its period (attendance and guests
            # by their primary keys, which lead with conference_id)
            Index(f"{p}conferences_held_on", "held_on"),
        ),
        attendance=Table(
            p + "attendance",
            md,
            Column("conference_id", String(64), primary_key=True),
            Column("member_id", String(64), primary_key=True),
            Column("attended", Boolean, nullable=False),
            Column("unit_id", String(64), nullable=True),
            Column("seq", Integer, nullable=False),
        ),
        guests=Table(
            p + "guests",
            md,
            Column("conference_id", String(64), primary_key=True),
            Column("category", String(32), primary_key=True),
            Column("headcount", Integer, nullable=False),
            Column("seq", Integer, nullable=False),
        ),
        awards=Table(
            p + "awards",
            md,
            Column("award_id", String(64), primary_key=True),
            Column("recipient_type", String(16), nullable=False),
            Column("recipient_id", String(64), nullable=False),
            Column("recipient_name", Text, nullable=False),
            Column("award_kind", String(64), nullable=False),
            Column("title", String(200), nullable=False),
            Column("period", String(16), nullable=False),
            Column("reason", Text, nullable=False),
            Column("decision_number", String(64), nullable=False),
            Column("decision_date", Date, nullable=False),
            Column("authority", Text, nullable=False),
            Column("revoked", Boolean, nullable=False),
            Column("revoked_on", Date, nullable=True),
            Column("revocation_number", String(64), nullable=True),
            Column("seq", Integer, nullable=False),
            Index(f"{p}awards_decision_date", "decision_date"),
        ),
    )
