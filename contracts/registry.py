"""Which event types exist, at which version, and how older versions are upcast."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from contracts.envelope import DomainEvent, EventEnvelope

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEventType(LookupError):
    pass


class NewerSchemaVersion(ValueError):
    """The stored event was written by newer code than this one."""


class EventRegistry:
    def __init__(self) -> None:
        self._types: dict[str, type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_class: type[DomainEvent]) -> type[DomainEvent]:
        self._types[event_class.event_type] = event_class
        return event_class

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning a payload of ``from_version`` into ``from_version + 1``."""

        def decorate(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return decorate

    def event_class(self, event_type: str) -> type[DomainEvent]:
        try:
            return self._types[event_type]
        except KeyError:
            raise UnknownEventType(f"unknown event type {event_type!r}") from None

    def types(self) -> dict[str, type[DomainEvent]]:
        return dict(self._types)

    def decode(self, envelope: EventEnvelope) -> DomainEvent:
        """The typed payload of ``envelope``, upcast to the current version."""
        cls = self.event_class(envelope.type)
        version = envelope.schema_version
        if version > cls.schema_version:
            raise NewerSchemaVersion(
                f"{envelope.type} v{version} is newer than this code's v{cls.schema_version}"
            )
        payload = envelope.payload
        while version < cls.schema_version:
            upcast = self._upcasters.get((envelope.type, version))
            if upcast is None:
                raise UnknownEventType(f"no upcaster for {envelope.type} v{version}")
            payload = upcast(payload)
            version += 1
        # JSON mode and strict: what was stored as text is read as text, never coerced
        # ("1" is not 1, 1 is not true); dates and enum values are JSON strings there.
        return cls.model_validate_json(json.dumps(payload, ensure_ascii=False), strict=True)


registry = EventRegistry()
"""The one registry of every event in contracts/."""
