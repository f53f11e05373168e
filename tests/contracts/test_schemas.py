"""The checked-in JSON Schemas are what the models say (regenerate: briefings schemas)."""

from __future__ import annotations

from pathlib import Path

from contracts import schema_gen


def test_checked_in_schemas_match_the_models() -> None:
    assert schema_gen.differences() == [], "run `briefings schemas` and commit contracts/schemas"


def test_a_changed_model_is_caught(tmp_path: Path) -> None:
    schema_gen.write(tmp_path)
    target = tmp_path / "EventEnvelope.json"
    target.write_text(target.read_text().replace('"event_id"', '"eventId"'))
    assert schema_gen.differences(tmp_path) == ["out of date EventEnvelope.json"]


def test_checked_in_asyncapi_documents_match_the_services() -> None:
    """Each service's FastStream AsyncAPI document is generated and checked in."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(schema_gen.__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "briefings", "schemas", "--check"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    roster = json.loads((root / "contracts" / "asyncapi" / "roster.json").read_text())
    assert roster["asyncapi"].startswith("3.")
    assert any("enroll_member" in name for name in roster["channels"])
