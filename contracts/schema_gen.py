"""JSON Schema of every contract model, as the checked-in files under contracts/schemas/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contracts import awards, events, reporting, roster
from contracts.envelope import EventEnvelope
from contracts.registry import registry
from contracts.replies import CommandAccepted, ErrorReply, HealthReply, QueryResult

SCHEMA_DIR = Path(__file__).parent / "schemas"
CONTEXT_MODULES = {"roster": roster, "events": events, "awards": awards, "reporting": reporting}


def _schema(model: type[BaseModel], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    schema.update(extra or {})
    return schema


def all_schemas() -> dict[str, dict[str, Any]]:
    """``file name -> schema`` for every envelope, event, command, query and reply."""
    out: dict[str, dict[str, Any]] = {
        "EventEnvelope.json": _schema(EventEnvelope),
        "CommandAccepted.json": _schema(CommandAccepted),
        "ErrorReply.json": _schema(ErrorReply),
        "QueryResult.json": _schema(QueryResult),
        "HealthReply.json": _schema(HealthReply),
    }
    for name, cls in sorted(registry.types().items()):
        out[f"events/{name}.v{cls.schema_version}.json"] = _schema(
            cls,
            {
                "x-event-type": name,
                "x-schema-version": cls.schema_version,
                "x-aggregate-type": cls.aggregate_type,
            },
        )
    for context, module in CONTEXT_MODULES.items():
        for name, cmd in sorted(getattr(module, "COMMANDS", {}).items()):
            out[f"commands/{context}.{name}.json"] = _schema(
                cmd, {"x-subject": f"cmd.{context}.{name}"}
            )
        for name, query in sorted(getattr(module, "QUERIES", {}).items()):
            out[f"queries/{context}.{name}.json"] = _schema(
                query, {"x-subject": f"qry.{context}.{name}"}
            )
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    written = []
    expected = all_schemas()
    for name, schema in expected.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    for stale in directory.rglob("*.json"):
        if str(stale.relative_to(directory)) not in expected:
            stale.unlink()
    return written


def differences(directory: Path = SCHEMA_DIR) -> list[str]:
    """What differs between the models and the checked-in files (empty when in sync)."""
    problems = []
    expected = all_schemas()
    for name, schema in expected.items():
        path = directory / name
        if not path.exists():
            problems.append(f"missing {name}")
        elif path.read_text(encoding="utf-8") != render(schema):
            problems.append(f"out of date {name}")
    for present in directory.rglob("*.json"):
        if str(present.relative_to(directory)) not in expected:
            problems.append(f"no model for {present.relative_to(directory)}")
    return problems


if __name__ == "__main__":
    for p in write():
        print(p)
