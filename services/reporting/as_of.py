"""What was known at an instant: a fresh in-memory read model of the events recorded by then.

The as-of rule (recorded at or before the instant; unreadable events kept for ``apply`` to
report) is the audit replay's too, so both read the same cut.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from runtime.eventstore import StoredEvent
from services.reporting.domain import digest as _digest
from services.reporting.read_model import ReadModel, memory_engine


def recorded_by(stored: StoredEvent, as_of: datetime) -> bool:
    """Known at ``as_of``: recorded at or before it (unreadable ones are kept for apply to
    report). The audit replay's rule too, so both read the same cut."""
    return _digest.admitted(_digest.envelope_of(stored.data), as_of)


def replay_as_of(events: Iterable[StoredEvent], as_of: datetime, batch: int = 2000) -> ReadModel:
    """A fresh in-memory model of the events known at ``as_of``."""
    model = ReadModel(memory_engine())
    chunk: list[StoredEvent] = []
    for stored in events:
        if recorded_by(stored, as_of):
            chunk.append(stored)
        if len(chunk) >= batch:
            model.apply(chunk)
            chunk = []
    if chunk:
        model.apply(chunk)
    return model
