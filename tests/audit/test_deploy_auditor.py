"""The audit commands work with the deployment's own `auditor` user (deploy/nats/), and still
find a forgery that a service user slipped into a stream."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest

from contracts.canonical import GENESIS_HASH
from contracts.envelope import EventEnvelope
from contracts.subjects import event_streams
from runtime.eventstore import EventStore
from runtime.nats_server import NatsServer, free_port
from tests.audit.history import run_cli
from tests.deploy.compose import NATS_DIR, filled_env, nats_users


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[tuple[NatsServer, dict[str, str]]]:
    env = filled_env()
    users = nats_users()
    server = NatsServer(
        tmp_path / "nats",
        config_file=NATS_DIR / "nats.conf",
        extra_args=["-m", str(free_port())],
        env=env,
        log_file=tmp_path / "nats.log",
    ).start()
    yield server, {u: env[var] for u, var in users.items()}
    server.stop()


def _envelope(version: int, prev: str, name: str) -> EventEnvelope:
    now = datetime.now(UTC)
    return EventEnvelope(
        event_id=uuid.uuid4(),
        type="UnitRenamed" if version > 1 else "UnitRegistered",
        schema_version=1,
        aggregate_type="unit",
        aggregate_id="city",
        aggregate_version=version,
        occurred_at=now,
        recorded_at=now,
        correlation_id="c",
        causation_id="c",
        command_id=f"cmd-{version}",
        actor="clerk",
        prev_hash=prev,
        # A payload valid for its schema: verify checks payloads too.
        payload={"unit_id": "city", "name": name, "effective_on": "2022-01-01"}
        | ({"previous_name": "Thành phố"} if version > 1 else {"kind": "city"}),
    )


async def test_audit_with_the_deployed_auditor_user(
    deployed: tuple[NatsServer, dict[str, str]], tmp_path: Path
) -> None:
    server, passwords = deployed
    operator = await nats.connect(server.url, user="bootstrap", password=passwords["bootstrap"])
    roster = await nats.connect(server.url, user="roster", password=passwords["roster"])
    try:
        await EventStore(operator).ensure_streams(event_streams())
        js = roster.jetstream(timeout=5)
        prev = GENESIS_HASH
        for version in (1, 2, 3):
            envelope = _envelope(version, prev, f"Thành phố {version}")
            await js.publish("ev.roster.unit.city", envelope.to_canonical(), stream="ROSTER")
            prev = envelope.hash()
        path = tmp_path / "h.jsonl"
        auditor = {"user": "auditor", "password": passwords["auditor"]}
        done = run_cli(server.url, "export", "-o", str(path), **auditor)
        assert done.returncode == 0, done.stderr
        for args in (("verify",), ("verify", str(path))):
            done = run_cli(server.url, *args, **auditor)
            assert done.returncode == 0, done.stdout + done.stderr
        done = run_cli(server.url, "replay", "2022", **auditor)
        assert done.returncode == 0, done.stderr
        # A service user writes around its service: a version 4 that does not link to 3.
        forged = _envelope(4, GENESIS_HASH, "Forged")
        ack = await js.publish("ev.roster.unit.city", forged.to_canonical(), stream="ROSTER")
        done = run_cli(server.url, "verify", **auditor)
        assert done.returncode == 1
        assert any(
            "prev_hash_mismatch" in line and f"ROSTER:{ack.seq}" in line
            for line in done.stdout.splitlines()
        ), done.stdout
    finally:
        await operator.close()
        await roster.close()
