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


RULE_DUPLICATE_KEY = "json.duplicate_key"


class DuplicateKey(ValueError):
    """A JSON object names the same key twice: which value is meant is not knowable."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise DuplicateKey(f"the key {twice!r} appears twice in one object")
    return obj


def refuse_duplicate_keys(body: bytes | str) -> None:
    """Raise ``DuplicateKey`` when any object of the JSON ``body`` repeats a key (JSON
    parsers disagree on which one wins; ours kept the last). Other errors are left to the
    model's own parse, which reports them field by field."""
    try:
        json.loads(body, object_pairs_hook=_no_duplicates)
    except DuplicateKey:
        raise
    except (ValueError, RecursionError):
        return


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def format_datetime(value: datetime) -> str:
    """Timestamps: UTC, four-digit year, microseconds always written, ``Z`` suffix.

    Not ``strftime("%Y")``: it does not pad years below 1000 (``202-04-30T…``), a text no
    ISO 8601 reader takes. ``isoformat`` always writes four digits.
    """
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a time zone")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"
"""The one text form of a stored timestamp (``format_datetime``)."""


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
