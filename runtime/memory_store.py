"""An event store in memory: the port's promises without a server.

For fast tests of handlers and projections, and demos that need nothing running. It keeps
what the JetStream store keeps (``tests/foundation/test_store_contract.py`` runs the same
behaviours against both): per-stream sequences from 1, subjects captured by the streams'
patterns, the subject's expected last sequence, ``msg_id`` dedupe within a window, the retry
trap (an append whose own ``msg_id`` is already the subject's last message returns it), the
size limit and the same errors. Every call yields to the event loop once, as a round trip to
a server would, so concurrent commands interleave as they do for real.

``MemoryFollower`` applies one of its streams into a service's SQL store, as the stream
follower does over JetStream: each batch and the position in one transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contracts.envelope import EventEnvelope
from contracts.headers import event_headers
from contracts.subjects import StreamSpec
from runtime.eventport import (
    DUPLICATE_WINDOW_SECONDS,
    MAX_MESSAGE_BYTES,
    ConcurrencyConflict,
    MessageTooLarge,
    StoredEvent,
    StreamNotFound,
    WrongStream,
    subject_matches,
)
from runtime.projector import Decoded, Projector, state_projector
from runtime.statestore import StateStore


@dataclass
class _Stream:
    spec: StreamSpec
    messages: list[StoredEvent] = field(default_factory=list)
    last_by_subject: dict[str, StoredEvent] = field(default_factory=dict)
    seen: dict[str, tuple[int, float]] = field(default_factory=dict)
    """msg_id -> (sequence, when stored by the store's clock): the duplicate window."""

    def captures(self, subject: str) -> bool:
        return any(subject_matches(p, subject) for p in self.spec.subjects)


class InMemoryEventStore:
    """Implements ``runtime.eventport.EventStorePort``; nothing survives the process.

    ``clock`` (seconds, monotonic) drives the duplicate window, so a test can move past it.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        duplicate_window: float = DUPLICATE_WINDOW_SECONDS,
    ) -> None:
        self.clock = clock
        self.duplicate_window = duplicate_window
        self._streams: dict[str, _Stream] = {}
        self._appended: asyncio.Event | None = None  # made in the running loop, on demand

    # ----------------------------------------------------------------- streams

    async def ensure_streams(self, specs: Sequence[StreamSpec], replicas: int = 1) -> None:
        await asyncio.sleep(0)
        for spec in specs:
            existing = self._streams.get(spec.name)
            if existing is None:
                self._streams[spec.name] = _Stream(spec)
            elif not set(spec.subjects) <= set(existing.spec.subjects):
                subjects = tuple(sorted(set(existing.spec.subjects) | set(spec.subjects)))
                existing.spec = StreamSpec(spec.name, subjects)

    async def ensure_stream(self, spec: StreamSpec, replicas: int = 1) -> None:
        await self.ensure_streams([spec], replicas)

    def _stream(self, name: str) -> _Stream:
        stream = self._streams.get(name)
        if stream is None:
            raise StreamNotFound(name)
        return stream

    async def stream_last_sequence(self, stream: str) -> int:
        await asyncio.sleep(0)
        return len(self._stream(stream).messages)

    # ---------------------------------------------------------------- subjects

    async def last_sequence(self, stream: str, subject: str) -> int:
        last = await self.last_event(stream, subject)
        return last.sequence if last is not None else 0

    async def last_event(self, stream: str, subject: str) -> StoredEvent | None:
        await asyncio.sleep(0)
        found = self._stream(stream)
        if "*" not in subject and ">" not in subject:
            return found.last_by_subject.get(subject)
        for message in reversed(found.messages):
            if subject_matches(subject, message.subject):
                return message
        return None

    async def read_subject(
        self, stream: str, subject: str, after: int = 0, batch: int = 1000
    ) -> list[StoredEvent]:
        await asyncio.sleep(0)
        found = self._stream(stream)
        return [
            m
            for m in found.messages[max(after, 0) :]
            if m.subject == subject or subject_matches(subject, m.subject)
        ]

    async def append(
        self, stream: str, subject: str, envelopes: Sequence[EventEnvelope], expected_last: int
    ) -> list[int]:
        return await self.append_encoded(
            stream, subject, [(str(e.event_id), e.to_canonical()) for e in envelopes], expected_last
        )

    async def append_encoded(
        self, stream: str, subject: str, items: Sequence[tuple[str, bytes]], expected_last: int
    ) -> list[int]:
        sequences: list[int] = []
        expected = expected_last
        for msg_id, data in items:
            await asyncio.sleep(0)  # each message is its own publish, as on JetStream
            expected = self._append_one(stream, subject, msg_id, data, expected)
            sequences.append(expected)
        return sequences

    def _append_one(
        self, stream: str, subject: str, msg_id: str, data: bytes, expected: int
    ) -> int:
        found = self._stream(stream)
        if not found.captures(subject):
            raise WrongStream(stream, subject)
        if len(data) > MAX_MESSAGE_BYTES:
            raise MessageTooLarge(subject, len(data))
        last = found.last_by_subject.get(subject)
        current = last.sequence if last is not None else 0
        # JetStream checks the expected sequence before the duplicate window (the retry trap);
        # the JetStream store then looks at the subject's last message for its own msg_id.
        if current != expected:
            if last is not None and last.msg_id == msg_id:
                return last.sequence
            raise ConcurrencyConflict(subject, expected, f"wrong last sequence: {current}")
        now = self.clock()
        seen = found.seen.get(msg_id)
        if seen is not None and now - seen[1] < self.duplicate_window:
            return seen[0]  # a duplicate: stored once, the original sequence answered
        stored = StoredEvent(
            stream,
            len(found.messages) + 1,
            subject,
            bytes(data),
            msg_id,
            datetime.now(UTC),
            {**event_headers(data), "Nats-Msg-Id": msg_id},
        )
        found.messages.append(stored)
        found.last_by_subject[subject] = stored
        found.seen[msg_id] = (stored.sequence, now)
        if self._appended is not None:
            # Wake every waiter, and give later waiters a fresh event to wait on.
            self._appended.set()
            self._appended = None
        return stored.sequence

    async def wait_beyond(self, stream: str, sequence: int) -> None:
        """Until ``stream`` holds a message after ``sequence`` (a follower's wake-up)."""
        while len(self._stream(stream).messages) <= sequence:
            if self._appended is None:
                self._appended = asyncio.Event()
            await self._appended.wait()

    # ------------------------------------------------------------------- bulk

    async def iterate(
        self, stream: str, start: int = 1, until: int | None = None, subject: str | None = None
    ) -> AsyncIterator[StoredEvent]:
        found = self._stream(stream)
        end = until if until is not None else len(found.messages)
        for message in found.messages[max(start, 1) - 1 : end]:
            if subject is None or subject_matches(subject, message.subject):
                yield message
        await asyncio.sleep(0)


def MemoryFollower(
    es: InMemoryEventStore,
    store: StateStore,
    stream: str,
    name: str,
    apply: Callable[[Any, Sequence[Decoded]], None],
    relevant: Callable[[Sequence[StoredEvent]], Sequence[StoredEvent]] | None = None,
    only: frozenset[str] | None = None,
) -> Projector:
    """A command service's follower over an in-memory store: the runtime projector (rows and
    position in one transaction, nothing at or below the position twice) reading the store
    as it grows."""
    return state_projector(es, store, stream, name, apply, only=only, pending=relevant)
