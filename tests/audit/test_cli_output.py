"""The audit CLI as a real child process (issue #14, the small ones): ``--format json``
prints only JSON on stdout (warnings go to stderr), and ``explain`` names an unknown id and
exits non-zero instead of explaining it as 0."""

from __future__ import annotations

import json
from typing import Any

import pytest
from nats.aio.client import Client

from runtime.settings import Settings
from tests.audit.history import roster_history, run_cli
from tests.support import running_service


@pytest.fixture
async def history(settings: Settings, nc: Client) -> None:
    async with running_service("roster", settings):
        await roster_history(nc)
    # Events the read model cannot apply: the replay warns about each.
    js = nc.jetstream()
    await js.publish("ev.roster.member.junk", b"not json", stream="ROSTER")
    await js.publish(
        "ev.roster.member.bad",
        json.dumps({"type": "MemberEnrolled", "aggregate_version": "1"}).encode(),
        stream="ROSTER",
    )


async def test_replay_format_json_prints_only_json_on_stdout(
    history: None, nats_server: Any
) -> None:
    done = run_cli(nats_server.url, "replay", "2022", "--format", "json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # nothing but the JSON document
    assert "attendance" in summary
    assert "cannot be applied" in done.stderr


@pytest.mark.parametrize("figure", ["unit:nonexistent", "member:nonexistent"])
async def test_explain_of_an_unknown_id_names_it_and_fails(
    history: None, nats_server: Any, figure: str
) -> None:
    done = run_cli(nats_server.url, "explain", "2022", figure)
    assert done.returncode != 0
    assert "nonexistent" in done.stderr and "unknown" in done.stderr
    assert "the summary says" not in done.stdout


async def test_explain_of_a_known_unit_still_adds_up(history: None, nats_server: Any) -> None:
    done = run_cli(nats_server.url, "explain", "2022", "unit:city", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["adds_up"] and found["total"] == 0
