"""The event envelope: what every stored event looks like."""

from __future__ import annotations

import json
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.canonical import GENESIS_HASH, canonical_json, sha256_hex
from contracts.types import UtcDatetime


class DomainEvent(BaseModel):
    """Base of every typed event payload. Subclasses name their type and version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str]


class EventEnvelope(BaseModel):
    """One stored event. Its canonical JSON is exactly what the services write to JetStream.

    Strict: ``"aggregate_version": "1"`` is not 1. Read stored bytes with ``from_bytes``
    (JSON mode: ids and timestamps are strings there); the chain hash of a stored event is
    the SHA-256 of its bytes as stored (``hash_of_bytes``), never of a re-encoding.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    event_id: UUID
    type: str
    schema_version: int = Field(ge=1)
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int = Field(ge=1)
    occurred_at: UtcDatetime = Field(description="When it happened in the world")
    recorded_at: UtcDatetime = Field(description="When the system recorded it")
    correlation_id: str
    causation_id: str = Field(description="The command or event that caused it")
    command_id: str | None = Field(default=None, description="The command that wrote it")
    command_digest: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        exclude_if=lambda value: value is None,
        description="SHA-256 of the command that wrote it (runtime/commands.py): binds "
        "command_id to that command. Added later: absent (never null) when not known, so "
        "events without it keep their bytes and hashes",
    )
    actor: str
    prev_hash: str = Field(
        default=GENESIS_HASH,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the previous event of the same aggregate (contracts/HASHING.md)",
    )
    payload: dict[str, Any]

    def to_canonical(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    def hash(self) -> str:
        """The hash of the bytes this envelope encodes to (for one the code just built)."""
        return sha256_hex(self.to_canonical())

    @classmethod
    def from_bytes(cls, data: bytes) -> EventEnvelope:
        return cls.model_validate_json(data, strict=True)


def hash_of_bytes(data: bytes) -> str:
    """The chain hash of a stored event: SHA-256 of its bytes exactly as stored."""
    return sha256_hex(data)


def hash_of_stored(data: bytes) -> str:
    """The receipt item hash of stored bytes: SHA-256 of their canonical form
    (contracts/HASHING.md §6), the same whatever the stored whitespace."""
    return sha256_hex(canonical_json(json.loads(data)))
