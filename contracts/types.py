"""Field types shared by every contract.

Two families. Commands (the door) use ``Name``, ``ShortText``, ``ExternalCode`` and
``BusinessDate``: the text rules of ``contracts.text`` and the business date range are
enforced before anything is written. Event payloads use the ``Stored*`` types and plain
``date``: what the services accepted in the past must stay readable for ever, whatever rule
was added since.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import partial
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from contracts.canonical import format_datetime
from contracts.text import check_prose, check_text, check_token

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2199, 12, 31)
"""The range of business dates (effective, planned, held, decision dates …) a command may
carry. Outside it a date is a typo (``0202-05-01``) and, at the extremes (year 1 or 9999),
has no UTC instant in Python's calendar."""

RULE_DATE_RANGE = "date.out_of_range"

# ``strftime("%Y")`` wrote years below 1000 without padding before format_datetime was fixed:
# such timestamps are stored for ever, so they are read (and ``audit verify`` names them).
_SHORT_YEAR = re.compile(
    r"^(?P<y>\d{1,3})-(?P<m>\d{2})-(?P<d>\d{2})T(?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2})"
    r"(?:\.(?P<f>\d{1,6}))?Z$"
)


_LAX_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)


def _read_text_timestamp(value: Any) -> Any:
    """A timestamp written as text, parsed here so that strict models (the envelope) still
    read JSON strings; anything but text goes on to the strict ``datetime`` check."""
    if not isinstance(value, str):
        return value
    match = _SHORT_YEAR.match(value) if len(value) < 27 else None
    if match is not None and int(match["y"]) >= 1:
        g = match.groupdict()
        return datetime(
            int(g["y"]),
            int(g["m"]),
            int(g["d"]),
            int(g["H"]),
            int(g["M"]),
            int(g["S"]),
            int((g["f"] or "0").ljust(6, "0")),
            tzinfo=UTC,
        )
    try:
        return _LAX_DATETIME.validate_python(value)
    except ValidationError as exc:
        raise PydanticCustomError(
            "datetime_from_text", "not a timestamp: {error}", {"error": exc.errors()[0]["msg"]}
        ) from None


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must include a time zone offset")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+07:00 has no UTC instant: a typo, not a crash
        raise PydanticCustomError(
            RULE_DATE_RANGE, "{value} has no UTC instant", {"value": value.isoformat()}
        ) from None


UtcDatetime = Annotated[
    datetime,
    BeforeValidator(_read_text_timestamp),
    AfterValidator(_aware_utc),
    PlainSerializer(format_datetime, return_type=str, when_used="json"),
]
"""A time-zone-aware instant, stored in UTC with microseconds and a ``Z``."""


def _in_business_range(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise PydanticCustomError(
            RULE_DATE_RANGE,
            "{value} is outside the business date range {first} to {last}",
            {
                "value": value.isoformat(),
                "first": FIRST_DAY.isoformat(),
                "last": LAST_DAY.isoformat(),
            },
        )
    return value


def _instant_in_business_range(value: datetime) -> datetime:
    # A day's margin either side: an instant at 1900-01-01 00:00 in UTC+7 is 1899 in UTC.
    day = value.date()
    if not date(1899, 12, 31) <= day <= date(2200, 1, 1):
        raise PydanticCustomError(
            RULE_DATE_RANGE,
            "{value} is outside the business date range {first} to {last}",
            {
                "value": value.isoformat(),
                "first": FIRST_DAY.isoformat(),
                "last": LAST_DAY.isoformat(),
            },
        )
    return value


BusinessDate = Annotated[date, AfterValidator(_in_business_range)]
"""A date a command carries: 1900-01-01 to 2199-12-31."""

BusinessInstant = Annotated[UtcDatetime, AfterValidator(_instant_in_business_range)]
"""An instant a command carries, within the business date range."""


# ------------------------------------------------------------------ door (commands)

Name = Annotated[
    str,
    StringConstraints(min_length=1),
    AfterValidator(partial(check_text, max_length=200, multiline=False, name=True)),
    Field(json_schema_extra={"maxLength": 200}),  # counted after NFC: checked by check_text
]
"""A required human name: NFC, trimmed, 1–200 characters, something visible in it, no
control, bidirectional-control or formula text (``contracts/text.py``)."""

ShortText = Annotated[
    str,
    AfterValidator(partial(check_text, max_length=2000, multiline=True, name=False)),
    Field(json_schema_extra={"maxLength": 2000}),
]
"""Free text up to 2,000 characters (NFC, trimmed); tab and line feed allowed."""

ExternalCode = Annotated[
    str,
    StringConstraints(min_length=1),
    AfterValidator(partial(check_text, max_length=64, multiline=False, name=True)),
    Field(json_schema_extra={"maxLength": 64}),
]

Token = Annotated[str, StringConstraints(max_length=128), AfterValidator(check_token)]
"""An opaque key a client chooses (command id, correlation id), kept as sent."""

Prose = Annotated[str, StringConstraints(max_length=20000), AfterValidator(check_prose)]
"""Paragraphs a person writes (a report's narrative): kept as written, but no control or
bidirectional-control character (PostgreSQL cannot store NUL; a terminal runs ANSI escapes)."""

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
"""An aggregate id: one JetStream subject token (no dots, wildcards or spaces)."""

# ------------------------------------------------------------- stored (event payloads)

StoredName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
"""A name as events have always stored it (the door's rules are checked by the commands)."""

StoredText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]

StoredCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
