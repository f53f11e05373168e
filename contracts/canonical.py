"""The canonical JSON form that event hashes and export digests are computed over.

The algorithm, for re-implementation in any language, is in ``contracts/HASHING.md``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of an aggregate's first event."""


def canonical_json(value: Any) -> bytes:
    """UTF-8 bytes of ``value`` with sorted keys, no whitespace, no ASCII escaping.

    Floats are refused: their text form differs between languages, so no contract uses them.
    """
    _refuse_floats(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def format_datetime(value: datetime) -> str:
    """Timestamps: UTC, microseconds always written, ``Z`` suffix."""
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a time zone")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_date(value: date) -> str:
    return value.isoformat()


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise ValueError("floats have no canonical form here; use integers or strings")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_floats(item)
