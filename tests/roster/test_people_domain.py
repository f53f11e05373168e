"""Pure rules of people and their keys (issue #13 finding 5), and the signature itself."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts import roster as c
from contracts.signing import (
    SIGNATURE_HEADER,
    SIGNER_HEADER,
    SigningKey,
    person_id_for,
    signature_valid,
)
from services.roster.domain import people

pytestmark = pytest.mark.fast

KEY = SigningKey.generate()
PERSON_ID = person_id_for(KEY.public_key)


def register(public_key: str = KEY.public_key) -> c.RegisterPerson:
    return c.RegisterPerson(
        command_id="x", name="Trần Thị Vận", role=c.PersonRole.OPERATOR, public_key=public_key
    )


def registered() -> people.Person:
    state = people.PERSON.fold(None, people.decide_register(None, register(), PERSON_ID))
    assert state is not None
    return state


def test_a_person_is_registered_under_the_id_of_their_key() -> None:
    [event] = people.decide_register(None, register(), PERSON_ID)
    assert event == c.PersonRegistered(
        person_id=PERSON_ID,
        name="Trần Thị Vận",
        role=c.PersonRole.OPERATOR,
        public_key=KEY.public_key,
    )
    assert registered().active


def test_a_public_key_is_registered_once() -> None:
    with pytest.raises(people.PublicKeyMustBeUnique) as refused:
        people.decide_register(registered(), register(), PERSON_ID)
    assert refused.value.code == "already_exists"


def test_the_person_id_must_be_the_keys() -> None:
    with pytest.raises(people.PersonIdMustMatchKey):
        people.decide_register(None, register(), person_id_for(SigningKey.generate().public_key))


def test_revoke_once_and_only_a_known_person() -> None:
    revoke = c.RevokePerson(command_id="y", person_id=PERSON_ID, reason="left")
    [event] = people.decide_revoke(registered(), revoke)
    assert event == c.PersonRevoked(person_id=PERSON_ID, reason="left")
    revoked = people.PERSON.fold(registered(), [event])
    assert revoked is not None and not revoked.active
    with pytest.raises(people.PersonIsAlreadyRevoked):
        people.decide_revoke(revoked, revoke)
    with pytest.raises(people.PersonMustExist):
        people.decide_revoke(None, revoke)


def test_a_public_key_must_look_like_one() -> None:
    with pytest.raises(ValidationError):
        register("not a key")


def test_a_signature_covers_exactly_the_body_and_the_key() -> None:
    headers = KEY.sign(b'{"a": 1}')
    assert signature_valid(headers[SIGNER_HEADER], headers[SIGNATURE_HEADER], b'{"a": 1}')
    assert not signature_valid(headers[SIGNER_HEADER], headers[SIGNATURE_HEADER], b'{"a": 2}')
    other = SigningKey.generate().public_key
    assert not signature_valid(other, headers[SIGNATURE_HEADER], b'{"a": 1}')
    assert not signature_valid("!", "!", b"")
    assert SigningKey.from_seed(KEY.seed).public_key == KEY.public_key
