"""The CLI builds every request body through its contract model: a body the contract refuses
is refused in the documented shape before any connection is tried (here: nothing listens on
the NATS port, so a body that went out would come back ``unavailable``)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "briefings", *args],
        env={
            **os.environ,
            "BRIEFINGS_NATS_URL": f"nats://127.0.0.1:{_closed_port()}",
            "BRIEFINGS_DATA_DIR": str(tmp),
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "annual", "9999", "--format", "json"],
        ["report", "issued", "--year", "12", "--json"],
        ["awards", "candidates", "3000", "--json"],
    ],
)
def test_a_body_the_contract_refuses_never_leaves(argv: list[str], tmp_path: Path) -> None:
    result = cli(*argv, tmp=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    reply = json.loads(result.stdout)
    assert reply["ok"] is False
    assert reply["code"] == "validation_failed", reply
