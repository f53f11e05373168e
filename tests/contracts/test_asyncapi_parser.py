"""The AsyncAPI documents parse with the official parser (``@asyncapi/parser`` from npm) and
list every event channel with each event type (issue #20).

The parser is pinned in tests/contracts/asyncapi_parser/package-lock.json and installed there
with ``npm ci`` the first time (npm registry only)."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.asyncapi_events import CONTEXT_MODULES, context_events
from contracts.registry import registry
from contracts.subjects import CONTEXTS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "contracts" / "asyncapi"
PARSER = Path(__file__).parent / "asyncapi_parser"


@pytest.fixture(scope="module")
def node() -> Iterator[str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run the official AsyncAPI parser")
    with open(PARSER / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one npm ci at a time
        if not (PARSER / "node_modules" / "@asyncapi" / "parser").is_dir():
            done = subprocess.run(
                [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                cwd=PARSER,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, done.stdout + done.stderr
    yield node


def parse(node: str, *files: Path) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run(
        [node, str(PARSER / "validate.mjs"), *map(str, files)],
        cwd=PARSER,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout.strip(), done.stderr
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]


def test_every_document_parses_and_lists_every_event_channel(node: str) -> None:
    files = sorted(DOCS.glob("*.json"))
    assert {f.stem for f in files} == {*CONTEXTS, "reporting"}
    code, results = parse(node, *files)
    assert code == 0, results
    seen = {Path(r["file"]).stem: r for r in results}
    for result in results:
        assert result["ok"] and result["errors"] == [] and result["version"] == "3.0.0"
    for context in CONTEXT_MODULES:
        expected: dict[str, set[str]] = {}
        for cls in context_events(context):
            address = f"ev.{context}.{cls.aggregate_type}.{{aggregate_id}}"
            expected.setdefault(address, set()).add(cls.event_type)
        parsed = {
            c["address"]: set(c["messages"])
            for c in seen[context]["channels"]
            if c["address"].startswith("ev.")
        }
        assert parsed == expected, context
        # the requests are still there
        assert any(c["address"].startswith("cmd.") for c in seen[context]["channels"])
    # and no event type is left out
    listed = {m for r in results for c in r["channels"] for m in c["messages"] if m}
    assert set(registry.types()) <= listed


def test_the_parser_refuses_a_broken_document(node: str, tmp_path: Path) -> None:
    """The check can fail: an event channel with a message that is no message object."""
    doc = json.loads((DOCS / "awards.json").read_text())
    doc["components"]["messages"]["AwardGranted.v1"]["payload"] = {"type": "no-such-type"}
    broken = tmp_path / "awards.json"
    broken.write_text(json.dumps(doc))
    code, [result] = parse(node, broken)
    assert code == 1 and not result["ok"]
    assert result["errors"]


@pytest.mark.fast
def test_each_event_message_carries_envelope_chain_headers_and_guarantees() -> None:
    for context in CONTEXT_MODULES:
        doc = json.loads((DOCS / f"{context}.json").read_text())
        envelope = doc["components"]["schemas"]["EventEnvelope"]
        assert {"event_id", "prev_hash", "aggregate_version"} <= set(envelope["properties"])
        for cls in context_events(context):
            key = f"{cls.event_type}.v{cls.schema_version}"
            message = doc["components"]["messages"][key]
            headers = message["headers"]["properties"]
            assert headers["Briefings-Event-Type"]["const"] == cls.event_type
            assert headers["Briefings-Event-Version"]["const"] == str(cls.schema_version)
            payload = message["payload"]["allOf"][1]["properties"]
            assert payload["schema_version"] == {"const": cls.schema_version}
            assert payload["payload"] == {"$ref": f"#/components/schemas/{key}"}
        for name, channel in doc["channels"].items():
            if channel["address"].startswith("ev."):
                text = channel["description"]
                for promise in ("at least once", "ordered per aggregate", "event_id", "SHA-256"):
                    assert promise in text, (name, promise)
