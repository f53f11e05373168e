"""The participation record, asked of the reporting read model over NATS (never its database)."""

from __future__ import annotations

import json
from typing import Protocol

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from pydantic import ValidationError

from contracts.replies import ErrorCode
from contracts.reporting import SERVICE, Participation, ParticipationQuery
from contracts.subjects import query_subject
from runtime.domain import DomainError


class ParticipationMustBeAvailable(DomainError):
    """The reporting service did not answer, or answered with an error."""

    code = ErrorCode.UNAVAILABLE


class ParticipationSource(Protocol):
    async def participation(self, year: int) -> Participation: ...


class NatsParticipation:
    def __init__(self, nc: Client, timeout: float) -> None:
        self.nc = nc
        self.timeout = timeout

    async def participation(self, year: int) -> Participation:
        subject = query_subject(SERVICE, "participation")
        body = ParticipationQuery(year=year).model_dump_json().encode()
        try:
            msg = await self.nc.request(subject, body, timeout=self.timeout)
        except NoRespondersError:
            raise ParticipationMustBeAvailable(
                f"no reporting service answers {subject}", subject=subject
            ) from None
        except NatsTimeoutError:
            raise ParticipationMustBeAvailable(
                f"no reply on {subject} in time", subject=subject
            ) from None
        reply = json.loads(msg.data)
        if reply.get("ok") is not True:
            raise ParticipationMustBeAvailable(
                f"reporting refused the participation query: {reply.get('message', reply)}",
                subject=subject,
                reporting_code=reply.get("code"),
            )
        try:
            return Participation.model_validate(reply["data"])
        except (KeyError, ValidationError) as exc:
            raise ParticipationMustBeAvailable(
                f"unreadable participation reply: {exc}", subject=subject
            ) from None
