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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext

from contracts.subjects import DLQ_STREAM, command_subject, dead_letter_subject
from briefings.runtime.eventstore import stream_config
from briefings.runtime.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class DeadLetter:
    consumer: str
    error: str
    reason: str
    """A short machine word: malformed, unknown_type, newer_version, invalid_payload, handler_failed."""
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
            consumer=body["consumer"], error=body["error"], reason=body["reason"],
            data=base64.b64decode(body["data_b64"]), stream=body.get("stream"),
            sequence=body.get("sequence"), subject=body.get("subject"),
            deliveries=int(body.get("deliveries", 1)), headers=body.get("headers") or {},
            dead_letter_id=body["dead_letter_id"], set_aside_at=body.get("set_aside_at", ""),
        )


async def ensure_dlq_stream(js: JetStreamContext, replicas: int = 1) -> None:
    config = stream_config(DLQ_STREAM, replicas)
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
        letter_subject(letter.consumer), letter.to_json(),
        stream=DLQ_STREAM.name, headers={"Nats-Msg-Id": letter.dead_letter_id},
    )
    log.warning("message set aside", consumer=letter.consumer, reason=letter.reason,
                error=letter.error, stream=letter.stream, sequence=letter.sequence,
                dlq_sequence=ack.seq)
    return int(ack.seq)


def letter_subject(consumer: str) -> str:
    return f"{dead_letter_subject(consumer)}.letter"


def resolution_subject(consumer: str) -> str:
    return f"{dead_letter_subject(consumer)}.resolution"


def retry_subject(consumer: str) -> str:
    """The request subject of the service that owns ``consumer`` (outside every stream)."""
    return command_subject(consumer.split(".", 1)[0], "dlq_retry")


async def record_resolution(js: JetStreamContext, letter: DeadLetter, outcome: str,
                            reason: str = "", actor: str = "") -> int:
    """``outcome`` is ``retried`` or ``discarded``; the letter itself stays in the stream."""
    body = {"dead_letter_id": letter.dead_letter_id, "outcome": outcome, "reason": reason,
            "actor": actor, "at": datetime.now(UTC).isoformat()}
    ack = await js.publish(resolution_subject(letter.consumer), json.dumps(body).encode(),
                           stream=DLQ_STREAM.name)
    log.info("dead letter resolved", consumer=letter.consumer, outcome=outcome,
             dead_letter_id=letter.dead_letter_id)
    return int(ack.seq)
