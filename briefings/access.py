"""Who may do what on NATS: every role's permissions, derived from what it must do, deny by
default. One source for the deployment (``deploy/nats/permissions.conf``, generated:
``python -m briefings.access``) and the embedded default (``briefings up`` writes the same
lists with generated passwords into its data folder).

What the lists keep (docs/audit.md, "Roles", names the test proving each line):

- Only ``bootstrap`` may create or update a stream (limits, discard policy, subjects, subject
  transforms, sources, mirrors) or restore one; nobody may delete or purge a stream or delete a
  message.
- NATS permissions match whole subject tokens, so "consumers whose name starts with X" cannot
  be granted: a role that may create consumers by any name may update (hijack) anyone's.
  Therefore no role may use the legacy unnamed ``$JS.API.CONSUMER.CREATE.<stream>`` (its body
  may name any consumer); the command services and the auditors read by direct get and hold
  no consumer rights at all; reporting and the subscriber template create, read, ack and
  delete only durables listed here by exact name.
- A service publishes only its own context's events and its own dead letters.
- Operator-only requests (``cmd.reporting.rebuild``, ``cmd.*.dlq_retry``) are not the clerks'.
- A consumer's deliver subject cannot be restricted by permissions: the services ignore a
  request that JetStream delivered (reply ``$JS.…``, a status header, no reply subject),
  see runtime/service.py.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from contracts.subjects import CONTEXTS, DLQ_STREAM, ISSUED_REPORTS_STREAM, SERVICES, stream_name
from runtime.settings import credentials_path
from services.reporting.adapters.consumer import durable_name

KV_BUCKET = "roster_external_codes"
KV_STREAM = f"KV_{KV_BUCKET}"
EVENT_STREAMS = tuple(stream_name(c) for c in CONTEXTS)
DLQ = DLQ_STREAM.name
ISSUED = ISSUED_REPORTS_STREAM.name  # reporting's issued reports (ev.reporting.>)
SUBSCRIBER_PREFIX = "subscriber"

# Never, for anyone (bootstrap included): history is kept.
NEVER = (
    "$JS.API.STREAM.DELETE.>",
    "$JS.API.STREAM.PURGE.>",
    "$JS.API.STREAM.MSG.DELETE.>",
    "$JS.API.ACCOUNT.PURGE.>",
    "$JS.API.SERVER.>",
)
# Never for anyone but bootstrap: stream configuration, and consumers by a name in the body.
NOT_EVERYDAY = (
    "$JS.API.STREAM.CREATE.>",
    "$JS.API.STREAM.UPDATE.>",
    "$JS.API.STREAM.RESTORE.>",
    "$JS.API.CONSUMER.CREATE.*",
)


PEOPLE_COMMANDS = ("cmd.roster.register_person", "cmd.roster.revoke_person")
"""Operators' only: who may sign commands (the services check the signer's role too)."""


@dataclass(frozen=True)
class Role:
    name: str
    doc: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...] = ("_INBOX.>",)
    deny: tuple[str, ...] = NEVER + NOT_EVERYDAY
    responds: bool = False
    consumers: tuple[tuple[str, str], ...] = field(default=())
    """``(stream, name)`` of the durables this role owns (create, read, ack, delete)."""


def _consumer_rights(stream: str, name: str) -> tuple[str, ...]:
    return (
        f"$JS.API.CONSUMER.CREATE.{stream}.{name}",
        f"$JS.API.CONSUMER.CREATE.{stream}.{name}.>",
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{name}",
        f"$JS.API.CONSUMER.INFO.{stream}.{name}",
        f"$JS.API.CONSUMER.DELETE.{stream}.{name}",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}",
        f"$JS.ACK.{stream}.{name}.>",
        f"$JS.FC.{stream}.>",
    )


def _reads(*streams: str) -> tuple[str, ...]:
    """Stream info and direct get (by sequence, batch, or last by subject)."""
    out: list[str] = []
    for s in streams:
        out += [f"$JS.API.STREAM.INFO.{s}", f"$JS.API.DIRECT.GET.{s}", f"$JS.API.DIRECT.GET.{s}.>"]
    return tuple(out)


def _service(context: str, follows: tuple[str, ...], extra: tuple[str, ...] = ()) -> Role:
    others = tuple(s for s in EVENT_STREAMS if s not in follows)
    return Role(
        name=context,
        doc=f"the {context} service: its own events and dead letters; reads {', '.join(follows)}",
        publish=(
            f"ev.{context}.>",
            f"dlq.{context}.>",
            # the container's health check asks the service with the service's credentials
            f"health.{context}",
            *_reads(*follows),
            *(f"$JS.API.STREAM.INFO.{s}" for s in (*others, DLQ)),
            *extra,
        ),
        subscribe=(
            f"cmd.{context}.>",
            f"qry.{context}.>",
            f"health.{context}",
            "_INBOX.>",
            # wake-ups of its own stream's reader (runtime/streamreader.py). Not of other
            # contexts' streams: allow_responses would let it answer their PubAcks.
            f"ev.{context}.>",
        ),
        responds=True,
    )


def _reporting() -> Role:
    durables = tuple((s, durable_name(g, s)) for s in EVENT_STREAMS for g in (0, 1))
    rights: list[str] = []
    for stream, name in durables:
        rights += _consumer_rights(stream, name)
    return Role(
        name="reporting",
        doc="reporting: reads every event stream through its six durables; writes dead letters",
        publish=(
            # issued reports, appended to its own stream REPORTING
            "ev.reporting.>",
            "dlq.reporting.>",
            "health.reporting",
            *_reads(*EVENT_STREAMS, ISSUED, DLQ),
            f"$JS.API.STREAM.MSG.GET.{DLQ}",
            *rights,
        ),
        # ev.reporting.>: wake-ups of its issued-reports reader (only reporting writes there)
        subscribe=(
            "qry.reporting.>",
            "cmd.reporting.>",
            "health.reporting",
            "_INBOX.>",
            "ev.reporting.>",
        ),
        responds=True,
        consumers=durables,
    )


def subscriber(prefix: str = SUBSCRIBER_PREFIX) -> Role:
    """The template of an outside service following the events: one durable per event stream
    (the three contexts' and reporting's issued reports, every ``ev.`` channel of the AsyncAPI
    documents), named ``<prefix>_<STREAM>``; copy it with another prefix and user per outside
    service."""
    durables = tuple((s, f"{prefix}_{s}") for s in (*EVENT_STREAMS, ISSUED))
    rights: list[str] = []
    for stream, name in durables:
        rights += [f"$JS.API.STREAM.INFO.{stream}", *_consumer_rights(stream, name)]
    return Role(
        name=prefix,
        doc="an outside service: its own durables on the event streams, nothing else",
        publish=tuple(rights),
        # its own inbox prefix: it cannot read other clients' replies
        subscribe=(f"_INBOX_{prefix}.>",),
        consumers=durables,
    )


ROLES: dict[str, Role] = {
    "bootstrap": Role(
        name="bootstrap",
        doc="stream setup only (briefings ops init-streams, restores): creates, updates, scales",
        publish=(
            "$JS.API.INFO",
            *(
                f"$JS.API.STREAM.{op}.{s}"
                for op in ("CREATE", "UPDATE", "INFO", "RESTORE")
                for s in (*EVENT_STREAMS, ISSUED, DLQ, KV_STREAM)
            ),
        ),
        deny=NEVER,
    ),
    "roster": _service(
        "roster",
        ("ROSTER",),
        (
            # external-code reservations (KV bucket roster_external_codes)
            f"$KV.{KV_BUCKET}.>",
            *_reads(KV_STREAM),
            f"$JS.API.STREAM.MSG.GET.{KV_STREAM}",
        ),
    ),
    "events": _service("events", ("EVENTS", "ROSTER")),
    # candidates and attendance come from reporting's read models
    "awards": _service("awards", ("AWARDS", "ROSTER", "EVENTS"), ("qry.reporting.>",)),
    "reporting": _reporting(),
    "auditor": Role(
        name="auditor",
        doc="auditors: read every stream by direct get, ask queries and health; write nothing",
        publish=(
            "qry.>",
            "health.>",
            "$JS.API.INFO",
            "$JS.API.STREAM.NAMES",
            "$JS.API.STREAM.LIST",
            *_reads(*EVENT_STREAMS, ISSUED, DLQ),
            *(f"$JS.API.STREAM.MSG.GET.{s}" for s in (*EVENT_STREAMS, ISSUED, DLQ)),
        ),
    ),
    "clerk": Role(
        name="clerk",
        doc="the Center's clerks (CLI): the three contexts' commands, every query and health",
        publish=(
            # stream info: the demo and status read how far the streams are
            *(f"$JS.API.STREAM.INFO.{s}" for s in (*EVENT_STREAMS, ISSUED)),
            *(f"cmd.{c}.>" for c in CONTEXTS),
            "cmd.reporting.issue_report",
            "qry.>",
            "health.>",
        ),
        # registering and revoking people is the operator's (issue #13 finding 5)
        deny=(*NEVER, *NOT_EVERYDAY, "cmd.*.dlq_retry", *PEOPLE_COMMANDS),
    ),
    "operator": Role(
        name="operator",
        doc="day-to-day operations: health, status, dead letters, rebuild, backups",
        publish=(
            "health.>",
            "qry.>",
            "cmd.reporting.rebuild",
            *(f"cmd.{s}.dlq_retry" for s in SERVICES),
            *PEOPLE_COMMANDS,
            # briefings dlq discard records a resolution; letters are written by services
            "dlq.*.*.resolution",
            "$JS.API.INFO",
            "$JS.API.STREAM.NAMES",
            "$JS.API.STREAM.LIST",
            *_reads(*EVENT_STREAMS, ISSUED, DLQ, KV_STREAM),
            "$JS.API.CONSUMER.NAMES.*",
            "$JS.API.CONSUMER.LIST.*",
            "$JS.API.CONSUMER.INFO.*.*",
            # backups (nats stream backup): a snapshot and its chunk acknowledgements
            "$JS.API.STREAM.SNAPSHOT.*",
            "$JS.SNAPSHOT.ACK.>",
        ),
        subscribe=("_INBOX.>", "$JS.SNAPSHOT.>"),
    ),
    "subscriber": subscriber(),
}

SERVICE_ROLES = SERVICES


def _quote(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{s}"' for s in items) + "]"


def render_user(role: Role, password: str) -> str:
    lines = [
        "    {",
        f"      # {role.doc}",
        f"      user: {role.name}",
        f"      password: {password}",
        "      permissions: {",
        "        publish: {",
        "          allow: [",
        *(f'            "{s}"' for s in role.publish),
        "          ]",
        "          deny: [",
        *(f'            "{s}"' for s in role.deny),
        "          ]",
        "        }",
        "        subscribe: {",
        f"          allow: {_quote(role.subscribe)}",
        "        }",
    ]
    if role.responds:
        lines.append("        allow_responses: true")
    lines += ["      }", "    }"]
    return "\n".join(lines)


def render_authorization(passwords: dict[str, str]) -> str:
    """``authorization { users: [...] }`` for the roles in ``passwords`` (role -> password
    text as it goes into the file: ``$NATS_X_PASSWORD`` or a quoted literal)."""
    users = "\n".join(render_user(ROLES[name], pw) for name, pw in passwords.items())
    return (
        "authorization {\n"
        "  # With users listed, a connection without credentials is refused.\n"
        "  users: [\n"
        f"{users}\n"
        "  ]\n"
        "}\n"
    )


DEPLOY_HEADER = """\
# Who may do what on the NATS server. Included by nats.conf (one node) and cluster.conf.
# GENERATED from briefings/access.py by `python -m briefings.access`: edit that file.
# tests/security/ checks this file matches it and attacks it as every user.
#
# One user per service, one for auditors, one for clerks (the CLI), one for the day-to-day
# operator, one bootstrap credential used only by stream setup, and the template of an
# outside subscriber. Passwords come from the environment ($NATS_*_PASSWORD): the server
# refuses to start when one is missing. Everything not allowed here is refused.
# What each role can and cannot do, with the test proving it: docs/audit.md, "Roles".

