"""Helpers of the reliability suite: services with injected faults, reading streams whole."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from contracts.subjects import CONTEXTS, stream_name
from runtime.eventstore import EventStore
from runtime.settings import Settings
from tests.support import ServiceProcess


class FaultyService(ServiceProcess):
    """``briefings serve NAME`` with extra environment (e.g. ``BRIEFINGS_FAULT``)."""

    def __init__(
        self, name: str, settings: Settings, log_path: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        super().__init__(name, settings, log_path)
        self.extra_env = extra_env or {}

    def env(self) -> dict[str, str]:
        env = super().env()
        env.pop("BRIEFINGS_FAULT", None)
        env.update(self.extra_env)
        return env

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)


async def stream_envelopes(nc: Client, stream: str) -> list[dict[str, Any]]:
    """Every event of ``stream`` in order, as JSON, with its stream sequence (``_seq``)."""
    es = EventStore(nc)
    try:
        last = await es.stream_last_sequence(stream)
    except Exception:
        return []
    out = []
    async for stored in es.iterate(stream, 1, last):
        body = json.loads(stored.data)
        body["_seq"] = stored.sequence
        body["_subject"] = stored.subject
        out.append(body)
    return out


async def message_counts(nc: Client) -> dict[str, int]:
    js = nc.jetstream()
    counts = {}
    for context in CONTEXTS:
        try:
            info = await js.stream_info(stream_name(context))
            counts[stream_name(context)] = int(info.state.messages)
        except Exception:
            counts[stream_name(context)] = 0
    return counts


def events_by_command(envelopes: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e.get("command_id") for e in envelopes)


async def wait_until(predicate: Any, timeout: float = 30, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(interval)
    raise TimeoutError("condition not met in time")
