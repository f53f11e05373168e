"""Small helpers the roster tests share: send a command, count stored events."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from nats.aio.client import Client
from nats.errors import NoRespondersError

from runtime.service import ServiceHost
from runtime.settings import Settings
from tests.support import request, running_service

CITY = {"unit_id": "city", "kind": "city", "name": "Cấp thành phố"}
CELL = {"unit_id": "cell1", "kind": "party_cell", "name": "Chi bộ Khu phố 1"}


async def send(nc: Client, command: str, **payload: Any) -> dict[str, Any]:
    payload.setdefault("command_id", str(uuid.uuid4()))
    return await request(nc, f"cmd.roster.{command}", payload, timeout=20)


async def query(nc: Client, name: str, **payload: Any) -> dict[str, Any]:
    return await request(nc, f"qry.roster.{name}", payload, timeout=20)


async def stored(nc: Client) -> int:
    return int((await nc.jetstream().stream_info("ROSTER")).state.messages)


async def setup_units(nc: Client) -> None:
    for unit in (CITY, CELL):
        reply = await send(nc, "register_unit", **unit)
        assert reply["ok"], reply


async def answering(nc: Client, timeout: float = 15.0) -> None:
    """Wait until the service's subscriptions reached the server.

    ServiceHost marks itself ready once FastStream's broker started, but the SUBs may still
    be in flight on a loaded machine (seen as NoRespondersError). A server handles one
    connection's protocol in order, so once the last-registered query answers, all do.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await request(nc, "qry.roster.find_members", {}, timeout=5)
            return
        except NoRespondersError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def roster_running(settings: Settings, nc: Client) -> AsyncIterator[ServiceHost]:
    async with running_service("roster", settings) as host:
        await answering(nc)
        yield host
