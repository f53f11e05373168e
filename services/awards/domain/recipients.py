"""A recipient as the awards context decides on it: who existed and was active on which
dates, under which name.

Built from the roster copy the awards service keeps (``runtime/rostercopy.py``, the same
model the events service keeps): a unit's or member's activity stretches and dated names.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from contracts.awards import RecipientType
from runtime.rostercopy import Copied, NameFrom, Span, describe_activity, name_on

__all__ = ["NameFrom", "RecipientHistory", "Span"]


class RecipientHistory(BaseModel):
    model_config = ConfigDict(frozen=True)

    recipient_type: RecipientType
    recipient_id: str
    spans: tuple[Span, ...] = ()
    names: tuple[NameFrom, ...] = ()

    @classmethod
    def of(cls, recipient_type: RecipientType, recipient_id: str, copy: Copied) -> RecipientHistory:
        return cls(
            recipient_type=recipient_type,
            recipient_id=recipient_id,
            spans=copy.spans(),
            names=copy.names,
        )

    def active_on(self, day: date) -> bool:
        return any(span.covers(day) for span in self.spans)

    def name_on(self, day: date) -> str:
        return name_on(self.names, day)

    def describe_activity(self) -> str:
        return describe_activity(self.spans)
