"""NATS headers every appended event carries, so a subscriber can pick events by type and
schema version without decoding the payload (issue #20).

The headers repeat two fields of the envelope; the envelope stays the truth (the hash chain
covers the stored bytes, never the headers). Events appended before the headers existed have
none: a reader that finds no header falls back to the envelope (``event_type_of``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

EVENT_TYPE_HEADER = "Briefings-Event-Type"
EVENT_VERSION_HEADER = "Briefings-Event-Version"


def event_headers(data: bytes) -> dict[str, str]:
    """The type headers of one stored event, read from its canonical bytes.

    Bytes that are not an envelope (a test's raw message) get no headers, not an error:
    the append path must not be the place that judges payloads.
    """
    try:
        doc = json.loads(data)
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    event_type, version = doc.get("type"), doc.get("schema_version")
    if not isinstance(event_type, str) or not event_type or type(version) is not int:
        return {}
    return {EVENT_TYPE_HEADER: event_type, EVENT_VERSION_HEADER: str(version)}


def event_type_of(headers: Mapping[str, str] | None, data: bytes) -> tuple[str, int] | None:
    """``(type, schema_version)`` from the headers, else from the envelope (older events)."""
    if headers and EVENT_TYPE_HEADER in headers and EVENT_VERSION_HEADER in headers:
        try:
            return headers[EVENT_TYPE_HEADER], int(headers[EVENT_VERSION_HEADER])
        except ValueError:
            pass
    found = event_headers(data)
    if not found:
        return None
    return found[EVENT_TYPE_HEADER], int(found[EVENT_VERSION_HEADER])
