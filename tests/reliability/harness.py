"""All services in one background event loop, for sync code (hypothesis) to call into."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from nats.aio.client import Client

from contracts.subjects import SERVICES
from runtime.nats_server import NatsServer
from tests.support import connect, running_service, settings_for

T = TypeVar("T")


def service_exists(name: str) -> bool:
    return importlib.util.find_spec(f"services.{name}.entrypoints.service") is not None


class Harness:
    """A nats-server and every service that exists, in process, on a loop in another thread."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = NatsServer(tmp / "nats", log_file=tmp / "nats.log")
        self.stack = contextlib.AsyncExitStack()
        self.nc: Client | None = None
        self.services = [s for s in SERVICES if service_exists(s)]

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> Harness:
        self.server.start()
        self.thread.start()
        self.call(self._start(), timeout=120)
        return self

    async def _start(self) -> None:
        settings = settings_for(self.server.url, self.tmp / "data")
        self.nc = await connect(self.server.url)
        for name in self.services:
            await self.stack.enter_async_context(running_service(name, settings, timeout=60))

    async def _stop(self) -> None:
        await self.stack.aclose()
        if self.nc is not None:
            await self.nc.close()

    def stop(self) -> None:
        try:
            self.call(self._stop(), timeout=120)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.server.stop()
