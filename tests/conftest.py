from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from nats.aio.client import Client

from runtime.nats_server import NatsServer
from runtime.settings import Settings
from tests.support import connect, postgres_base_url, postgres_schema, settings_for

_PG: dict[str, str | None] = {}


def _pg_url() -> str | None:
    if "url" not in _PG:
        _PG["url"] = postgres_base_url()
    return _PG["url"]


SERVER_FIXTURES = frozenset({"nats_server", "nc", "settings"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked ``fast`` (scripts/test.sh --fast) must not start a nats-server."""
    for item in items:
        if item.get_closest_marker("fast") is None:
            continue
        wanted = SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
        if wanted:
            raise pytest.UsageError(f"{item.nodeid} is marked fast but uses {sorted(wanted)}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database layer runs on SQLite and on PostgreSQL; PostgreSQL is never skipped
    silently where it is running."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    base = _pg_url()
    if base is None:
        pytest.skip("no PostgreSQL: no explicit URL, no Docker engine, nothing on 127.0.0.1:5432")
    with postgres_schema(base) as url:
        yield url


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats", log_file=tmp_path / "nats.log").start()
    yield server
    server.stop()


@pytest_asyncio.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await connect(nats_server.url)
    yield client
    await client.close()


@pytest.fixture
def settings(nats_server: NatsServer, tmp_path: Path) -> Settings:
    return settings_for(nats_server.url, tmp_path / "data")
