"""The event channels of the AsyncAPI documents (issue #20), from the same models as the JSON
Schemas: every ``ev.<context>.<aggregate_type>.{aggregate_id}`` channel with each event type's
message (envelope + typed payload, type and schema version), its headers, the hash-chain
fields and the delivery guarantees a subscriber can rely on.

FastStream documents what a service *receives* (commands, queries, health); the events it
*sends* are appended through the event store, not through a FastStream publisher, so they are
added here and merged into the service's document by ``with_events``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pydantic import BaseModel

from contracts import awards, events, reporting, roster
from contracts.envelope import DomainEvent, EventEnvelope
from contracts.headers import EVENT_TYPE_HEADER, EVENT_VERSION_HEADER
from contracts.registry import registry
from contracts.subjects import stream_name

# Every context that appends events, with the module of its event models: the three of
# event_streams() and reporting's issued reports (stream REPORTING).
CONTEXT_MODULES = {"roster": roster, "events": events, "awards": awards, "reporting": reporting}

DELIVERY = """\
Delivery guarantees, for a subscriber reading stream {stream} through its own durable \
JetStream consumer:
- at least once: a message is redelivered until acknowledged (after ack_wait), so the \
same event can arrive more than once (a subscriber that applied an event and crashed \
before its ack sees it again);
- ordered per aggregate: each aggregate has one subject, appended with \
Nats-Expected-Last-Subject-Sequence, so its events carry aggregate_version 1, 2, 3, ... \
without gaps and arrive in that order; across aggregates the order is the stream sequence;
- duplicates: deduplicate by event_id (a UUID, also the Nats-Msg-Id header): keep the \
applied event ids, or the last applied stream sequence, in the same transaction as the \
effect, and skip what is already applied;
- kept forever: the stream has file storage, no limits, deny_delete and deny_purge, so a \
new subscriber can follow from the first event (deliver_policy all).
Hash chain: prev_hash is the SHA-256 of the previous event of the same aggregate over its \
canonical JSON (contracts/HASHING.md); the first event's prev_hash is 64 zeros. The stored \
bytes are exactly the canonical JSON of the envelope.
Headers: {type_header} and {version_header} name the event type and its payload schema \
version, so a subscriber picks events without decoding payloads (a headers_only consumer \
sees them too); events stored before these headers existed have none: read type and \
schema_version from the envelope."""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _hoist(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """``model``'s JSON Schema with its ``$defs`` moved to components/schemas."""
    schema = model.model_json_schema(mode="validation")
    text = json.dumps(schema).replace('"#/$defs/', '"#/components/schemas/')
    schema = json.loads(text)
    for name, definition in schema.pop("$defs", {}).items():
        if name in schemas and schemas[name] != definition:
            raise ValueError(f"two different schemas named {name}")
        schemas[name] = definition
    return dict(schema)


def context_events(context: str) -> list[type[DomainEvent]]:
    module = CONTEXT_MODULES[context].__name__
    return [cls for _, cls in sorted(registry.types().items()) if cls.__module__ == module]


def event_part(context: str) -> dict[str, Any]:
    """``channels``, ``operations`` and ``components`` of ``context``'s events."""
    stream = stream_name(context)
    schemas: dict[str, Any] = {"EventEnvelope": _hoist(EventEnvelope, {})}
    messages: dict[str, Any] = {}
    by_aggregate: dict[str, list[str]] = {}
    for cls in context_events(context):
        key = f"{cls.event_type}.v{cls.schema_version}"
        schemas[key] = _hoist(cls, schemas)
        messages[key] = {
            "name": cls.event_type,
            "title": f"{cls.event_type} v{cls.schema_version}",
            "summary": (cls.__doc__ or f"{cls.event_type} event").strip().splitlines()[0],
            "contentType": "application/json",
            "correlationId": {"location": "$message.payload#/correlation_id"},
            "headers": {
                "type": "object",
                "properties": {
                    EVENT_TYPE_HEADER: {"type": "string", "const": cls.event_type},
                    EVENT_VERSION_HEADER: {
                        "type": "string",
                        "const": str(cls.schema_version),
                    },
                    "Nats-Msg-Id": {
                        "type": "string",
                        "format": "uuid",
                        "description": "the event_id (JetStream deduplicates a retried append)",
                    },
                },
            },
            "payload": {
                "allOf": [
                    _ref("EventEnvelope"),
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": cls.event_type},
                            "schema_version": {"const": cls.schema_version},
                            "aggregate_type": {"const": cls.aggregate_type},
                            "payload": _ref(key),
                        },
                    },
                ]
            },
            "x-event-type": cls.event_type,
            "x-schema-version": cls.schema_version,
        }
        by_aggregate.setdefault(cls.aggregate_type, []).append(key)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    delivery = DELIVERY.format(
        stream=stream, type_header=EVENT_TYPE_HEADER, version_header=EVENT_VERSION_HEADER
    )
    for aggregate_type, keys in sorted(by_aggregate.items()):
        channel = f"{context} events {aggregate_type}"
        channels[channel] = {
            "address": f"ev.{context}.{aggregate_type}.{{aggregate_id}}",
            "title": f"{context} {aggregate_type} events",
            "description": f"Every event of one {aggregate_type} aggregate, in stream "
            f"{stream}.\n{delivery}",
            "parameters": {"aggregate_id": {"description": f"the {aggregate_type}'s id"}},
            "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in keys},
            "bindings": {"nats": {"bindingVersion": "custom"}},
            "x-stream": stream,
        }
        operations[channel] = {
            "action": "send",
            "title": f"{context} appends {aggregate_type} events",
            "channel": {"$ref": f"#/channels/{channel.replace(' ', '%20')}"},
            "messages": [
                {"$ref": f"#/channels/{channel.replace(' ', '%20')}/messages/{key}"} for key in keys
            ],
        }
    return {
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def with_events(document: dict[str, Any], service: str) -> dict[str, Any]:
    """``document`` (a service's FastStream AsyncAPI) plus the events the service appends."""
    if service not in CONTEXT_MODULES:
        return document
    out = copy.deepcopy(document)
    part = event_part(service)
    for section in ("channels", "operations"):
        clash = set(out.get(section, {})) & set(part[section])
        if clash:
            raise ValueError(f"{section} {sorted(clash)} already in the document")
        out.setdefault(section, {}).update(part[section])
    components = out.setdefault("components", {})
    for section in ("messages", "schemas"):
        clash = set(components.get(section, {})) & set(part["components"][section])
        if clash:
            raise ValueError(f"components/{section} {sorted(clash)} already in the document")
        components.setdefault(section, {}).update(part["components"][section])
    return out
