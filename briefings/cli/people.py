"""``briefings people ...``: who may sign commands (issue #13 finding 5; operators only).

Each person has an ed25519 key in their own key file (owner-only); the registry of public
keys is kept as events on ROSTER (``ev.roster.person.<id>``). Commands sent by ``briefings``
are signed with the key in ``BRIEFINGS_KEY_FILE`` (default ``<data dir>/credentials/person.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from briefings.cli import requests
from briefings.cli.client import (
    ACTOR,
    JSON,
    RequestFailed,
    call,
    console,
    escape,
    fail,
    print_json,
    print_table,
    query,
    send_command,
    settings,
)
from briefings.client import Client_, error_shape, run
from briefings.keys import KeyFile
from contracts.calendar import derived_id
from contracts.roster import PersonRole, RegisterPerson
from contracts.signing import SigningKey
from contracts.subjects import command_subject
from runtime.settings import Settings, default_key_file

app = typer.Typer(
    help="People (clerks, operators, auditors) and their signing keys.", no_args_is_help=True
)


def people_folder(data_dir: Path) -> Path:
    return data_dir / "credentials" / "people"


@app.command("add")
def add(
    name: str = typer.Argument(..., help="the person's name"),
    role: PersonRole = typer.Option(..., "--role", help="clerk, operator or auditor"),
    key_file: Path | None = typer.Option(
        None,
        "--key-file",
        help="their key file: read when it exists, else a new key is written there (0600); "
        "default <data dir>/credentials/people/<person_id>.json",
    ),
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Register a person and their public key (a new key is generated when none is given)."""
    if key_file is not None and key_file.exists():
        try:
            person = KeyFile.read(key_file)
        except (OSError, ValueError, KeyError) as exc:
            fail(error_shape("validation_failed", f"cannot read {key_file}: {exc}"), as_json)
        person = KeyFile(name, role.value, person.key)
    else:
        person = KeyFile(name, role.value, SigningKey.generate())
        key_file = key_file or people_folder(settings().data_dir) / f"{person.person_id}.json"
        person.write(key_file)
    fields = {
        "name": name,
        "role": role.value,
        "public_key": person.public_key,
        # the same key registered again replays the first outcome
        "command_id": derived_id(person.public_key, "register-person"),
        "actor": actor,
    }
    try:
        body = requests.body("roster", "cmd", "register_person", fields)
    except RequestFailed as exc:
        fail(exc.reply, as_json)
    reply = call(command_subject("roster", "register_person"), body, as_json=as_json)
    if as_json:
        print_json({**reply, "person_id": person.person_id, "key_file": str(key_file)})
        return
    console.print(
        f"person {escape(person.person_id)} ({escape(role.value)}) registered; "
        f"their key file: {escape(key_file)}"
    )


@app.command("list")
def list_people(as_json: bool = JSON) -> None:
    """Every registered person, revoked ones included."""
    rows: list[dict[str, Any]] = query("roster", "list_people", {}, as_json)
    if as_json:
        print_json(rows)
        return
    print_table(rows, ["person_id", "name", "role", "revoked", "revoke_reason", "public_key"])


@app.command("revoke")
def revoke(
    person_id: str = typer.Argument(..., help="the person's id (briefings people list)"),
    reason: str = typer.Option("", "--reason"),
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Revoke a person's key for good: it signs nothing any more."""
    send_command(
        "roster",
        "revoke_person",
        {"person_id": person_id, "reason": reason},
        derived_id(person_id, "revoke-person"),
        actor,
        as_json,
    )


FIRST_OPERATOR = "operator"


def ensure_first_operator(s: Settings) -> tuple[str, Path]:
    """``briefings up``'s first start: an operator person whose key file is the default one
    (``<data dir>/credentials/person.json``, 0600), registered while the registry is empty,
    so commands are signed, and enforced, from the start. Later starts register the same key
    again, which replays. Returns the person id and the key file."""
    path = default_key_file(s.data_dir)
    if not path.exists():
        KeyFile(FIRST_OPERATOR, PersonRole.OPERATOR.value, SigningKey.generate()).write(path)
    person = KeyFile.read(path)
    command = RegisterPerson(
        command_id=derived_id(person.public_key, "register-person"),
        actor="briefings up",
        name=person.name,
        role=PersonRole(person.role),
        public_key=person.public_key,
    )
    body = command.model_dump_json(exclude_none=True).encode()

    async def go() -> None:
        # signed by the key it registers: accepted unsigned-style on an empty registry, and
        # as the operator's own once they exist
        async with Client_(s.as_role("operator").with_(key_file=path)) as client:
            await client.request_retrying(command_subject("roster", "register_person"), body)

    run(go)
    return person.person_id, path
