"""Small helpers the roster tests share: send a command, count stored events."""

from __future__ import annotations

import uuid
from typing import Any

from nats.aio.client import Client

from tests.support import request

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
