"""Dead letters: what a consumer cannot process is set aside, never dropped silently.

A dead letter is one message in the DLQ stream on ``dlq.<consumer>.letter``. Its body (JSON)
keeps the original message whole (base64) with where it came from, the consumer, the error and
the delivery count. Nothing in the DLQ is deleted: a retry or a discard is another message,
``dlq.<consumer>.resolution``, naming the letter.

Consumer names are ``<service>.<name>`` (e.g. ``reporting.ROSTER``); ``briefings dlq retry``
asks the owning service to re-apply a letter on ``cmd.<service>.dlq_retry`` with
``{"dead_letter_id": ...}``; the service re-applies it and records the resolution.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from contracts.subjects import DLQ_STREAM, command_subject, dead_letter_subject
from runtime.eventstore import EventStore, StoredEvent, stream_config
from runtime.logging import get_logger

log = get_logger(__name__)

DLQ_MAX_MSG_BYTES = 1024 * 1024
"""A letter carries its original (at most 256 KiB, the event streams' limit) in base64."""

RESOLUTIONS = ("retried", "discarded")

SET_ASIDE_COUNTS: Counter[tuple[str, str]] = Counter()
"""Letters this process set aside, by ``(consumer, reason)``: for health details and logs."""


@dataclass(frozen=True)
class DeadLetter:
    consumer: str
    error: str
    reason: str
    """A short machine word: malformed, unknown_type, newer_version, invalid_payload,
    handler_failed."""
    data: bytes
    stream: str | None = None
    sequence: int | None = None
    subject: str | None = None
    deliveries: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    dead_letter_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    set_aside_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_json(self) -> bytes:
        body: dict[str, Any] = {
            "dead_letter_id": self.dead_letter_id,
            "consumer": self.consumer,
            "reason": self.reason,
            "error": self.error,
            "deliveries": self.deliveries,
            "stream": self.stream,
            "sequence": self.sequence,
            "subject": self.subject,
            "headers": self.headers,
            "data_b64": base64.b64encode(self.data).decode(),
            "set_aside_at": self.set_aside_at,
        }
        return json.dumps(body, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> DeadLetter:
        body = json.loads(raw)
        return cls(
            consumer=body["consumer"],
            error=body["error"],
            reason=body["reason"],
            data=base64.b64decode(body["data_b64"]),
            stream=body.get("stream"),
            sequence=body.get("sequence"),
            subject=body.get("subject"),
            deliveries=int(body.get("deliveries", 1)),
            headers=body.get("headers") or {},
            dead_letter_id=body["dead_letter_id"],
            set_aside_at=body.get("set_aside_at", ""),
        )


def classify(data: bytes) -> str:
    """The reason word for an event that cannot be applied, from its bytes alone."""
    from contracts.envelope import EventEnvelope
    from contracts.registry import NewerSchemaVersion, UnknownEventType, registry

    try:
        envelope = EventEnvelope.from_bytes(data)
    except ValueError:
        return "malformed"
    try:
        registry.decode(envelope)
    except UnknownEventType:
        return "unknown_type"
    except NewerSchemaVersion:
        return "newer_version"
    except ValueError:
        return "invalid_payload"
    return "handler_failed"


async def ensure_dlq_stream(js: JetStreamContext, replicas: int = 1) -> None:
    config = replace(stream_config(DLQ_STREAM, replicas), max_msg_size=DLQ_MAX_MSG_BYTES)
    # Dead letters may be discarded (recorded) by operators, so no deny flags here... but the
    # DLQ keeps history too: discard is an event on dlq.<consumer>.discarded, not a delete.
    try:
        await js.stream_info(DLQ_STREAM.name)
    except Exception:
        await js.add_stream(config)


async def set_aside(js: JetStreamContext, letter: DeadLetter) -> int:
    """Publish ``letter`` to the DLQ stream and wait for its ack; returns its DLQ sequence.

    The caller acknowledges the original message only after this returns.
    """
    ack = await js.publish(
        letter_subject(letter.consumer),
        letter.to_json(),
        stream=DLQ_STREAM.name,
        headers={"Nats-Msg-Id": letter.dead_letter_id},
    )
    SET_ASIDE_COUNTS[(letter.consumer, letter.reason)] += 1
    log.warning(
        "message set aside",
        consumer=letter.consumer,
        reason=letter.reason,
        error=letter.error,
        stream=letter.stream,
        sequence=letter.sequence,
        dlq_sequence=ack.seq,
        dead_letter_id=letter.dead_letter_id,
        set_aside_total=sum(SET_ASIDE_COUNTS.values()),
    )
    return int(ack.seq)


def letter_id(consumer: str, sequence: int) -> str:
    """The same message of the same consumer always gets the same letter id: a redelivery, a
    restart or a rebuild that meets it again names the letter already written."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{consumer}/{sequence}"))


class LetterBox:
    """The one path by which a consumer sets messages aside: each message once.

    The ids already in the DLQ are read the first time a letter is to be written (the DLQ
    stream's dedupe window is minutes; a rebuild meets every bad message again, days later).
    """

    def __init__(self, es: EventStore | None, consumer: str) -> None:
        self.es = es
        self.consumer = consumer
        self._known: set[str] | None = None

    async def put(self, stored: StoredEvent, reason: str, error: str, deliveries: int = 1) -> bool:
        """Set ``stored`` aside; False when its letter is already in the DLQ."""
        if self.es is None:
            raise RuntimeError("no dead-letter queue: this event store is not JetStream")
        ident = letter_id(self.consumer, stored.sequence)
        if self._known is None:
            await ensure_dlq_stream(self.es.js)
            try:
                entries = await read_letters(self.es, self.consumer)
            except Exception as exc:
                # A role that may write letters but not read the DLQ (the command services
                # under the deployment's permissions): dedupe by NATS's window and this
                # process only; the letter itself must not wait for a read it cannot do.
                log.warning(
                    "cannot read the DLQ; letters deduplicated in-process only",
                    consumer=self.consumer,
                    error=str(exc) or type(exc).__name__,
                )
                entries = []
            self._known = {e.letter.dead_letter_id for e in entries}
        if ident in self._known:
            return False
        letter = DeadLetter(
            consumer=self.consumer,
            error=error[:1000],
            reason=reason,
            data=stored.data,
            stream=stored.stream,
            sequence=stored.sequence,
            subject=stored.subject,
            deliveries=deliveries,
            headers={"Nats-Msg-Id": stored.msg_id} if stored.msg_id else {},
            dead_letter_id=ident,
        )
        await set_aside(self.es.js, letter)
        self._known.add(ident)
        return True


def letter_subject(consumer: str) -> str:
    return f"{dead_letter_subject(consumer)}.letter"


def resolution_subject(consumer: str) -> str:
    return f"{dead_letter_subject(consumer)}.resolution"


def retry_subject(consumer: str) -> str:
    """The request subject of the service that owns ``consumer`` (outside every stream)."""
    return command_subject(consumer.split(".", 1)[0], "dlq_retry")


async def record_resolution(
    js: JetStreamContext, letter: DeadLetter, outcome: str, reason: str = "", actor: str = ""
) -> int:
    """``outcome`` is ``retried`` or ``discarded``; the letter itself stays in the stream."""
    body = {
        "dead_letter_id": letter.dead_letter_id,
        "outcome": outcome,
        "reason": reason,
        "actor": actor,
        "at": datetime.now(UTC).isoformat(),
    }
    ack = await js.publish(
        resolution_subject(letter.consumer), json.dumps(body).encode(), stream=DLQ_STREAM.name
    )
    log.info(
        "dead letter resolved",
        consumer=letter.consumer,
        outcome=outcome,
        dead_letter_id=letter.dead_letter_id,
    )
    return int(ack.seq)


# ------------------------------------------------------------------ reading the DLQ


@dataclass(frozen=True)
class Resolution:
    dead_letter_id: str
    outcome: str
    reason: str
    actor: str
    at: str
    sequence: int


@dataclass(frozen=True)
class LetterEntry:
    """A letter as the DLQ stream holds it, with every resolution that names it."""

    letter: DeadLetter
    sequence: int
    resolutions: tuple[Resolution, ...] = ()

    @property
    def is_open(self) -> bool:
        """Open until a resolution (retried or discarded) names it."""
        return not self.resolutions

    @property
    def status(self) -> str:
        return self.resolutions[-1].outcome if self.resolutions else "open"

    def summary(self) -> dict[str, Any]:
        letter = self.letter
        return {
            "dead_letter_id": letter.dead_letter_id,
            "consumer": letter.consumer,
            "reason": letter.reason,
            "status": self.status,
            "deliveries": letter.deliveries,
            "stream": letter.stream,
            "sequence": letter.sequence,
            "subject": letter.subject,
            "error": letter.error,
            "set_aside_at": letter.set_aside_at,
            "dlq_sequence": self.sequence,
        }

    def detail(self) -> dict[str, Any]:
        data = self.letter.data
        try:
            text: str | None = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        return {
            **self.summary(),
            "headers": self.letter.headers,
            "data_bytes": len(data),
            "data_text": text,
            "data_b64": None if text is not None else base64.b64encode(data).decode(),
            "resolutions": [vars(r) for r in self.resolutions],
        }


async def read_letters(es: EventStore, consumer: str | None = None) -> list[LetterEntry]:
    """Every letter in the DLQ stream (oldest first) with its resolutions.

    ``consumer`` keeps only that consumer's letters; a service name (``reporting``) keeps
    all of that service's consumers.
    """
    try:
        last = await es.stream_last_sequence(DLQ_STREAM.name)
    except NotFoundError:
        return []
    letters: dict[str, tuple[DeadLetter, int]] = {}
    resolutions: dict[str, list[Resolution]] = {}
    async for stored in es.iterate(DLQ_STREAM.name, 1, last):
        if stored.subject.endswith(".letter"):
            try:
                letter = DeadLetter.from_json(stored.data)
            except (ValueError, KeyError, TypeError) as exc:
                log.error("unreadable dead letter", dlq_sequence=stored.sequence, error=str(exc))
                continue
            letters.setdefault(letter.dead_letter_id, (letter, stored.sequence))
        elif stored.subject.endswith(".resolution"):
            try:
                body = json.loads(stored.data)
                res = Resolution(
                    str(body["dead_letter_id"]),
                    str(body["outcome"]),
                    str(body.get("reason", "")),
                    str(body.get("actor", "")),
                    str(body.get("at", "")),
                    stored.sequence,
                )
            except (ValueError, KeyError, TypeError) as exc:
                log.error("unreadable dlq resolution", dlq_sequence=stored.sequence, error=str(exc))
                continue
            resolutions.setdefault(res.dead_letter_id, []).append(res)
    entries = [
        LetterEntry(letter, seq, tuple(resolutions.get(letter_id, ())))
        for letter_id, (letter, seq) in letters.items()
    ]
    if consumer:
        entries = [
            e
            for e in entries
            if e.letter.consumer == consumer or e.letter.consumer.startswith(consumer + ".")
        ]
    return sorted(entries, key=lambda e: e.sequence)


class LetterNotFound(LookupError):
    pass


def find_letter(entries: list[LetterEntry], dead_letter_id: str) -> LetterEntry:
    """The letter with this id, or a unique id prefix (operators type the first characters)."""
    exact = [e for e in entries if e.letter.dead_letter_id == dead_letter_id]
    if exact:
        return exact[0]
    matches = [
        e for e in entries if dead_letter_id and e.letter.dead_letter_id.startswith(dead_letter_id)
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise LetterNotFound(f"no dead letter {dead_letter_id!r}")
    raise LetterNotFound(
        f"{dead_letter_id!r} names {len(matches)} dead letters; give more of the id"
    )


async def get_letter(es: EventStore, dead_letter_id: str) -> LetterEntry:
    return find_letter(await read_letters(es), dead_letter_id)


def counts(entries: list[LetterEntry]) -> list[dict[str, Any]]:
    """Per consumer: total, open, retried, discarded, and open letters by reason."""
    table: dict[str, dict[str, Any]] = {}
    for entry in entries:
        row = table.setdefault(
            entry.letter.consumer,
            {
                "consumer": entry.letter.consumer,
                "total": 0,
                "open": 0,
                "retried": 0,
                "discarded": 0,
                "open_by_reason": Counter(),
            },
        )
        row["total"] += 1
        row[entry.status if entry.status in ("open", *RESOLUTIONS) else "open"] += 1
        if entry.is_open:
            row["open_by_reason"][entry.letter.reason] += 1
    return [
        {**row, "open_by_reason": dict(row["open_by_reason"])} for _, row in sorted(table.items())
    ]


class LetterAlreadyResolved(Exception):
    def __init__(self, entry: LetterEntry) -> None:
        super().__init__(f"dead letter {entry.letter.dead_letter_id} is already {entry.status}")
        self.entry = entry


async def discard(es: EventStore, dead_letter_id: str, reason: str, actor: str = "") -> LetterEntry:
    """Record that an operator set an open letter aside for good, and why (nothing is deleted)."""
    if not reason.strip():
        raise ValueError("a discard needs a reason")
    entry = await get_letter(es, dead_letter_id)
    if not entry.is_open:
        raise LetterAlreadyResolved(entry)
    await record_resolution(es.js, entry.letter, "discarded", reason.strip(), actor)
    return await get_letter(es, entry.letter.dead_letter_id)
