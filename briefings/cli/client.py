"""The CLI's side of talking to the services: shared options, one ``call`` and
``send_command`` for every command group, and how replies and errors are printed."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.table import Table

from briefings.cli import requests
from briefings.client import Client_, RequestFailed, as_error, new_command_id, run, settings
from briefings.terminal import console, err_console, escape, json_text, plain
from contracts.subjects import command_subject, query_subject

__all__ = [
    "Client_",
    "RequestFailed",
    "console",
    "err_console",
    "escape",
    "new_command_id",
    "plain",
    "run",
    "settings",
]


JSON = typer.Option(False, "--json", help="machine-readable output")
COMMAND_ID = typer.Option(
    None, "--command-id", help="idempotency key (a repeat returns the first outcome)"
)
ACTOR = typer.Option(
    "cli",
    "--actor",
    help="who is issuing the command; recorded only while no person is registered (after "
    "that the actor is the person whose key signs the command: BRIEFINGS_KEY_FILE)",
)


def json_requested() -> bool:
    """Whether the running command was asked for JSON (``--json`` or ``--format json``): then
    stdout carries JSON only, its error too."""
    # Typer runs on its own copy of click: its context stack, not click's.
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    if ctx is None:
        return False
    params = ctx.params
    return bool(params.get("as_json")) or str(params.get("fmt", "")).lower() == "json"


def call(
    subject: str,
    payload: dict[str, Any],
    timeout: float | None = None,
    as_json: bool | None = None,
) -> dict[str, Any]:
    """One request from a CLI command; a refusal prints the structured error (as JSON with
    ``--json``) and exits 1."""

    async def go() -> dict[str, Any]:
        async with Client_() as client:
            return await client.request(subject, payload, timeout)

    try:
        return run(go)
    except RequestFailed as exc:
        fail(exc.reply, as_json)


def send_command(
    context: str,
    name: str,
    payload: dict[str, Any],
    command_id: str | None,
    actor: str,
    as_json: bool,
    keep_none: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Send ``cmd.<context>.<name>`` with a command id (generated if not given) and print
    the reply. The body is the command's contract model: ``None`` fields are left out
    unless named in ``keep_none``; a body the contract refuses is refused before sending."""
    fields = {**payload, "command_id": command_id or new_command_id(), "actor": actor}
    try:
        body = requests.body(context, "cmd", name, fields, keep_none)
    except RequestFailed as exc:
        fail(exc.reply, as_json)
    reply = call(command_subject(context, name), body, as_json=as_json)
    print_accepted(reply, as_json)
    return reply


def query(
    context: str,
    name: str,
    fields: dict[str, Any],
    as_json: bool | None = None,
    timeout: float | None = None,
) -> Any:
    """A query's data (every page of a list query), its body the query's contract model;
    a refusal prints the structured error and exits 1."""

    async def go() -> Any:
        body = requests.body(context, "qry", name, fields)
        async with Client_() as client:
            if requests.paged(context, name):
                return await requests.all_pages(client, context, name, body)
            return (await client.request(query_subject(context, name), body, timeout))["data"]

    try:
        return run(go)
    except RequestFailed as exc:
        fail(exc.reply, as_json)


def fail(reply: dict[str, Any], as_json: bool | None = None) -> NoReturn:
    """Print a failure in the one error shape (``ok`` false, ``code``, ``message``, ``rule``,
    ``details``, ``context``) and exit 1: as JSON on stdout with ``--json``, else readable on
    stderr with every value from data printed literally."""
    error = as_error(reply)
    if as_json is None:
        as_json = json_requested()
    if as_json:
        print_json(error)
    else:
        err_console.print(f"[bold red]{escape(error['code'])}[/]: {escape(error['message'])}")
        if error["rule"]:
            err_console.print(f"  rule: {escape(error['rule'])}")
        for detail in error["details"]:
            if isinstance(detail, dict):
                where = detail.get("field") or "(body)"
                err_console.print(f"  - {escape(where)}: {escape(detail.get('message'))}")
            else:
                err_console.print(f"  - {escape(detail)}")
        for key, value in error["context"].items():
            err_console.print(f"  {escape(key)}: {escape(value)}")
    raise typer.Exit(1)


def print_json(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write(json_text(text) + "\n")


def print_table(rows: list[dict[str, Any]], columns: list[str], title: str | None = None) -> None:
    table = Table(title=None if title is None else escape(title))
    for column in columns:
        table.add_column(plain(column))
    for row in rows:
        # Cells are data: never markup, controls made visible.
        table.add_row(*(plain(row.get(c)) for c in columns))
    console.print(table)


def print_accepted(reply: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(reply)
        return
    note = " (repeat: first outcome)" if reply.get("replayed") else ""
    if reply.get("unchanged"):
        note = f" (unchanged: {reply.get('message') or 'nothing to change'})"
    console.print(
        f"{escape(reply['aggregate_type'])} {escape(reply['aggregate_id'])} "
        f"v{escape(reply['version'])}{escape(note)}"
    )
