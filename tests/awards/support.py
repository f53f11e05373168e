"""Helpers for the awards tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from runtime.service import ServiceHost
from runtime.settings import Settings
from tests.support import running_service

PROBES = {
    "roster": "cmd.roster.register_unit",
    "awards": "cmd.awards.grant_award",
    "events": "cmd.events.schedule_conference",
    "reporting": "qry.reporting.status",
}


async def answering(nc: Client, subject: str, timeout: float = 10.0) -> None:
    """Until ``subject`` has a responder. Seen once in ~6 full runs under load: a request
    right after a service said ready got "no responders". An empty command body is refused
    by validation, so the probe writes nothing."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await nc.request(subject, b"{}", timeout=2)
            return
        except (NoRespondersError, NatsTimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def service(name: str, settings: Settings, nc: Client) -> AsyncIterator[ServiceHost]:
    async with running_service(name, settings) as host:
        await answering(nc, PROBES[name])
        yield host
