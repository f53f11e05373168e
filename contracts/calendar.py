"""The Center's calendar and the id scheme every door shares.

A bare date took effect at its local midnight in the Center's zone (Vietnam, UTC+7); a
create command's new aggregate id is derived from its ``command_id`` so that a retry,
hours later, targets the same subject.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone

CENTER_TZ = timezone(timedelta(hours=7))
"""The Center's local time (Vietnam, UTC+7)."""

COMMAND_ID_NAMESPACE = uuid.UUID("6f1d7c1e-7d0b-4a53-9f5e-1b2f1e0c2a10")


def derived_id(command_id: str, purpose: str = "") -> str:
    """A stable aggregate id for a create command: a retried command targets the same subject."""
    return str(uuid.uuid5(COMMAND_ID_NAMESPACE, f"{purpose}:{command_id}"))


def local_midnight(day: date) -> datetime:
    """The instant a bare date took effect: its midnight in the Center's zone."""
    return datetime.combine(day, time(0), CENTER_TZ)
