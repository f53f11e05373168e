"""Read docker-compose.yml the way ``docker compose`` does, for the tests that have no engine.

Covers what our files use: YAML merge keys, ``${VAR}`` / ``${VAR:-default}`` /
``${VAR:?message}`` interpolation from an env file, and the override rules of a second file
(mappings merge key by key, ``command`` and lists of strings are replaced).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
CLUSTER = ROOT / "deploy" / "compose.cluster.yml"
ENV_EXAMPLE = ROOT / ".env.example"
NATS_DIR = ROOT / "deploy" / "nats"
PERMISSIONS = NATS_DIR / "permissions.conf"
APP_SERVICES = ("roster", "events", "awards", "reporting")

_VAR = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


class MissingVariable(KeyError):
    pass


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def variables(node: Any) -> set[str]:
    """Every variable name a compose document interpolates."""
    found: set[str] = set()
    if isinstance(node, str):
        for m in _VAR.finditer(node):
            expr = m.group("braced") or m.group("bare")
            if expr:
                found.add(re.split(r":?[-?+]", expr, maxsplit=1)[0])
    elif isinstance(node, dict):
        for k, v in node.items():
            found |= variables(k) | variables(v)
    elif isinstance(node, list):
        for v in node:
            found |= variables(v)
    return found


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return _VAR.sub(lambda m: _resolve(m, env), node)
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    return node


def _resolve(m: re.Match[str], env: Mapping[str, str]) -> str:
    if m.group(0) == "$$":
        return "$"
    expr = m.group("braced") or m.group("bare") or ""
    parts = re.match(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?$", expr)
    if parts is None:
        raise ValueError(f"bad interpolation ${{{expr}}}")
    name, op, arg = parts["name"], parts["op"], parts["arg"] or ""
    value = env.get(name)
    unset_or_empty = value is None or (op is not None and op.startswith(":") and value == "")
    if op in (":-", "-"):
        return arg if unset_or_empty else str(value)
    if op in (":?", "?"):
        if unset_or_empty:
            raise MissingVariable(f"{name}: {arg}")
        return str(value)
    if op in (":+", "+"):
        return "" if unset_or_empty else arg
    if value is None:
        raise MissingVariable(f"{name} is not set and has no default")
    return value


def merge(base: Any, override: Any, key: str = "") -> Any:
    """Compose's override rules for the keys our files use."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = merge(base[k], v, k) if k in base else v
        return out
    if key in {"ports", "volumes", "expose"} and isinstance(base, list):
        return base + [v for v in override if v not in base]
    return override


def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        env[name.strip()] = value.strip()
    return env


def new_secret() -> str:
    """A password as deploy/README.md says to make one: a letter, then hex. (nats-server
    parses a substituted variable as a value: an all-digit one becomes an integer.)"""
    return "p" + secrets.token_hex(24)


def filled_env() -> dict[str, str]:
    """``.env.example`` with every empty secret filled in, as an operator would."""
    env = read_env_file(ENV_EXAMPLE)
    return {k: (v or new_secret()) for k, v in env.items()}


def project(env: Mapping[str, str], cluster: bool = False) -> dict[str, Any]:
    """The compose project as ``docker compose config`` would print its services."""
    doc = load_yaml(COMPOSE)
    if cluster:
        doc = merge(doc, load_yaml(CLUSTER))
    doc = {k: v for k, v in doc.items() if not k.startswith("x-")}
    return dict(interpolate(doc, env))


# ---------------------------------------------------------------- the NATS configuration


def nats_users(path: Path = PERMISSIONS) -> dict[str, str]:
    """``{user: password variable}`` as the NATS configuration declares them."""
    text = path.read_text()
    users = re.findall(r"^\s*user:\s*(\S+)\s*\n\s*password:\s*\$(\w+)", text, re.MULTILINE)
    return dict(users)


# ------------------------------------------------------------- compose env -> a process env


def local_env(
    service_env: Mapping[str, str], nats_urls: Mapping[str, str], db_host: str, db_prefix: str
) -> dict[str, str]:
    """A service's compose environment pointed at local servers: each ``nats://<host>:4222``
    becomes that compose host's local URL, and the database URL the local PostgreSQL with
    this test's database and role names (``briefings_<service>`` -> ``<prefix>_<service>``)."""
    env = {k: str(v) for k, v in service_env.items()}
    if "BRIEFINGS_NATS_URL" in env:
        urls = []
        for url in env["BRIEFINGS_NATS_URL"].split(","):
            host = urlsplit(url.strip()).hostname or ""
            urls.append(nats_urls[host])
        env["BRIEFINGS_NATS_URL"] = ",".join(urls)
    if "BRIEFINGS_DATABASE_URL" in env:
        parts = urlsplit(env["BRIEFINGS_DATABASE_URL"])
        assert parts.hostname == "postgres", parts
        database = parts.path.lstrip("/")
        assert database.startswith("briefings_"), database
        local_name = db_prefix + database.removeprefix("briefings")
        user = (parts.username or "").replace("briefings", db_prefix, 1)
        netloc = f"{user}:{parts.password}@{db_host}"
        env["BRIEFINGS_DATABASE_URL"] = urlunsplit(
            (parts.scheme, netloc, "/" + local_name, parts.query, "")
        )
    return env
