"""People of the Center's staff and their public keys (issue #13 finding 5).

A person's id is derived from their public key (``contracts/signing.py``), so a key is
registered once at most: registering it again finds the person already there. A revoked
person stays revoked: their key signs nothing any more, and a new key is a new person.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from contracts import roster as c
from contracts.envelope import DomainEvent
from contracts.signing import person_id_for
from runtime.domain import AggregateKind, AlreadyExists, DomainError, NotFound


class Person(BaseModel):
    model_config = ConfigDict(frozen=True)

    person_id: str
    name: str
    role: c.PersonRole
    public_key: str
    revoked: bool = False
    revoke_reason: str = ""

    @property
    def active(self) -> bool:
        return not self.revoked


class PublicKeyMustBeUnique(AlreadyExists):
    pass


class PersonMustExist(NotFound):
    pass


class PersonIsAlreadyRevoked(DomainError):
    pass


class PersonIdMustMatchKey(DomainError):
    pass


def decide_register(
    state: Person | None, cmd: c.RegisterPerson, person_id: str
) -> list[DomainEvent]:
    if person_id != person_id_for(cmd.public_key):  # the handler derives it; never trusted
        raise PersonIdMustMatchKey(f"{person_id} is not the id of that key", person_id=person_id)
    if state is not None:
        raise PublicKeyMustBeUnique(
            f"that public key is already registered, as {state.name!r} ({state.person_id})",
            person_id=state.person_id,
        )
    return [
        c.PersonRegistered(
            person_id=person_id, name=cmd.name, role=cmd.role, public_key=cmd.public_key
        )
    ]


def decide_revoke(state: Person | None, cmd: c.RevokePerson) -> list[DomainEvent]:
    if state is None:
        raise PersonMustExist(f"no person {cmd.person_id}", person_id=cmd.person_id)
    if state.revoked:
        raise PersonIsAlreadyRevoked(
            f"{state.name!r} ({state.person_id}) is already revoked", person_id=state.person_id
        )
    return [c.PersonRevoked(person_id=state.person_id, reason=cmd.reason)]


def evolve(state: Person | None, event: DomainEvent) -> Person:
    match event:
        case c.PersonRegistered():
            return Person(
                person_id=event.person_id,
                name=event.name,
                role=event.role,
                public_key=event.public_key,
            )
        case c.PersonRevoked() if state is not None:
            return state.model_copy(update={"revoked": True, "revoke_reason": event.reason})
    raise ValueError(f"cannot apply {type(event).__name__} to person {state!r}")


PERSON = AggregateKind(context=c.CONTEXT, type=c.PERSON, state_type=Person, evolve=evolve)
