"""SQLAlchemy engines: SQLite files by default, PostgreSQL by URL, the same code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, String, Text, create_engine, event, inspect, text
from sqlalchemy.engine import make_url


def normalise_url(url: str) -> str:
    """Plain ``postgresql://`` URLs use psycopg 3, the driver the project installs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL + NORMAL: durable at each checkpoint, fast commits; the streams are the truth.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def widen_columns(engine: Engine, metadata: MetaData) -> list[str]:
    """Widen the PostgreSQL text columns an older release created narrower than the tables
    now declare (``VARCHAR(200)`` → ``VARCHAR(600)`` or ``TEXT``), so that every value the
    contracts accept fits. Only ever widens; SQLite does not enforce lengths. Returns the
    columns changed (``table.column``)."""
    if engine.dialect.name != "postgresql":
        return []
    changed = []
    with engine.begin() as conn:
        found = inspect(conn)
        for table in metadata.sorted_tables:
            if not found.has_table(table.name):
                continue
            existing = {c["name"]: c["type"] for c in found.get_columns(table.name)}
            for column in table.columns:
                now = existing.get(column.name)
                if not isinstance(column.type, String) or not isinstance(now, String):
                    continue
                want = None if isinstance(column.type, Text) else column.type.length
                have = None if isinstance(now, Text) else now.length
                if have is None or (want is not None and want <= have):
                    continue
                kind = "TEXT" if want is None else f"VARCHAR({want})"
                conn.execute(
                    text(f'ALTER TABLE "{table.name}" ALTER COLUMN "{column.name}" TYPE {kind}')
                )
                changed.append(f"{table.name}.{column.name}")
    return changed
