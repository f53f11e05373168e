"""The door every command passes: who signed it (issue #13 finding 5, docs/audit.md "People").

A command request may carry ``Briefings-Signer`` (a public key) and ``Briefings-Signature``
(its ed25519 signature of the exact request body; ``contracts/signing.py``). The registry is
ROSTER's ``ev.roster.person.<person_id>`` subjects, the person id derived from the key, so
each check is one direct get of the signer's last event: a revocation acknowledged before a
command was sent is always seen, by every service, with no copy to keep in step.

Enforcement starts with the first registered person and never stops (people are never
deleted): from then on a command must be signed by an active clerk or operator, and
registering or revoking people by an active operator (auditors send no commands). Until
then (a fresh store being set up) commands are accepted unsigned, with the client's
``actor``; a signed one, from a key not registered yet (the first operator registering
themselves), with that key's person id. Whatever is refused is ``unauthorized`` and writes
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from contracts import roster as r
from contracts.envelope import EventEnvelope
from contracts.replies import ErrorCode, ErrorReply
from contracts.signing import (
    SIGNATURE_HEADER,
    SIGNER_HEADER,
    person_id_for,
    signature_valid,
)
from contracts.subjects import event_subject
from runtime.eventstore import EventStore, JetStreamStreamNotFound

OPERATORS_ONLY = frozenset({("roster", "register_person"), ("roster", "revoke_person")})
"""Commands only an operator may sign (the NATS permissions also keep them from clerks)."""
ANY_PERSON = f"ev.{r.CONTEXT}.{r.PERSON}.*"  # event_subject refuses wildcards


@dataclass(frozen=True)
class Signer:
    person_id: str
    name: str
    role: r.PersonRole | None
    """None: a key nobody registered yet, accepted only while nobody is (set-up)."""


def unauthorized(message: str, rule: str, **context: str) -> ErrorReply:
    return ErrorReply(code=ErrorCode.UNAUTHORIZED, message=message, rule=rule, context=context)


class People:
    """Checks a command request's signature against the registry on ROSTER."""

    def __init__(self, es: EventStore) -> None:
        self.es = es
        self._enforcing = False

    async def enforcing(self) -> bool:
        """Whether anyone was ever registered (then for good: checked until it is so)."""
        if not self._enforcing:
            try:
                self._enforcing = await self.es.last_sequence(r.CONTEXT.upper(), ANY_PERSON) > 0
            except JetStreamStreamNotFound:
                return False
        return self._enforcing

    async def person(self, person_id: str) -> tuple[Signer, bool] | None:
        """The person and whether they are active, from their subject's last event."""
        try:
            last = await self.es.last_event(
                r.CONTEXT.upper(), event_subject(r.CONTEXT, r.PERSON, person_id)
            )
        except JetStreamStreamNotFound:
            return None
        if last is None:
            return None
        envelope = EventEnvelope.from_bytes(last.data)
        if envelope.type == r.PersonRevoked.event_type:
            first = await self.es.read_subject(
                r.CONTEXT.upper(), event_subject(r.CONTEXT, r.PERSON, person_id), batch=2
            )
            envelope = EventEnvelope.from_bytes(first[0].data)
            active = False
        else:
            active = True
        registered = r.PersonRegistered.model_validate(envelope.payload)
        return Signer(registered.person_id, registered.name, registered.role), active

    async def check(
        self,
        context: str,
        name: str,
        body: bytes,
        headers: Mapping[str, str],
        operator_only: bool = False,
    ) -> Signer | ErrorReply | None:
        """The verified signer (their key's person id is the actor); ``None`` for an unsigned
        command while nobody is registered; an ``unauthorized`` refusal otherwise."""
        public_key = headers.get(SIGNER_HEADER)
        if not public_key:
            if await self.enforcing():
                return unauthorized(
                    "commands must be signed by a registered person "
                    f"(headers {SIGNER_HEADER}, {SIGNATURE_HEADER})",
                    "signature_required",
                )
            return None
        if not signature_valid(public_key, headers.get(SIGNATURE_HEADER, ""), body):
            return unauthorized(
                "the signature does not match this request and key", "signature_invalid"
            )
        person_id = person_id_for(public_key)
        found = await self.person(person_id)
        if found is None:
            if await self.enforcing():
                return unauthorized(
                    f"nobody is registered with this key ({person_id})",
                    "signer_unknown",
                    person_id=person_id,
                )
            # A fresh store: the first person registers themselves. The signature proves the
            # key, so the key's person id is the actor even before it is registered.
            return Signer(person_id, "", None)
        signer, active = found
        if not active:
            return unauthorized(
                f"{signer.name!r} ({person_id}) was revoked", "signer_revoked", person_id=person_id
            )
        if signer.role == r.PersonRole.AUDITOR:  # auditors read; they change nothing
            return unauthorized(
                f"{signer.name!r} is an auditor: auditors send no commands",
                "auditor_read_only",
                person_id=person_id,
            )
        needs_operator = operator_only or (context, name) in OPERATORS_ONLY
        if needs_operator and signer.role != r.PersonRole.OPERATOR:
            return unauthorized(
                f"only an operator may send {name}; {signer.name!r} is {signer.role}",
                "operator_required",
                person_id=person_id,
            )
        return signer
