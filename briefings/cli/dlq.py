"""``briefings dlq``: what the consumers set aside, and what the operator does about it.

A letter stays in the DLQ stream for good; ``retry`` and ``discard`` add a resolution that
names it, so ``list --all`` shows the whole history with its outcomes.
"""

from __future__ import annotations

import getpass
from typing import Any

import typer

from briefings.cli.client import (
    Client_,
    RequestFailed,
    console,
    escape,
    fail,
    plain,
    print_json,
    print_table,
    run,
)
from contracts.reporting import RetryDeadLetter
from runtime.deadletter import (
    LetterAlreadyResolved,
    LetterEntry,
    LetterNotFound,
    counts,
    discard,
    find_letter,
    read_letters,
    retry_subject,
)
from runtime.eventstore import EventStore

app = typer.Typer(
    help="Dead letters: list, show, retry or discard what consumers set aside.",
    no_args_is_help=True,
)

LIST_COLUMNS = [
    "dead_letter_id",
    "consumer",
    "reason",
    "status",
    "deliveries",
    "stream",
    "sequence",
    "set_aside_at",
    "error",
]


def _operator() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "operator"


async def _entries(client: Client_, consumer: str | None = None) -> list[LetterEntry]:
    assert client.nc is not None
    return await read_letters(EventStore(client.nc), consumer)


def _load(consumer: str | None = None) -> list[LetterEntry]:
    async def go() -> list[LetterEntry]:
        async with Client_() as client:
            return await _entries(client, consumer)

    try:
        return run(go)
    except RequestFailed as exc:
        fail(exc.reply)


def _find(entries: list[LetterEntry], dead_letter_id: str, as_json: bool) -> LetterEntry:
    try:
        return find_letter(entries, dead_letter_id)
    except LetterNotFound as exc:
        fail({"ok": False, "code": "not_found", "message": str(exc)}, as_json)


@app.command("list")
def list_(
    consumer: str | None = typer.Option(None, help="one consumer (reporting.ROSTER) or service"),
    all_: bool = typer.Option(False, "--all", help="resolved letters too, not only open ones"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Open dead letters (``--all``: every letter with its status) and counts per consumer."""
    entries = _load(consumer)
    shown = entries if all_ else [e for e in entries if e.is_open]
    totals = counts(entries)
    if as_json:
        print_json({"letters": [e.summary() for e in shown], "counts": totals})
        return
    rows = []
    for entry in shown:
        row = entry.summary()
        row["error"] = str(row["error"])[:60]
        rows.append(row)
    title = f"dead letters ({'all' if all_ else 'open'}): {len(shown)}"
    print_table(rows, LIST_COLUMNS, title=title)
    count_rows = [
        {
            **row,
            "open_by_reason": ", ".join(
                f"{k}={v}" for k, v in sorted(row["open_by_reason"].items())
            ),
        }
        for row in totals
    ]
    print_table(
        count_rows,
        ["consumer", "total", "open", "retried", "discarded", "open_by_reason"],
        title="per consumer",
    )


@app.command()
def show(
    dead_letter_id: str = typer.Argument(..., help="the letter's id (or a unique prefix)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """One letter: where it came from, the error, the original message, its resolutions."""
    entry = _find(_load(), dead_letter_id, as_json)
    detail = entry.detail()
    if as_json:
        print_json(detail)
        return
    for key in (
        "dead_letter_id",
        "consumer",
        "reason",
        "status",
        "deliveries",
        "stream",
        "sequence",
        "subject",
        "set_aside_at",
        "dlq_sequence",
        "error",
        "headers",
        "data_bytes",
    ):
        console.print(f"[bold]{key}[/]: {escape(detail[key])}", highlight=False, markup=True)
    for res in detail["resolutions"]:
        console.print(
            f"[bold]resolution[/]: {escape(res['outcome'])} at {escape(res['at'])} by "
            f"{escape(res['actor'])} {escape(res['reason'])}",
            highlight=False,
        )
    console.print("[bold]original message[/]:")
    if detail["data_text"] is not None:
        console.print(plain(detail["data_text"]), highlight=False)
    else:
        console.print(f"(not UTF-8; base64) {detail['data_b64']}", markup=False, highlight=False)


@app.command()
def retry(
    dead_letter_id: str = typer.Argument(..., help="the letter's id (or a unique prefix)"),
    actor: str = typer.Option(None, help="who asks for the retry (default: the login name)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Ask the owning service to apply the letter again (after a fix or an upgrade)."""

    async def go() -> tuple[LetterEntry, dict[str, Any]]:
        async with Client_() as client:
            entry = _find(await _entries(client), dead_letter_id, as_json)
            if not entry.is_open:
                raise RequestFailed(
                    {
                        "ok": False,
                        "code": "conflict",
                        "message": f"dead letter {entry.letter.dead_letter_id} "
                        f"is already {entry.status}",
                    }
                )
            reply = await client.request(
                retry_subject(entry.letter.consumer),
                # Every service's dlq_retry takes the one contract model.
                RetryDeadLetter(
                    dead_letter_id=entry.letter.dead_letter_id, actor=actor or _operator()
                ).model_dump(mode="json"),
            )
            return entry, reply

    try:
        entry, reply = run(go)
    except RequestFailed as exc:
        fail(exc.reply, as_json)
    if as_json:
        print_json(reply)
        return
    console.print(
        f"retried {entry.letter.dead_letter_id} ({entry.letter.consumer}): "
        f"{reply.get('message') or 'applied'}",
        highlight=False,
    )


@app.command("discard")
def discard_(
    dead_letter_id: str = typer.Argument(..., help="the letter's id (or a unique prefix)"),
    reason: str = typer.Option(..., "--reason", help="why it is set aside for good (recorded)"),
    actor: str = typer.Option(None, help="who discards it (default: the login name)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Record that an open letter is set aside for good, with a reason; nothing is deleted."""

    async def go() -> LetterEntry:
        async with Client_() as client:
            assert client.nc is not None
            es = EventStore(client.nc)
            try:
                return await discard(es, dead_letter_id, reason, actor or _operator())
            except LetterNotFound as exc:
                raise RequestFailed(
                    {"ok": False, "code": "not_found", "message": str(exc)}
                ) from exc
            except LetterAlreadyResolved as exc:
                raise RequestFailed({"ok": False, "code": "conflict", "message": str(exc)}) from exc
            except ValueError as exc:
                raise RequestFailed(
                    {"ok": False, "code": "validation_failed", "message": str(exc)}
                ) from exc

    try:
        entry = run(go)
    except RequestFailed as exc:
        fail(exc.reply, as_json)
    if as_json:
        print_json(entry.detail())
        return
    console.print(
        f"discarded {entry.letter.dead_letter_id} ({entry.letter.consumer}): "
        f"{entry.resolutions[-1].reason}",
        highlight=False,
    )
