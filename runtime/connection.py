"""Connecting to NATS with the process's settings.

nats-py reports every failed connect or reconnect to its error callback; the default one
logs a forty-line traceback each time (thousands of lines while NATS is down). Ours logs one
structured line, and a connection error only at debug level: the retry loop that owns the
connection (``ServiceHost.connect``, nats-py's reconnect) says once per retry what it waits.
"""

from __future__ import annotations

from typing import Any

import nats
from nats.aio.client import Client

from runtime.logging import get_logger
from runtime.settings import Settings

log = get_logger("runtime.connection")

CONNECTION_ERRORS = (OSError, TimeoutError, nats.errors.NoServersError)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def callbacks(name: str) -> dict[str, Any]:
    """nats-py callbacks that log one structured line per happening, never a traceback."""

    async def error_cb(exc: Exception) -> None:
        if isinstance(exc, CONNECTION_ERRORS):
            log.debug("nats connection attempt failed", connection=name, error=_describe(exc))
        else:
            log.warning("nats error", connection=name, error=_describe(exc))

    async def disconnected_cb() -> None:
        log.info("nats disconnected", connection=name)

    async def reconnected_cb() -> None:
        log.info("nats reconnected", connection=name)

    return {
        "error_cb": error_cb,
        "disconnected_cb": disconnected_cb,
        "reconnected_cb": reconnected_cb,
    }


def connect_options(settings: Settings, name: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "servers": [u.strip() for u in settings.nats_url.split(",") if u.strip()],
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
        "allow_reconnect": True,
        **callbacks(name),
    }
    if settings.nats_creds:
        options["user_credentials"] = settings.nats_creds
    elif settings.nats_user:
        options["user"] = settings.nats_user
        options["password"] = settings.nats_password or ""
    return options


async def connect(settings: Settings, name: str, **overrides: Any) -> Client:
    options = connect_options(settings, name)
    options.update(overrides)
    return await nats.connect(**options)
