"""How the CLI, the demo and the tools talk to the services: NATS request/reply with the
process's settings. Every failure, including a timeout, "no responders" and a lost
connection, is a ``RequestFailed`` carrying the documented error shape
``{"ok": false, "code", "message", "rule", "details", "context"}``."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from briefings.keys import signing_key
from contracts.replies import ErrorCode
from contracts.signing import SigningKey
from runtime.connection import connect
from runtime.settings import Settings

T = TypeVar("T")

RETRYABLE = frozenset({ErrorCode.UNAVAILABLE.value})
"""Answers worth retrying with the same command id: the service was not there (timeout, no
responders, starting, store unavailable). The command id makes the retry safe: a command that
went in before its reply was lost answers ``replayed``."""
RETRY_FOR_S = 120.0
"""How long a bulk path keeps retrying an unavailable service before it gives up."""


def error_shape(
    code: str,
    message: str,
    rule: str | None = None,
    details: list[dict[str, Any]] | None = None,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The one error shape, built on the client's side (a timeout, no responders, ...)."""
    return {
        "ok": False,
        "code": code,
        "message": message,
        "rule": rule,
        "details": list(details or []),
        "context": dict(context or {}),
    }


def as_error(reply: dict[str, Any]) -> dict[str, Any]:
    """``reply`` completed to the one error shape (``ok`` false, every key present)."""
    shaped = error_shape(
        str(reply.get("code") or ErrorCode.INTERNAL.value),
        str(reply.get("message") or "request failed"),
        reply.get("rule"),
        reply.get("details") or [],
        reply.get("context") or {},
    )
    return {**reply, **shaped}


def is_success(reply: dict[str, Any]) -> bool:
    """Only an explicit ``"ok": true`` is a success: anything else is a failure."""
    return reply.get("ok") is True


class RequestFailed(Exception):
    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = as_error(reply)
        super().__init__(self.reply["message"])

    @property
    def retryable(self) -> bool:
        return self.reply["code"] in RETRYABLE


def unavailable(message: str, **context: Any) -> RequestFailed:
    return RequestFailed(error_shape(ErrorCode.UNAVAILABLE.value, message, context=context))


def settings() -> Settings:
    return Settings.from_env()


def new_command_id() -> str:
    return str(uuid.uuid4())


def run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(coro_fn())


def backoff(attempt: int, first: float = 0.25, cap: float = 5.0) -> float:
    """The pause before retry number ``attempt`` (1, 2, ...): 0.25, 0.5, 1, 2, 4, 5, 5 ... s."""
    return float(min(cap, first * 2 ** (attempt - 1)))


class Client_:
    """One connection for a CLI run; ``request`` returns the decoded reply."""

    def __init__(self, s: Settings | None = None) -> None:
        self.settings = s or settings()
        self.nc: Client | None = None
        self.key: SigningKey | None = None

    async def __aenter__(self) -> Client_:
        try:
            # Every command this client sends is signed with the person's key (finding 5).
            self.key = signing_key(self.settings)
        except (OSError, ValueError, KeyError) as exc:
            raise RequestFailed(
                error_shape(
                    ErrorCode.UNAUTHORIZED.value,
                    f"cannot read the key file {self.settings.signing_key_path}: {exc}",
                    rule="key_file_unreadable",
                )
            ) from exc
        try:
            self.nc = await connect(
                self.settings,
                "briefings-cli",
                max_reconnect_attempts=2,
                allow_reconnect=True,
                reconnect_time_wait=0.5,
            )
        except Exception as exc:
            raise unavailable(
                f"cannot reach NATS at {self.settings.nats_url}: {exc or type(exc).__name__}",
                nats_url=self.settings.nats_url,
            ) from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.nc is not None:
            try:
                await self.nc.close()
            except Exception:  # closing a lost connection must not hide the real error
                pass

    async def request_raw(
        self, subject: str, body: bytes, timeout: float | None = None
    ) -> dict[str, Any]:
        """The decoded reply, success or refusal; a request that got no reply raises."""
        assert self.nc is not None
        # The signature covers these exact bytes: a body changed on the way is refused.
        headers = self.key.sign(body) if self.key and subject.startswith("cmd.") else None
        try:
            msg = await self.nc.request(
                subject, body, timeout=timeout or self.settings.request_timeout, headers=headers
            )
        except NoRespondersError:
            raise unavailable(f"no service answers {subject}", subject=subject) from None
        except (TimeoutError, NatsTimeoutError):
            raise unavailable(f"no reply on {subject} in time", subject=subject) from None
        except (NatsError, OSError) as exc:
            raise unavailable(
                f"request on {subject} failed: {exc or type(exc).__name__}", subject=subject
            ) from None
        try:
            reply = json.loads(msg.data)
        except ValueError:
            raise RequestFailed(
                error_shape(
                    "internal", f"unreadable reply on {subject}", context={"subject": subject}
                )
            ) from None
        if not isinstance(reply, dict):
            raise RequestFailed(
                error_shape(
                    "internal", f"unexpected reply on {subject}", context={"subject": subject}
                )
            )
        return reply

    async def request(
        self, subject: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        """The reply of a success; every failure raises ``RequestFailed``."""
        reply = await self.request_raw(subject, json.dumps(payload, default=str).encode(), timeout)
        if not is_success(reply):
            raise RequestFailed(reply)
        return reply

    async def request_retrying(
        self,
        subject: str,
        payload: dict[str, Any] | bytes,
        retry_for: float = RETRY_FOR_S,
        on_retry: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """``request`` for bulk paths: an ``unavailable`` answer (timeout, no responders, a
        service starting) is retried with the SAME body, so the same command id, with backoff,
        for up to ``retry_for`` seconds. Any other refusal raises at once."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload, default=str).encode()
        deadline = time.monotonic() + retry_for
        attempt = 0
        while True:
            try:
                reply = await self.request_raw(subject, body)
            except RequestFailed as exc:
                reply = exc.reply
            if is_success(reply):
                return reply
            failure = as_error(reply)
            attempt += 1
            pause = backoff(attempt)
            if failure["code"] not in RETRYABLE or time.monotonic() + pause > deadline:
                if failure["code"] in RETRYABLE:
                    failure["context"] = {**failure["context"], "attempts": attempt}
                raise RequestFailed(failure)
            if on_retry is not None:
                on_retry(failure)
            await asyncio.sleep(pause)
