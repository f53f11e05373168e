"""Oversized messages are refused by configured limits, at every layer, without a crash:
the server's max_payload, the services' MAX_REQUEST_BYTES, the streams' max_msg_size."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.errors import MaxPayloadError
from nats.js.errors import APIError

from contracts.subjects import event_streams
from runtime.nats_server import NatsServer
from runtime.service import MAX_REQUEST_BYTES
from runtime.settings import Settings
from tests.reliability.conftest import Report
from tests.reliability.helpers import message_counts
from tests.support import connect, request, running_service, settings_for

LIMIT = 512 * 1024


@pytest.fixture
def small_server(tmp_path: Path) -> NatsServer:
    config = tmp_path / "nats.conf"
    config.write_text(f"max_payload: {LIMIT}\n")
    server = NatsServer(tmp_path / "nats", config_file=config, log_file=tmp_path / "nats.log")
    server.start()
    yield server  # type: ignore[misc]
    server.stop()


async def raw_publish(port: int, subject: str, size: int) -> bytes:
    """A client that ignores the advertised max_payload (a buggy or hostile one)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await reader.readline()  # INFO
        writer.write(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
        writer.write(f"PUB {subject} {size}\r\n".encode() + b"x" * size + b"\r\nPING\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), 10)
    finally:
        writer.close()


async def test_oversized_requests_are_refused_at_every_layer(
    small_server: NatsServer, tmp_path: Path, report: Report
) -> None:
    settings = settings_for(small_server.url, tmp_path / "data")
    nc = await connect(small_server.url)
    try:
        assert nc.max_payload == LIMIT  # the configured limit is what clients are told
        async with running_service("roster", settings):
            before = await message_counts(nc)
            # 1. Over the service limit, under the server's: a structured refusal.
            big_name = "ư" * (MAX_REQUEST_BYTES // 2 + 10)
            for subject in ("cmd.roster.register_unit", "qry.roster.find_members"):
                body = json.dumps(
                    {"command_id": "big", "kind": "city", "name": big_name}
                    if subject.startswith("cmd")
                    else {"full_name": big_name},
                    ensure_ascii=False,
                )
                assert MAX_REQUEST_BYTES < len(body.encode()) < LIMIT
                reply = await request(nc, subject, body.encode())
                assert reply["ok"] is False and reply["code"] == "validation_failed", reply
                assert "exceeds" in reply["message"]
            # 2. Over the server's max_payload: the client library refuses to send it ...
            with pytest.raises(MaxPayloadError):
                await nc.request("cmd.roster.register_unit", b"x" * (LIMIT + 1), timeout=5)
            # ... and a client that sends it anyway is cut off by the server.
            answer = await raw_publish(small_server.port, "cmd.roster.register_unit", LIMIT + 1)
            assert b"Maximum Payload" in answer, answer
            # 3. Straight into a stream, over its max_msg_size (256 KiB): refused.
            js = nc.jetstream()
            with pytest.raises(APIError) as refused:
                await js.publish("ev.roster.unit.big", b"x" * (300 * 1024), stream="ROSTER")
            assert refused.value.err_code == 10054, refused.value
            health = await request(nc, "health.roster", b"{}")
            assert health["healthy"], health
            assert await message_counts(nc) == before
            info = await js.stream_info("ROSTER")
            assert info.config.max_msg_size == 256 * 1024
        for spec in event_streams():
            assert (await js.stream_info(spec.name)).config.max_msg_size == 256 * 1024
    finally:
        await nc.close()
    report.add(
        "input",
        "oversized messages (service 256 KiB, server max_payload 512 KiB, stream 256 KiB)",
        5,
        "validation_failed replies; client refused; server cut "
        "the raw client off; stream refused (10054); service healthy, 0 events",
    )


async def test_settings_fixture_server_has_the_default_limit(
    settings: Settings, nc: Client
) -> None:
    assert nc.max_payload == 1024 * 1024 and settings.nats_url
