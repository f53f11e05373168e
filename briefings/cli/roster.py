"""``briefings roster ...``: the roster's commands and queries (``--json`` for scripts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from briefings.cli.client import (
    ACTOR,
    COMMAND_ID,
    JSON,
    console,
    plain,
    print_json,
    print_table,
    query,
    send_command,
)
from contracts.roster import Role, UnitKind

app = typer.Typer(
    help="Organisational units and members (reporters, propagandists).", no_args_is_help=True
)

EFFECTIVE_ON = typer.Option(
    None, "--effective-on", help="YYYY-MM-DD the change took effect (default today)"
)

MEMBER_COLUMNS = [
    "member_id",
    "full_name",
    "role",
    "unit_id",
    "external_code",
    "core",
    "enrolled_on",
    "retired_on",
]
UNIT_COLUMNS = [
    "unit_id",
    "name",
    "kind",
    "parent_id",
    "external_code",
    "registered_on",
    "dissolved_on",
]


def _send(
    name: str,
    payload: dict[str, Any],
    command_id: str | None,
    actor: str,
    as_json: bool,
    keep_none: tuple[str, ...] = (),
) -> None:
    reply = send_command("roster", name, payload, command_id, actor, as_json, keep_none)
    if not as_json and reply.get("message") and not reply.get("unchanged"):
        console.print(plain(reply["message"]))


def _query(name: str, payload: dict[str, Any], as_json: bool | None = None) -> Any:
    return query("roster", name, payload, as_json)


def _show_one(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(row)
        return
    print_table([{"field": k, "value": v} for k, v in row.items()], ["field", "value"])


# ---------------------------------------------------------------------- units


@app.command("register-unit")
def register_unit(
    name: str = typer.Argument(..., help="unit name"),
    kind: UnitKind = typer.Option(
        UnitKind.PARTY_CELL, help="city, party_cell or party_organisation"
    ),
    unit_id: str | None = typer.Option(None, help="id to use (default: derived from the command)"),
    parent_id: str | None = typer.Option(None, "--parent-id", "--parent"),
    external_code: str | None = typer.Option(None, "--external-code", "--code"),
    effective_on: str | None = EFFECTIVE_ON,
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Register an organisational unit."""
    _send(
        "register_unit",
        {
            "name": name,
            "kind": kind.value,
            "unit_id": unit_id,
            "parent_id": parent_id,
            "external_code": external_code,
            "effective_on": effective_on,
        },
        command_id,
        actor,
        as_json,
    )


