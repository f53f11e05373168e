"""The difference between two summaries (e.g. as known on two dates), figure by figure."""

from __future__ import annotations

from typing import Any

# How the lists of a summary are keyed, so a diff names the row, not its position.
_KEYS = ("conference_id", "unit_id", "award_id", "member_id", "month")


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key in sorted(value):
            out.update(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            key = next((str(item[k]) for k in _KEYS if k in item), str(i))
            out.update(flatten(item, f"{prefix}[{key}]"))
    else:
        out[prefix] = value
    return out


def diff(left: dict[str, Any], right: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(path, left value, right value)`` for every figure that differs (missing: None)."""
    a, b = flatten(left), flatten(right)
    return [
        (path, a.get(path), b.get(path))
        for path in sorted(set(a) | set(b))
        if a.get(path) != b.get(path)
    ]
