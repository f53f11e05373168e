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