"""

DEPLOY_ROLES = (
    "bootstrap",
    "roster",
    "events",
    "awards",
    "reporting",
    "auditor",
    "clerk",
    "operator",
    "subscriber",
)


def password_variable(role: str) -> str:
    return f"NATS_{role.upper()}_PASSWORD"


def deploy_permissions() -> str:
    return DEPLOY_HEADER + render_authorization(
        {r: f"${password_variable(r)}" for r in DEPLOY_ROLES}
    )


# ------------------------------------------------------------------ embedded default

EMBEDDED_ROLES = DEPLOY_ROLES
EMBEDDED_CONFIG = "nats-server.conf"


def _private_write(path: Path, text: str) -> None:
    """Write a file only its owner can read (created 0600, never readable in between)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def ensure_embedded_access(data_dir: Path) -> Path:
    """The embedded default's users, as ``briefings up`` runs it: on first start a random
    password per role in ``<data>/credentials/<role>.json`` (owner-only files in an
    owner-only folder), where the services and the CLI find them (runtime/settings.py,
    ``Settings.as_role``); on every start the server configuration written again from them
    with the roles' current permissions. Returns the configuration's path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    folder = credentials_path(data_dir, "x").parent
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    passwords: dict[str, str] = {}
    for role in EMBEDDED_ROLES:
        path = credentials_path(data_dir, role)
        if path.is_file():
            passwords[role] = str(json.loads(path.read_text())["password"])
            os.chmod(path, 0o600)
            continue
        passwords[role] = "p" + secrets.token_hex(24)
        _private_write(path, json.dumps({"user": role, "password": passwords[role]}) + "\n")
    config = data_dir / EMBEDDED_CONFIG
    _private_write(
        config,
        "# The embedded default (briefings up): written at every start from briefings/access.py\n"
        "# and the passwords in credentials/ (generated on first start). Edit neither.\n"
        "max_payload: 1MB\n"
        + render_authorization({r: json.dumps(pw) for r, pw in passwords.items()}),
    )
    return config


CLI_ROLES = {"audit": "auditor", "dlq": "operator", "up": "operator", "people": "operator"}


def cli_role(argv: list[str]) -> str:
    """Whose credentials a ``briefings`` command uses when none are set: clerks by default;
    auditors for ``audit``; the operator for ``dlq``, ``reporting rebuild`` and ``up``;
    bootstrap for ``ops init-streams``; a service for ``serve <service>``."""
    words = [a for a in argv if not a.startswith("-")]
    if not words:
        return "clerk"
    group = words[0]
    rest = words[1] if len(words) > 1 else ""
    if group == "serve" and rest in SERVICES:
        return rest
    if group == "ops" and rest == "init-streams":
        return "bootstrap"
    if group == "reporting" and rest == "rebuild":
        return "operator"
    return CLI_ROLES.get(group, "clerk")


PERMISSIONS_FILE = Path(__file__).resolve().parents[1] / "deploy" / "nats" / "permissions.conf"


def main(argv: list[str]) -> int:
    text = deploy_permissions()
    if "--check" in argv:
        return 0 if PERMISSIONS_FILE.read_text() == text else 1
    PERMISSIONS_FILE.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
