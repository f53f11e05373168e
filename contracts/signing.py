"""Who sent a command: ed25519 signatures over the exact request bytes (issue #13 finding 5).

A person's key pair is theirs alone; the ROSTER stream keeps their public key
(``ev.roster.person.<person_id>``). A client signs the body of each command request and sends
two headers: ``Briefings-Signer`` (the public key) and ``Briefings-Signature`` (the signature
of the body), both in unpadded URL-safe base64. The command service verifies them against the
registry and records the signer's person id as the event's actor.

A person's id is derived from their public key, so the registry is looked up by the key in one
direct get, and one key can never be registered as two people.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SIGNER_HEADER = "Briefings-Signer"
SIGNATURE_HEADER = "Briefings-Signature"
PUBLIC_KEY_PATTERN = r"^[A-Za-z0-9_-]{43}$"
"""32 bytes of ed25519 public key, unpadded URL-safe base64."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def person_id_for(public_key: str) -> str:
    """The person id of a public key: ``p-`` and 32 hex digits of its SHA-256."""
    return "p-" + hashlib.sha256(public_key.encode()).hexdigest()[:32]


class SigningKey:
    """A person's private key (never leaves their key file)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: str) -> SigningKey:
        return cls(Ed25519PrivateKey.from_private_bytes(_unb64(seed)))

    @property
    def seed(self) -> str:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        raw = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return _b64(raw)

    @property
    def public_key(self) -> str:
        return _b64(self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, body: bytes) -> dict[str, str]:
        """The two headers that sign ``body``."""
        return {SIGNER_HEADER: self.public_key, SIGNATURE_HEADER: _b64(self._private.sign(body))}


def signature_valid(public_key: str, signature: str, body: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s signature of exactly ``body``."""
    try:
        key = Ed25519PublicKey.from_public_bytes(_unb64(public_key))
        key.verify(_unb64(signature), body)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
