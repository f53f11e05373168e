"""The subject scheme. Every subject the system uses is built here and nowhere else.

    ev.<context>.<aggregate_type>.<aggregate_id>   events (captured by stream <CONTEXT>)
    cmd.<context>.<command>                        command requests (no stream)
    qry.<context>.<query>                          query requests (no stream)
    health.<service>                               health requests (no stream)
    dlq.<consumer>                                 dead letters (stream DLQ)

Request subjects never start with ``ev.`` or ``dlq.``, so no stream captures them and
answers a request with a PubAck.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTEXTS = ("roster", "events", "awards")
SERVICES = ("roster", "events", "awards", "reporting")


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]


def stream_name(context: str) -> str:
    return context.upper()


def event_subject(context: str, aggregate_type: str, aggregate_id: str) -> str:
    for token in (context, aggregate_type, aggregate_id):
        if not token or any(c in token for c in ".*> \t\r\n"):
            raise ValueError(f"not a subject token: {token!r}")
    return f"ev.{context}.{aggregate_type}.{aggregate_id}"


def context_events(context: str) -> str:
    return f"ev.{context}.>"


def command_subject(context: str, command: str) -> str:
    return f"cmd.{context}.{command}"


def query_subject(service: str, query: str) -> str:
    return f"qry.{service}.{query}"


def health_subject(service: str) -> str:
    return f"health.{service}"


def dead_letter_subject(consumer: str) -> str:
    return f"dlq.{consumer}"


DLQ_STREAM = StreamSpec(name="DLQ", subjects=("dlq.>",))


def event_streams() -> tuple[StreamSpec, ...]:
    return tuple(StreamSpec(stream_name(c), (context_events(c),)) for c in CONTEXTS)


def parse_event_subject(subject: str) -> tuple[str, str, str]:
    """``(context, aggregate_type, aggregate_id)`` of an event subject."""
    prefix, context, aggregate_type, aggregate_id = subject.split(".", 3)
    if prefix != "ev":
        raise ValueError(f"not an event subject: {subject}")
    return context, aggregate_type, aggregate_id


ISSUED_REPORTS_STREAM = StreamSpec(name="REPORTING", subjects=(context_events("reporting"),))
"""Issued reports (contracts/reporting.py): kept apart from ``event_streams()``, which the
read models project and the summaries' receipts digest."""
