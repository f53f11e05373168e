"""The follower's own table of awards, and the event ids it has applied (its dedupe)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

SCHEMA = """
create table if not exists applied_events (
    event_id    text primary key,   -- the envelope's event_id: a redelivery is skipped
    stream_seq  integer not null,
    event_type  text not null,
    applied     integer not null    -- 1 when it changed the table, 0 when skipped
);
create table if not exists awards (
    award_id         text primary key,
    recipient_type   text not null,
    recipient_id     text not null,
    recipient_name   text not null,
    award_kind       text not null,
    title            text not null,
    period           text not null,
    decision_number  text not null,
    decision_date    text not null,
    status           text not null,   -- granted | revoked
    revoked_reason   text,
    version          integer not null -- the aggregate_version of the last event applied
);
"""


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit off; every event is one transaction (apply + remember its id)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("pragma journal_mode=wal")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def apply(
        self, event_id: str, seq: int, event_type: str, envelope: dict[str, Any] | None
    ) -> str:
        """Apply one event once (``envelope`` None: a type this follower skips).

        Returns "applied", "skipped" or "duplicate" (its event id was seen before)."""
        db = self.db
        db.execute("begin immediate")
        try:
            inserted = db.execute(
                "insert or ignore into applied_events values (?, ?, ?, ?)",
                (event_id, seq, event_type, int(envelope is not None)),
            ).rowcount
            if inserted and envelope is not None:
                self._apply(envelope, event_type)
            db.execute("commit")
        except BaseException:
            db.execute("rollback")
            raise
        if not inserted:
            return "duplicate"
        return "applied" if envelope is not None else "skipped"

    def _apply(self, envelope: dict[str, Any], event_type: str) -> None:
        p = envelope["payload"]
        version = envelope["aggregate_version"]
        if event_type == "AwardGranted":
            self.db.execute(
                "insert into awards values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'granted', null, ?)"
                " on conflict (award_id) do update set status = 'granted',"
                " revoked_reason = null, version = excluded.version",
                (
                    p["award_id"],
                    p["recipient_type"],
                    p["recipient_id"],
                    p.get("recipient_name", ""),
                    p["award_kind"],
                    p["title"],
                    p["period"],
                    p["decision_number"],
                    p["decision_date"],
                    version,
                ),
            )
        elif event_type == "AwardRevoked":
            self.db.execute(
                "update awards set status = 'revoked', revoked_reason = ?, version = ?"
                " where award_id = ?",
                (p.get("reason", ""), version, p["award_id"]),
            )
