"""A consumer's deliver subject cannot be restricted by NATS permissions, so whoever may create
a push consumer can point it at a request subject (issue #13 finding 1: idle heartbeats taken
as rebuild requests). A service ignores, and logs, a message on a request subject that is no
request: a JetStream status header, a ``$JS.`` reply subject, no reply subject at all."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from nats.aio.client import Client
from nats.js import api as js_api

from runtime.settings import Settings
from tests.support import ServiceProcess, request, wait_healthy


def _reasons(proc: ServiceProcess) -> set[str]:
    return {json.loads(line)["reason"] for line in proc.log().splitlines() if IGNORED in line}


CITY = {"kind": "city", "name": "Cấp thành phố", "unit_id": "city"}
IGNORED = "ignored a message that is no request"


async def test_a_service_ignores_what_is_no_request(
    settings: Settings, nc: Client, tmp_path: Path
) -> None:
    proc = ServiceProcess("roster", settings, tmp_path / "roster.log").start()
    try:
        await wait_healthy(nc, "roster", 60)
        body = json.dumps({"command_id": "c1", **CITY}).encode()
        subject = "cmd.roster.register_unit"
        await nc.publish(subject, body)  # no reply subject
        await nc.publish(subject, body, reply=nc.new_inbox(), headers={"Status": "100"})
        # A push consumer delivering a stored copy of the command, then idle heartbeats,
        # onto the command subject, to the service's queue group (what finding 1 did).
        js = nc.jetstream()
        await js.add_stream(name="ELSEWHERE", subjects=["elsewhere.>"])
        await js.publish("elsewhere.1", body, stream="ELSEWHERE")
        await js.add_consumer(
            "ELSEWHERE",
            js_api.ConsumerConfig(
                durable_name="onto_cmd",
                deliver_subject=subject,
                deliver_group="roster-workers",
                ack_policy=js_api.AckPolicy.EXPLICIT,
                idle_heartbeat=0.5,
            ),
        )
        wanted = {"no reply subject", "JetStream status 100", "delivered by JetStream"}
        while not wanted <= _reasons(proc):  # each logged, none acted on
            assert proc.proc is not None and proc.proc.poll() is None, proc.log()[-4000:]
            await asyncio.sleep(0.1)
        info = await nc.jetstream().stream_info("ROSTER")
        assert info.state.messages == 0
        # the same command as a request is answered and acted on
        reply = await request(nc, subject, body)
        assert reply["ok"], reply
    finally:
        proc.kill()
