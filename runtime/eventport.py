"""The event store port: what the command bus (and tools) need from an event store.

Two implementations keep the same promises, proven by one contract suite
(``tests/foundation/test_store_contract.py``): ``runtime.eventstore.EventStore`` on JetStream
and ``runtime.memory_store.InMemoryEventStore`` for fast tests and demos. No NATS here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from contracts.envelope import EventEnvelope
from contracts.subjects import StreamSpec

MAX_MESSAGE_BYTES = 256 * 1024
"""Largest stored message (the streams' ``max_msg_size``)."""

DUPLICATE_WINDOW_SECONDS = 120
"""How long an append's ``msg_id`` is remembered (the streams' ``duplicate_window``)."""


class EventStoreError(Exception):
    """Anything the event store refuses, as the port names it."""


class ConcurrencyConflict(EventStoreError):
    """Someone else appended to the aggregate since it was loaded."""

    def __init__(self, subject: str, expected: int, detail: str = "") -> None:
        super().__init__(f"{subject}: expected last sequence {expected} {detail}".strip())
        self.subject = subject
        self.expected = expected


class StreamNotFound(EventStoreError):
    """The named stream does not exist (reads and appends)."""

    def __init__(self, stream: str) -> None:
        super().__init__(f"stream {stream} not found")
        self.stream_name = stream


class WrongStream(EventStoreError):
    """An append to a subject the named stream does not capture."""

    def __init__(self, stream: str, subject: str) -> None:
        super().__init__(f"stream {stream} does not capture {subject}")
        self.stream = stream
        self.subject = subject


class MessageTooLarge(EventStoreError):
    def __init__(self, subject: str, size: int) -> None:
        super().__init__(f"{subject}: {size} bytes exceeds {MAX_MESSAGE_BYTES}")
        self.subject = subject
        self.size = size


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the store holds it: its bytes plus where and when it was stored."""

    stream: str
    sequence: int
    subject: str
    data: bytes
    msg_id: str | None = None
    time: datetime | None = None
    headers: dict[str, str] | None = None

    def envelope(self) -> EventEnvelope:
        return EventEnvelope.from_bytes(self.data)


class EventStorePort(Protocol):
    """One stream per context, one subject per aggregate, sequences per stream from 1.

    Appends carry the subject's expected last sequence (0: the subject must be empty) and
    a ``msg_id`` (the event id): a message whose ``msg_id`` was stored in the duplicate window
    is not stored again (the original sequence is returned), and an append that finds its own
    ``msg_id`` as the subject's last message returns that sequence (a retry whose first
    attempt landed) instead of a conflict.
    """

    async def ensure_streams(self, specs: Sequence[StreamSpec], replicas: int = 1) -> None:
        """Create the streams that do not exist yet (never removes anything)."""
        ...

    async def stream_last_sequence(self, stream: str) -> int:
        """The stream's last sequence (0 if empty). StreamNotFound if there is no such stream."""
        ...

    async def last_sequence(self, stream: str, subject: str) -> int:
        """The subject's last sequence (0 if empty); ``subject`` may hold wildcards."""
        ...

    async def last_event(self, stream: str, subject: str) -> StoredEvent | None: ...

    async def read_subject(
        self, stream: str, subject: str, after: int = 0, batch: int = 1000
    ) -> list[StoredEvent]:
        """Every message of ``subject`` with sequence > ``after``, in order."""
        ...

    async def append(
        self, stream: str, subject: str, envelopes: Sequence[EventEnvelope], expected_last: int
    ) -> list[int]: ...

    async def append_encoded(
        self, stream: str, subject: str, items: Sequence[tuple[str, bytes]], expected_last: int
    ) -> list[int]:
        """Append ``(msg_id, data)`` pairs in order, each expecting the sequence the previous
        one got. ConcurrencyConflict when the subject moved on since ``expected_last``;
        StreamNotFound, WrongStream, MessageTooLarge as named."""
        ...

    def iterate(
        self, stream: str, start: int = 1, until: int | None = None, subject: str | None = None
    ) -> AsyncIterator[StoredEvent]:
        """Stream order from ``start`` to ``until`` (default: the last sequence now)."""
        ...


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` one token, ``>`` one or more trailing tokens."""
    want = pattern.split(".")
    have = subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)
