"""``briefings roster ...``: the roster's commands and queries."""

from __future__ import annotations

from datetime import date
from typing import Any

import typer

from contracts.roster import Role, UnitKind
from contracts.subjects import command_subject, query_subject
from briefings.cli.client import call, new_command_id, print_accepted, print_json, print_table

app = typer.Typer(help="Organisational units and members (reporters, propagandists).",
                  no_args_is_help=True)

JSON = typer.Option(False, "--json", help="machine-readable output")
COMMAND_ID = typer.Option(None, "--command-id", help="idempotency key (a repeat returns the first outcome)")
ACTOR = typer.Option("cli", "--actor", help="who is issuing the command")


def _send(name: str, payload: dict[str, Any], command_id: str | None, actor: str, as_json: bool) -> None:
    body = {k: v for k, v in payload.items() if v is not None}
    body["command_id"] = command_id or new_command_id()
    body["actor"] = actor
    print_accepted(call(command_subject("roster", name), body), as_json)


@app.command("register-unit")
def register_unit(
    name: str = typer.Argument(..., help="unit name"),
    kind: UnitKind = typer.Option(UnitKind.PARTY_CELL, help="city, party_cell or party_organisation"),
    unit_id: str | None = typer.Option(None, help="id to use (default: derived)"),
    parent_id: str | None = typer.Option(None),
    external_code: str | None = typer.Option(None),
    effective_on: str | None = typer.Option(None, help="YYYY-MM-DD"),
    command_id: str | None = COMMAND_ID, actor: str = ACTOR, as_json: bool = JSON,
) -> None:
    """Register an organisational unit."""
    _send("register_unit", {"name": name, "kind": kind.value, "unit_id": unit_id,
                            "parent_id": parent_id, "external_code": external_code,
                            "effective_on": effective_on}, command_id, actor, as_json)


@app.command()
def enroll(
    full_name: str = typer.Argument(..., help="member's full name"),
    unit_id: str = typer.Option(..., "--unit", help="unit id"),
    role: Role = typer.Option(Role.PROPAGANDIST, help="reporter or propagandist"),
    member_id: str | None = typer.Option(None),
    external_code: str | None = typer.Option(None),
    contact: str | None = typer.Option(None),
    core: bool = typer.Option(False, "--core", help="flag as a core communicator"),
    effective_on: str | None = typer.Option(None, help="YYYY-MM-DD"),
    command_id: str | None = COMMAND_ID, actor: str = ACTOR, as_json: bool = JSON,
) -> None:
    """Enroll a member in a unit."""
    _send("enroll_member", {"full_name": full_name, "unit_id": unit_id, "role": role.value,
                            "member_id": member_id, "external_code": external_code,
                            "contact": contact, "core": core, "effective_on": effective_on},
          command_id, actor, as_json)


@app.command()
def members(unit_id: str | None = typer.Option(None, "--unit"),
            include_retired: bool = typer.Option(False, "--include-retired"),
            as_json: bool = JSON) -> None:
    """List members (of one unit)."""
    reply = call(query_subject("roster", "list_members"),
                 {"unit_id": unit_id, "include_retired": include_retired})
    if as_json:
        print_json(reply["data"])
    else:
        print_table(reply["data"], ["member_id", "full_name", "role", "unit_id", "core", "retired_on"])


@app.command()
def units(include_dissolved: bool = typer.Option(False, "--include-dissolved"),
          as_json: bool = JSON) -> None:
    """List units."""
    reply = call(query_subject("roster", "list_units"), {"include_dissolved": include_dissolved})
    if as_json:
        print_json(reply["data"])
    else:
        print_table(reply["data"], ["unit_id", "name", "kind", "dissolved_on"])


def _today() -> date:
    return date.today()
