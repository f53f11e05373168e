"""Auditors need read access only: export and verify run with credentials that can do nothing
but stream info and direct gets; and the history cannot be deleted or purged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.errors import APIError

from contracts.subjects import event_streams
from runtime.eventstore import EventStore
from runtime.nats_server import NatsServer
from tests.audit.history import roster_history, run_cli
from tests.support import running_service, settings_for

# The least the audit commands need: nothing that creates a consumer, nothing that writes.
CONFIG = """
authorization {
  users: [
    { user: writer, password: w }
    { user: auditor, password: a, permissions: {
        publish: { allow: ["$JS.API.INFO", "$JS.API.STREAM.INFO.*",
                           "$JS.API.DIRECT.GET.*", "$JS.API.DIRECT.GET.*.>"] }
        subscribe: { allow: ["_INBOX.>"] } } }
    { user: operator, password: o, permissions: {
        publish: { allow: ["$JS.API.>"],
                   deny: ["$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.PURGE.>",
                          "$JS.API.STREAM.MSG.DELETE.>"] }
        subscribe: { allow: ["_INBOX.>"] } } }
  ]
}
"""


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[NatsServer]:
    config = tmp_path / "nats.conf"
    config.write_text(CONFIG)
    server = NatsServer(
        tmp_path / "nats", config_file=config, log_file=tmp_path / "nats.log"
    ).start()
    yield server
    server.stop()


def _url(server: NatsServer, user: str, password: str) -> str:
    return f"nats://{user}:{password}@{server.host}:{server.port}"


async def test_export_and_verify_with_read_only_credentials(
    secured: NatsServer, tmp_path: Path
) -> None:
    writer = await nats.connect(_url(secured, "writer", "w"))
    try:
        settings = settings_for(_url(secured, "writer", "w"), tmp_path / "data")
        async with running_service("roster", settings):
            await roster_history(writer)
    finally:
        await writer.close()
    path = tmp_path / "h.jsonl"
    done = run_cli(secured.url, "export", "-o", str(path), user="auditor", password="a")
    assert done.returncode == 0, done.stderr
    assert len(path.read_bytes().splitlines()) == 9 + 1
    for args in (("verify",), ("verify", str(path))):
        done = run_cli(secured.url, *args, user="auditor", password="a")
        assert done.returncode == 0, done.stdout + done.stderr
    # The same credentials can neither write an event nor create a consumer.
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    auditor = await nats.connect(_url(secured, "auditor", "a"), error_cb=on_error)
    try:
        js = auditor.jetstream(timeout=1)
        with pytest.raises(Exception):  # noqa: B017 - refused: no PubAck ever comes
            await js.publish("ev.roster.unit.city", b"{}", stream="ROSTER")
        with pytest.raises(Exception):  # noqa: B017
            await js.subscribe("ev.roster.>", stream="ROSTER", ordered_consumer=True)
        await asyncio.sleep(0.2)
    finally:
        await auditor.close()
    assert any("permissions violation" in str(e).lower() for e in errors), errors
    assert (await _messages(secured)) == 9


async def _messages(server: NatsServer) -> int:
    nc = await nats.connect(_url(server, "writer", "w"))
    try:
        return int((await nc.jetstream().stream_info("ROSTER")).state.messages)
    finally:
        await nc.close()


async def test_delete_and_purge_refused_on_every_stream(secured: NatsServer) -> None:
    """Stream config refuses message deletes and purges for everyone, and cannot be relaxed;
    permissions keep even the operator from deleting a stream."""
    writer = await nats.connect(_url(secured, "writer", "w"))
    operator = await nats.connect(_url(secured, "operator", "o"))
    try:
        await EventStore(writer).ensure_streams(event_streams())
        js = writer.jetstream(timeout=2)
        for spec in event_streams():
            context = spec.name.lower()
            await js.publish(f"ev.{context}.x.y", b"{}", stream=spec.name)
            for refused in (
                lambda n=spec.name: js.purge_stream(n),
                lambda n=spec.name: js.delete_msg(n, 1),
            ):
                with pytest.raises(APIError):
                    await refused()
            info = await js.stream_info(spec.name)
            info.config.deny_delete = False
            info.config.deny_purge = False
            with pytest.raises(APIError):
                await js.update_stream(info.config)
            with pytest.raises(Exception):  # noqa: B017 - no reply to a denied request
                await operator.jetstream(timeout=1).delete_stream(spec.name)
            after = await js.stream_info(spec.name)
            assert after.state.messages == 1 and after.config.deny_delete
        assert json.loads((await js.get_msg("ROSTER", 1)).data) == {}
    finally:
        await writer.close()
        await operator.close()
