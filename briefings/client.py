"""How the CLI, the demo and the tools talk to the services: NATS request/reply with the
process's settings. Every failure, including a timeout and "no responders", is a
``RequestFailed`` carrying the documented error shape."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from runtime.connection import connect
from runtime.settings import Settings

T = TypeVar("T")


class RequestFailed(Exception):
    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(reply.get("message", "request failed"))
        self.reply = reply


def settings() -> Settings:
    return Settings.from_env()


def new_command_id() -> str:
    return str(uuid.uuid4())


def run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(coro_fn())


class Client_:
    """One connection for a CLI run; ``request`` returns the decoded reply."""

    def __init__(self, s: Settings | None = None) -> None:
        self.settings = s or settings()
        self.nc: Client | None = None

    async def __aenter__(self) -> Client_:
        try:
            self.nc = await connect(
                self.settings, "briefings-cli", max_reconnect_attempts=2, allow_reconnect=False
            )
        except Exception as exc:
            raise RequestFailed(
                {
                    "code": "unavailable",
                    "message": f"cannot reach NATS at {self.settings.nats_url}: {exc}",
                }
            ) from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.nc is not None:
            await self.nc.close()

    async def request_raw(
        self, subject: str, body: bytes, timeout: float | None = None
    ) -> dict[str, Any]:
        assert self.nc is not None
        try:
            msg = await self.nc.request(
                subject, body, timeout=timeout or self.settings.request_timeout
            )
        except NoRespondersError:
            raise RequestFailed(
                {"code": "unavailable", "message": f"no service answers {subject}"}
            ) from None
        except NatsTimeoutError:
            raise RequestFailed(
                {"code": "unavailable", "message": f"no reply on {subject} in time"}
            ) from None
        reply: dict[str, Any] = json.loads(msg.data)
        return reply

    async def request(
        self, subject: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        reply = await self.request_raw(subject, json.dumps(payload, default=str).encode(), timeout)
        if reply.get("ok") is False:
            raise RequestFailed(reply)
        return reply
