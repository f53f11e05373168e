"""What a report was computed from: per stream, a running digest of the events read.

The read model folds it with its position (same transaction) and the auditors' replay folds
it independently; a receipt names both ends of the comparison. The algorithm is written out
in contracts/HASHING.md (section 6) for re-implementation in another language.

    d_0 = GENESIS_HASH (64 zeros)
    d_n = SHA-256( ASCII(d_{n-1}) || ASCII(h_n) )      (128 bytes in, hex out)
    h_n = SHA-256(canonical form of the stored envelope), or SHA-256(the raw bytes) when
          they are not a JSON object with a canonical form (still part of the cut)

    events_digest = SHA-256(canonical JSON of {stream: d_last})   (every stream of the cut)
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from contracts.canonical import GENESIS_HASH, canonical_json, sha256_hex

GENESIS = GENESIS_HASH


def _no_float(text: str) -> Any:
    raise ValueError(f"a float ({text}) has no canonical form")


def _parse(data: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(data, parse_float=_no_float, parse_constant=_no_float)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _canonical(envelope: dict[str, Any]) -> bytes:
    # canonical_json without its float scan: the parse refused floats (3x faster).
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def envelope_of(data: bytes) -> dict[str, Any] | None:
    """The stored JSON object, or None when the bytes have no canonical form (not JSON, not
    an object, floats, NaN, lone surrogates): the rule of the audit records
    (briefings/audit/records.py)."""
    envelope = _parse(data)
    if envelope is None:
        return None
    try:
        _canonical(envelope)
    except ValueError:  # UnicodeEncodeError
        return None
    return envelope


def event_hash(data: bytes) -> str:
    """h_n: the event hash of HASHING.md §3 when the bytes are an envelope, else of the bytes."""
    envelope = _parse(data)
    if envelope is not None:
        try:
            return sha256_hex(_canonical(envelope))
        except ValueError:  # UnicodeEncodeError
            pass
    return sha256_hex(data)


def chain(previous: str, item_hash: str) -> str:
    """d_n from d_{n-1} and h_n."""
    return hashlib.sha256((previous + item_hash).encode("ascii")).hexdigest()


def events_digest(digests: dict[str, str]) -> str:
    """One digest for the whole cut, from each stream's running digest."""
    return sha256_hex(canonical_json(dict(sorted(digests.items()))))


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def admitted(
    envelope: dict[str, Any] | None, as_of: datetime | None, occurred_until: datetime | None = None
) -> bool:
    """In a time-filtered cut: recorded by ``as_of`` and occurred by ``occurred_until``.
    Events whose times cannot be read are kept (the read model reports them unappliable)."""
    if envelope is None or (as_of is None and occurred_until is None):
        return True
    try:
        if as_of is not None and _instant(envelope["recorded_at"]) > as_of:
            return False
        if occurred_until is not None and _instant(envelope["occurred_at"]) > occurred_until:
            return False
    except (KeyError, TypeError, ValueError, AttributeError):
        return True
    return True
