"""Field types shared by every contract."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer, StringConstraints

from contracts.canonical import format_datetime


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must include a time zone offset")
    return value.astimezone(UTC)


UtcDatetime = Annotated[
    datetime,
    AfterValidator(_aware_utc),
    PlainSerializer(format_datetime, return_type=str, when_used="json"),
]
"""A time-zone-aware instant, stored in UTC with microseconds and a ``Z``."""

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
"""A required human name: trimmed, not empty."""

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
"""An aggregate id: one JetStream subject token (no dots, wildcards or spaces)."""

ExternalCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
