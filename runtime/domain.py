"""What pure domain code may use: the rule error and the aggregate description. No I/O."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from contracts.envelope import DomainEvent
from contracts.replies import ErrorCode


class DomainError(Exception):
    """A business rule said no. Subclasses are named after the rule that broke."""

    code: ClassVar[ErrorCode] = ErrorCode.RULE_VIOLATED

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    @property
    def rule(self) -> str:
        return type(self).__name__


class NothingToChange(DomainError):
    """Not a refusal: the command asks for what is already so. ``decide`` raises it (a
    subclass named for what is already so, its message saying it); the command's reply is
    ``unchanged: true`` with that message and nothing is written (``UnitOfWork.decide``)."""


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class AlreadyExists(DomainError):
    code = ErrorCode.ALREADY_EXISTS


class Conflict(DomainError):
    code = ErrorCode.CONFLICT


S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True)
class AggregateKind(Generic[S]):
    """How one kind of aggregate is stored and folded.

    ``evolve(None, first_event)`` creates the state; states are frozen pydantic models so that
    snapshots are plain JSON.
    """

    context: str
    type: str
    state_type: builtins.type[S]  # `type` is a field name here
    evolve: Callable[[S | None, DomainEvent], S]
    stream: str = field(default="")

    def __post_init__(self) -> None:
        if not self.stream:
            object.__setattr__(self, "stream", self.context.upper())

    def fold(self, state: S | None, events: list[DomainEvent]) -> S | None:
        for event in events:
            state = self.evolve(state, event)
        return state
