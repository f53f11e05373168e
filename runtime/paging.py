"""Pages of list replies: no reply nears NATS's 1 MB payload limit, whatever the list's size.

A page ends at the query's ``limit`` rows or at ``REPLY_BUDGET`` bytes of rows, whichever
comes first; its ``next`` cursor is opaque to clients (base64 of a JSON key) and is sent back
as ``after``. Large tables page by key in SQL (the cursor is the last row's sort key);
short lists (units, conferences, awards) page over the computed list with ``page_of``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from contracts.replies import ErrorCode
from runtime.domain import DomainError

REPLY_BUDGET = 512 * 1024
"""Bytes of rows per reply: half of the server's default ``max_payload``, room for the rest."""


class CursorMustBeValid(DomainError):
    code = ErrorCode.VALIDATION_FAILED


@dataclass(frozen=True)
class Page:
    """What a list query returns; the host replies ``{"data": items, "next": next}``."""

    items: list[Any]
    next: str | None = None


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), ensure_ascii=False).encode()).decode()


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        key = None
    if not isinstance(key, list) or len(key) != arity:
        raise CursorMustBeValid("after: not a cursor this query gave out", after=cursor[:64])
    return key


def fill(
    rows: Iterable[tuple[Any, int, Sequence[Any]]], limit: int, budget: int = REPLY_BUDGET
) -> Page:
    """``rows`` as ``(item, its size in bytes, its sort key)`` in key order, read one past
    ``limit``: the page up to ``limit`` items or ``budget`` bytes, with the cursor after it."""
    items: list[Any] = []
    used = 0
    last: Sequence[Any] | None = None
    for item, size, key in rows:
        if len(items) == limit or (items and used + size > budget):
            assert last is not None
            return Page(items, encode_cursor(last))
        items.append(item)
        used += size
        last = key
    return Page(items)


def page_of(items: Sequence[Any], limit: int, after: str | None) -> Page:
    """A page of a list computed whole (short lists): the cursor is the position."""
    start = 0
    if after is not None:
        position = decode_cursor(after, 1)
        assert position is not None
        if not isinstance(position[0], int) or not 0 < position[0] <= len(items):
            raise CursorMustBeValid("after: not a cursor this query gave out", after=after[:64])
        start = position[0]
    sized = (
        (item, len(json.dumps(item, ensure_ascii=False, default=str).encode()), [i + 1])
        for i, item in enumerate(items[start:], start)
    )
    return fill(sized, limit)
