"""One settings object per process, read from the environment in the composition root."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

ENV_PREFIX = "BRIEFINGS_"

# Every variable the system reads. The deploy test checks compose sets nothing else.
ENV_VARS = {
    "BRIEFINGS_NATS_URL": "NATS server URL(s), comma separated",
    "BRIEFINGS_NATS_USER": "NATS user name",
    "BRIEFINGS_NATS_PASSWORD": "NATS password",
    "BRIEFINGS_NATS_CREDS": "path of a NATS .creds file (instead of user/password)",
    "BRIEFINGS_DATA_DIR": "folder for the embedded nats-server store and SQLite files",
    "BRIEFINGS_ROLE": "whose credentials to find in <data dir>/credentials when none are set",
    "BRIEFINGS_KEY_FILE": "the key file that signs commands (<data dir>/credentials/person.json)",
    "BRIEFINGS_DATABASE_URL": "SQLAlchemy URL of this service's database",
    "BRIEFINGS_LOG_LEVEL": "debug, info, warning, error",
    "BRIEFINGS_LOG_FORMAT": "json or console (default: console on a terminal, else json)",
    "BRIEFINGS_STREAM_REPLICAS": "replicas of each event stream (3 on a cluster)",
    "BRIEFINGS_REPORTERS_AT_CITY_LEVEL_ONLY": "true: reporters must belong to the city-level unit",
    "BRIEFINGS_AWARD_KINDS": "comma-separated award kinds the Center grants",
    "BRIEFINGS_CANDIDATE_MIN_RATE": "minimum attendance rate (0..1) for an award candidate",
    "BRIEFINGS_CANDIDATE_MAX_PER_UNIT": "at most this many individual candidates per unit",
    "BRIEFINGS_REQUEST_TIMEOUT": "seconds a CLI request waits for its reply",
    "BRIEFINGS_SERVICE_CONCURRENCY": "requests a service handles at once",
    "BRIEFINGS_FAULT": "tests only: inject a fault (crash_after_append); never set in production",
}


def credentials_path(data_dir: Path, role: str) -> Path:
    """Where the embedded default keeps ``role``'s NATS credentials."""
    return data_dir / "credentials" / f"{role}.json"


def default_key_file(data_dir: Path) -> Path:
    """Where a person's signing key is looked for when ``BRIEFINGS_KEY_FILE`` is not set
    (``briefings up`` writes the first operator's there)."""
    return data_dir / "credentials" / "person.json"


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    nats_url: str = "nats://127.0.0.1:4322"
    nats_user: str | None = None
    nats_password: str | None = None
    nats_creds: str | None = None
    data_dir: Path = Path("data")
    database_url: str | None = None
    log_level: str = "info"
    log_format: str | None = None
    stream_replicas: int = 1
    reporters_at_city_level_only: bool = True
    award_kinds: tuple[str, ...] = (
        "certificate_of_merit",
        "letter_of_commendation",
        "emulation_title",
    )
    candidate_min_rate: float = 0.75
    candidate_max_per_unit: int = 2
    request_timeout: float = 10.0
    service_concurrency: int = 16
    follower_stall_s: float = 30.0
    """Health calls a follower that is behind and has not advanced for this long stalled."""
    credentials_role: str | None = None
    """The role whose credentials were found in the data dir; None when set explicitly."""
    key_file: Path | None = None
    """The person's key file that signs commands; None: ``default_key_file`` if present."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        base = cls()

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name)
            return value if value not in (None, "") else None

        kinds = get("AWARD_KINDS")
        found = cls(
            nats_url=get("NATS_URL") or base.nats_url,
            nats_user=get("NATS_USER"),
            nats_password=get("NATS_PASSWORD"),
            nats_creds=get("NATS_CREDS"),
            data_dir=Path(get("DATA_DIR") or base.data_dir),
            database_url=get("DATABASE_URL"),
            log_level=(get("LOG_LEVEL") or base.log_level).lower(),
            log_format=get("LOG_FORMAT"),
            stream_replicas=int(get("STREAM_REPLICAS") or base.stream_replicas),
            reporters_at_city_level_only=_bool(get("REPORTERS_AT_CITY_LEVEL_ONLY") or "true"),
            award_kinds=tuple(k.strip() for k in kinds.split(",") if k.strip())
            if kinds
            else base.award_kinds,
            candidate_min_rate=float(get("CANDIDATE_MIN_RATE") or base.candidate_min_rate),
            candidate_max_per_unit=int(
                get("CANDIDATE_MAX_PER_UNIT") or base.candidate_max_per_unit
            ),
            request_timeout=float(get("REQUEST_TIMEOUT") or base.request_timeout),
            service_concurrency=int(get("SERVICE_CONCURRENCY") or base.service_concurrency),
            follower_stall_s=float(get("FOLLOWER_STALL_S") or base.follower_stall_s),
            key_file=Path(key) if (key := get("KEY_FILE")) else None,
        )
        role = get("ROLE")
        return found.as_role(role) if role else found

    def as_role(self, role: str) -> Settings:
        """These settings with ``role``'s credentials from ``<data dir>/credentials/<role>.json``
        (written by ``briefings up`` for the embedded default, owner-only). Credentials set
        explicitly (user/password or a .creds file) always win; without a file, unchanged."""
        if (self.nats_user or self.nats_creds) and self.credentials_role is None:
            return self
        path = credentials_path(self.data_dir, role)
        if not path.is_file():
            return self
        found = json.loads(path.read_text())
        return replace(
            self,
            nats_user=str(found["user"]),
            nats_password=str(found["password"]),
            nats_creds=None,
            credentials_role=role,
        )

    @property
    def signing_key_path(self) -> Path:
        return self.key_file or default_key_file(self.data_dir)

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def database_url_for(self, service: str) -> str:
        """This service's database: the configured URL, else a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / f'{service}.db').resolve()}"
