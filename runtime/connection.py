"""Connecting to NATS with the process's settings."""

from __future__ import annotations

from typing import Any

import nats
from nats.aio.client import Client

from runtime.settings import Settings

MAX_PAYLOAD_HINT = 1024 * 1024


def connect_options(settings: Settings, name: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "servers": [u.strip() for u in settings.nats_url.split(",") if u.strip()],
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
        "allow_reconnect": True,
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
