"""Command envelopes, replies and the one error shape."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.types import BusinessInstant, Name, Token


class ErrorCode(StrEnum):
    VALIDATION_FAILED = "validation_failed"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    ALREADY_EXISTS = "already_exists"
    RULE_VIOLATED = "rule_violated"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
    UNAUTHORIZED = "unauthorized"


class FieldError(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str = Field(description="Dotted path of the offending field, '' for the whole body")
    message: str
    type: str = ""


class ErrorReply(BaseModel):
    """Every failure, from every door, has this shape."""

    model_config = ConfigDict(frozen=True)

    ok: Literal[False] = False
    code: ErrorCode
    message: str
    rule: str | None = Field(default=None, description="The named business rule that broke")
    details: list[FieldError] = Field(default_factory=list)
    context: dict[str, Any] = Field(default_factory=dict)


class CommandAccepted(BaseModel):
    """The reply to a command that was applied (or was applied before: ``replayed``)."""

    model_config = ConfigDict(frozen=True)

    ok: Literal[True] = True
    command_id: str
    aggregate_type: str
    aggregate_id: str
    version: int
    event_ids: list[UUID]
    replayed: bool = Field(
        default=False, description="True when an earlier identical command answered"
    )
    unchanged: bool = Field(default=False, description="True when the command changed nothing")
    message: str = ""


class QueryResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: Literal[True] = True
    data: Any
    next: str | None = Field(
        default=None,
        description="A list query's cursor for the next page (send it as `after`); "
        "absent on the last page",
    )


class Command(BaseModel):
    """Fields every command carries. Unknown fields are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: Token = Field(
        min_length=1, description="Client-chosen; a repeat returns the first outcome"
    )
    actor: Name = "unknown"
    correlation_id: Token | None = None
    occurred_at: BusinessInstant | None = Field(
        default=None, description="When it happened in the world; the service's clock if absent"
    )


class Query(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


PAGE_LIMIT = 500
PAGE_MAX = 2000


class PagedQuery(Query):
    """A list query. Each reply holds at most ``limit`` rows and stays far below NATS's 1 MB
    payload limit; a reply with ``next`` has more: ask again with ``after`` set to it."""

    limit: int = Field(default=PAGE_LIMIT, ge=1, le=PAGE_MAX)
    after: str | None = Field(default=None, min_length=1, max_length=512)


class FollowerHealth(BaseModel):
    """One stream follower (projector) of a service, as health reports it."""

    model_config = ConfigDict(frozen=True)

    name: str
    stream: str
    applied: int = Field(description="last stream sequence applied")
    last: int = Field(description="the stream's last sequence when health was asked")
    lag: int
    state: str = Field(description="following | catching_up | stalled | failing")
    problem: str | None = Field(
        default=None, description="why it is unhealthy (behind and not advancing, ...)"
    )
    set_aside: dict[str, int] = Field(
        default_factory=dict, description="dead letters this process set aside, by reason"
    )


class HealthReply(BaseModel):
    """Every service answers health in this shape. ``detail`` holds ``followers`` (name to
    FollowerHealth) and ``problems`` (one readable line each; empty when healthy)."""

    model_config = ConfigDict(frozen=True)

    service: str
    healthy: bool
    nats_connected: bool
    detail: dict[str, Any] = Field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        found = self.detail.get("problems")
        return [str(p) for p in found] if isinstance(found, list) else []


class DateRange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    start: date
    end: date
