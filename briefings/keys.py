"""A person's key file: their id, name, role and ed25519 key (issue #13 finding 5).

Written owner-only (0600) by ``briefings people add`` (and by ``briefings up`` for the first
operator); found like the role credentials: ``BRIEFINGS_KEY_FILE``, else
``<data dir>/credentials/person.json``. The private key never leaves the file: the CLI
signs each command request with it (``briefings/client.py``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from contracts.signing import SigningKey, person_id_for
from runtime.settings import Settings


@dataclass(frozen=True)
class KeyFile:
    name: str
    role: str
    key: SigningKey

    @property
    def public_key(self) -> str:
        return self.key.public_key

    @property
    def person_id(self) -> str:
        return person_id_for(self.key.public_key)

    def write(self, path: Path) -> None:
        """Create ``path`` owner-only; an existing key file is never overwritten."""
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "person_id": self.person_id,
            "name": self.name,
            "role": self.role,
            "public_key": self.public_key,
            "private_key": self.key.seed,
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(body, out, indent=2)
            out.write("\n")

    @classmethod
    def read(cls, path: Path) -> KeyFile:
        found = json.loads(path.read_text())
        return cls(
            str(found["name"]), str(found["role"]), SigningKey.from_seed(found["private_key"])
        )


def signing_key(settings: Settings) -> SigningKey | None:
    """The key that signs this process's commands, or None (nothing found: unsigned)."""
    path = settings.signing_key_path
    if settings.key_file is None and not path.is_file():
        return None
    return KeyFile.read(path).key  # an explicitly named file must exist