@app.command("rename-unit")
def rename_unit(
    unit_id: str = typer.Argument(...),
    name: str = typer.Argument(..., help="new name"),
    effective_on: str | None = EFFECTIVE_ON,
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Rename a unit."""
    _send(
        "rename_unit",
        {"unit_id": unit_id, "name": name, "effective_on": effective_on},
        command_id,
        actor,
        as_json,
    )


@app.command("dissolve-unit")
def dissolve_unit(
    unit_id: str = typer.Argument(...),
    reason: str = typer.Option("", "--reason"),
    transfer_to: str | None = typer.Option(
        None, "--transfer-to", help="move the unit's active members to this unit first"
    ),
    effective_on: str | None = EFFECTIVE_ON,
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Dissolve a unit (refused while it has active members, unless --transfer-to)."""
    _send(
        "dissolve_unit",
        {
            "unit_id": unit_id,
            "reason": reason,
            "transfer_to_unit_id": transfer_to,
            "effective_on": effective_on,
        },
        command_id,
        actor,
        as_json,
    )


@app.command()
def unit(unit_id: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """Show one unit."""
    _show_one(_query("get_unit", {"unit_id": unit_id}), as_json)


@app.command()
def units(
    include_dissolved: bool = typer.Option(False, "--include-dissolved"), as_json: bool = JSON
) -> None:
    """List units."""
    rows = _query("list_units", {"include_dissolved": include_dissolved})
    if as_json:
        print_json(rows)
    else:
        print_table(rows, UNIT_COLUMNS, title=f"{len(rows)} unit(s)")


# -------------------------------------------------------------------- members


@app.command()
def enroll(
    full_name: str = typer.Argument(..., help="member's full name"),
    unit_id: str = typer.Option(..., "--unit", help="unit id"),
    role: Role = typer.Option(Role.PROPAGANDIST, help="reporter or propagandist"),
    member_id: str | None = typer.Option(None),
    external_code: str | None = typer.Option(
        None, "--external-code", "--code", help="e.g. a staff number; unique on the roster"
    ),
    contact: str | None = typer.Option(None),
    core: bool = typer.Option(False, "--core", help="flag as a core communicator"),
    effective_on: str | None = EFFECTIVE_ON,
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Enroll a member in a unit."""
    _send(
        "enroll_member",
        {
            "full_name": full_name,
            "unit_id": unit_id,
            "role": role.value,
            "member_id": member_id,
            "external_code": external_code,
            "contact": contact,
            "core": core,
            "effective_on": effective_on,
        },
        command_id,
        actor,
        as_json,
    )


@app.command()
def reenroll(
    member_id: str = typer.Argument(...),
    unit_id: str = typer.Option(..., "--unit", help="unit id"),
    role: Role = typer.Option(Role.PROPAGANDIST, help="reporter or propagandist"),
    effective_on: str | None = EFFECTIVE_ON,
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Take a retired member back onto the roster."""
    _send(
        "reenroll_member",
        {
            "member_id": member_id,
            "unit_id": unit_id,
            "role": role.value,
            "effective_on": effective_on,
        },
        command_id,
        actor,
        as_json,
    )


@app.command()
def correct(
    member_id: str = typer.Argument(...),
    full_name: str | None = typer.Option(None, "--name", help="corrected full name"),
    contact: str | None = typer.Option(None, "--contact", help="new contact ('' clears it)"),
    effective_on: str | None = EFFECTIVE_ON,
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Correct a member's name and/or contact (what is not given stays as it is)."""
    current = _query("get_member", {"member_id": member_id})
    new_contact = current.get("contact") if contact is None else (contact or None)
    _send(
        "correct_member_details",
        {
            "member_id": member_id,
            "full_name": full_name or current["full_name"],
            "contact": new_contact,
            "effective_on": effective_on,
        },
        command_id,
        actor,
        as_json,
        keep_none=("contact",),
    )


@app.command("change-code")
def change_code(
    member_id: str = typer.Argument(...),
    external_code: str | None = typer.Argument(None, help="the new code; omit to clear it"),
    effective_on: str | None = EFFECTIVE_ON,
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Set, replace or clear a member's external code."""
    _send(
        "change_member_code",
        {"member_id": member_id, "external_code": external_code, "effective_on": effective_on},
        command_id,
        actor,
        as_json,
    )


@app.command("change-role")
def change_role(
    member_id: str = typer.Argument(...),
    role: Role = typer.Argument(...),
    effective_on: str | None = EFFECTIVE_ON,
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Change a member's role (reporter or propagandist)."""
    _send(
        "change_member_role",
        {"member_id": member_id, "role": role.value, "effective_on": effective_on},
        command_id,
        actor,
        as_json,
    )


@app.command()
def transfer(
    member_id: str = typer.Argument(...),
    to_unit_id: str = typer.Argument(..., help="unit id"),
    effective_on: str | None = EFFECTIVE_ON,
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Transfer a member to another unit."""
    _send(
        "transfer_member",
        {"member_id": member_id, "to_unit_id": to_unit_id, "effective_on": effective_on},
        command_id,
        actor,
        as_json,
    )


@app.command("set-core")
def set_core(
    member_id: str = typer.Argument(...),
    core: bool = typer.Option(True, "--core/--not-core", help="set or clear the core flag"),
    effective_on: str | None = EFFECTIVE_ON,
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Set (or with --not-core clear) a member's core flag."""
    _send(
        "set_member_core",
        {"member_id": member_id, "core": core, "effective_on": effective_on},
        command_id,
        actor,
        as_json,
    )


@app.command()
def retire(
    member_id: str = typer.Argument(...),
    reason: str = typer.Option("", "--reason"),
    effective_on: str | None = typer.Option(
        None, "--effective-on", "--on", help="YYYY-MM-DD of retirement (default today)"
    ),
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Retire a member (with date and reason)."""
    _send(
        "retire_member",
        {"member_id": member_id, "reason": reason, "effective_on": effective_on},
        command_id,
        actor,
        as_json,
    )


@app.command()
def member(member_id: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """Show one member."""
    _show_one(_query("get_member", {"member_id": member_id}), as_json)


@app.command()
def members(
    unit_id: str | None = typer.Option(None, "--unit"),
    include_retired: bool = typer.Option(False, "--include-retired"),
    as_json: bool = JSON,
) -> None:
    """List members (of one unit)."""
    rows = _query("list_members", {"unit_id": unit_id, "include_retired": include_retired})
    if as_json:
        print_json(rows)
    else:
        print_table(rows, MEMBER_COLUMNS, title=f"{len(rows)} member(s)")


@app.command()
def find(
    external_code: str | None = typer.Option(None, "--external-code", "--code"),
    full_name: str | None = typer.Option(None, "--name"),
    as_json: bool = JSON,
) -> None:
    """Find members by exact external code or by name (ignoring case)."""
    rows = _query("find_members", {"external_code": external_code, "full_name": full_name})
    if as_json:
        print_json(rows)
    else:
        print_table(rows, MEMBER_COLUMNS, title=f"{len(rows)} member(s)")


# --------------------------------------------------------------------- import


@app.command("import")
def import_file(
    path: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        help="CSV file (UTF-8, comma or semicolon separated)",
    ),
    kind: str = typer.Option("auto", "--kind", help="members, units, or auto (from the header)"),
    concurrency: int = typer.Option(8, "--concurrency", min=1, max=64),
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Import members or units from a spreadsheet export; safe to run again.

    Exit code 0 when every row went in (or was already there), 2 when rows were rejected.
    """
    from briefings.cli import roster_import

    raise typer.Exit(roster_import.main(path, kind, actor, as_json, concurrency))
