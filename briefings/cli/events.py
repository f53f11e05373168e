"""``briefings events ...``: conferences, attendance and the sign-in sheet import."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from briefings.cli import requests
from briefings.cli.client import (
    ACTOR,
    COMMAND_ID,
    JSON,
    Client_,
    RequestFailed,
    console,
    err_console,
    fail,
    print_json,
    print_table,
    query,
    run,
    send_command,
)
from contracts.calendar import derived_id
from contracts.events import ConferenceKind, GuestCategory
from contracts.subjects import command_subject, query_subject

app = typer.Typer(
    help="Conferences (information, thematic, year-end review) and attendance.",
    no_args_is_help=True,
)
attendance_app = typer.Typer(help="Who attended a held conference.", no_args_is_help=True)
app.add_typer(attendance_app, name="attendance")


CONFERENCE_COLUMNS = [
    "conference_id",
    "kinds",
    "title",
    "status",
    "planned_on",
    "held_on",
    "member_attendance",
    "guest_attendance",
]

EXIT_REQUEST_FAILED = 1
EXIT_NEEDS_CLERK = 2


def _send(
    name: str, payload: dict[str, Any], command_id: str | None, actor: str, as_json: bool
) -> None:
    send_command("events", name, payload, command_id, actor, as_json)


def _query(name: str, payload: dict[str, Any], as_json: bool) -> Any:
    return query("events", name, payload, as_json)


def _presenter(text: str) -> dict[str, str]:
    name, _, affiliation = text.partition("|")
    return {"name": name.strip(), "affiliation": affiliation.strip()}


# ---------------------------------------------------------------- conferences


@app.command()
def schedule(
    title: str = typer.Argument(..., help="the conference's title"),
    on: str = typer.Option(..., "--on", help="planned date YYYY-MM-DD"),
    kind: list[ConferenceKind] = typer.Option(
        ..., "--kind", help="information, thematic or review; repeat to combine"
    ),
    venue: str = typer.Option("", "--venue"),
    organiser: str | None = typer.Option(None, "--organiser"),
    presenter: list[str] = typer.Option([], "--presenter", help="'Name|Affiliation'; repeatable"),
    topic: list[str] = typer.Option([], "--topic", help="repeatable"),
    invite: list[str] = typer.Option([], "--invite", help="invited unit id; repeatable"),
    conference_id: str | None = typer.Option(
        None, "--conference-id", help="id to use (default: derived)"
    ),
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Schedule a conference."""
    _send(
        "schedule_conference",
        {
            "title": title,
            "planned_on": on,
            "kinds": [k.value for k in kind],
            "venue": venue,
            "organiser": organiser,
            "presenters": [_presenter(p) for p in presenter],
            "topics": topic,
            "invited_unit_ids": invite,
            "conference_id": conference_id,
        },
        command_id,
        actor,
        as_json,
    )


@app.command()
def reschedule(
    conference_id: str = typer.Argument(...),
    on: str = typer.Option(..., "--on", help="new planned date YYYY-MM-DD"),
    venue: str | None = typer.Option(None, "--venue"),
    reason: str = typer.Option("", "--reason"),
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Move a scheduled conference."""
    _send(
        "reschedule_conference",
        {"conference_id": conference_id, "planned_on": on, "venue": venue, "reason": reason},
        command_id,
        actor,
        as_json,
    )


@app.command()
def hold(
    conference_id: str = typer.Argument(...),
    on: str = typer.Option(..., "--on", help="the date it actually took place"),
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Record that a conference took place."""
    _send(
        "hold_conference",
        {"conference_id": conference_id, "held_on": on},
        command_id,
        actor,
        as_json,
    )


@app.command()
def cancel(
    conference_id: str = typer.Argument(...),
    reason: str = typer.Option("", "--reason"),
    on: str | None = typer.Option(None, "--on", help="cancellation date (default today)"),
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Cancel a conference that has not taken place."""
    _send(
        "cancel_conference",
        {"conference_id": conference_id, "reason": reason, "cancelled_on": on},
        command_id,
        actor,
        as_json,
    )


@app.command("list")
def list_conferences(year: int | None = typer.Option(None, "--year"), as_json: bool = JSON) -> None:
    """List conferences (of one year, by held or planned date)."""
    rows = _query("list_conferences", {"year": year}, as_json)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        row["kinds"] = "+".join(row["kinds"])
    print_table(rows, CONFERENCE_COLUMNS, title=f"{len(rows)} conference(s)")


@app.command()
def show(conference_id: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """Show one conference with its attendance figures."""
    data = _query("get_conference", {"conference_id": conference_id}, as_json)
    if as_json:
        print_json(data)
        return

    def text(v: Any) -> Any:
        return json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v

    print_table([{"field": k, "value": text(v)} for k, v in data.items()], ["field", "value"])


# ---------------------------------------------------------------- attendance


@attendance_app.command("record")
def record_attendance(
    conference_id: str = typer.Argument(...),
    member_id: str = typer.Argument(...),
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Record a roster member at a held conference (once per member)."""
    _send(
        "record_attendance",
        {"conference_id": conference_id, "member_id": member_id},
        command_id,
        actor,
        as_json,
    )


@attendance_app.command("correct")
def correct_attendance(
    conference_id: str = typer.Argument(...),
    member_id: str = typer.Argument(...),
    restore: bool = typer.Option(
        False, "--restore", help="restore a withdrawn attendance instead of withdrawing"
    ),
    reason: str = typer.Option("", "--reason"),
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Withdraw a mistaken attendance by a compensating entry (nothing is deleted)."""
    _send(
        "correct_attendance",
        {
            "conference_id": conference_id,
            "member_id": member_id,
            "attended": restore,
            "reason": reason,
        },
        command_id,
        actor,
        as_json,
    )


@attendance_app.command("guests")
def record_guests(
    conference_id: str = typer.Argument(...),
    category: GuestCategory = typer.Argument(...),
    headcount: int = typer.Argument(..., min=0),
    note: str = typer.Option("", "--note"),
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Record the headcount of one guest category (a later count replaces it)."""
    _send(
        "record_guest_attendance",
        {
            "conference_id": conference_id,
            "category": category.value,
            "headcount": headcount,
            "note": note,
        },
        command_id,
        actor,
        as_json,
    )


@attendance_app.command("list")
def list_attendance(conference_id: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """The members counted at a conference, and the guest headcounts."""
    data = _query("list_attendance", {"conference_id": conference_id}, as_json)
    if as_json:
        print_json(data)
        return
    print_table(
        data["members"],
        ["member_id", "full_name", "external_code", "unit_name"],
        title=f"{len(data['members'])} member(s) at {data['conference']['title']}",
    )
    print_table(
        [{"category": k, "headcount": v} for k, v in data["guests"].items()],
        ["category", "headcount"],
        title="guests",
    )


# ---------------------------------------------------------------- the sign-in sheet


class SheetError(Exception):
    pass


def _header_key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).strip().casefold().replace("_", " ").split())


CODE_HEADERS = {"external code", "code", "staff number", "mã", "mã số", "ma", "ma so"}
NAME_HEADERS = {"full name", "name", "name full", "họ và tên", "họ tên", "ho va ten", "ho ten"}


@dataclass(frozen=True)
class SheetLine:
    row: int
    external_code: str | None
    full_name: str | None


def read_sheet(path: Path) -> list[SheetLine]:
    """A CSV sign-in sheet: comma or semicolon, UTF-8 (a BOM is fine), a header row naming
    an external-code column and/or a full-name column. Blank rows are skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SheetError(f"{path} is not UTF-8: {exc}") from None
    lines = text.splitlines()
    if not lines:
        raise SheetError(f"{path} is empty")
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [_header_key(h) for h in next(reader)]
    code_col = next((i for i, h in enumerate(header) if h in CODE_HEADERS), None)
    name_col = next((i for i, h in enumerate(header) if h in NAME_HEADERS), None)
    if code_col is None and name_col is None:
        raise SheetError(
            f"{path}: no column named like external_code or full_name (found: {', '.join(header)})"
        )
    out = []
    for values in reader:

        def cell(col: int | None, values: list[str] = values) -> str | None:
            if col is None or col >= len(values):
                return None
            return unicodedata.normalize("NFC", values[col]).strip() or None

        code, name = cell(code_col), cell(name_col)
        if code or name:
            out.append(SheetLine(reader.line_num, code, name))
    return out


def attendance_command_id(conference_id: str, member_id: str) -> str:
    """The same (conference, member) always sends the same command: a re-run replays."""
    return derived_id(f"{conference_id}:{member_id}", "sign-in-sheet")


def _suggest(suggestions: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{s['full_name']} ({s.get('unit_name') or s.get('unit_id')}"
        + (f", code {s['external_code']}" if s.get("external_code") else "")
        + f", id {s['member_id']})"
        for s in suggestions
    )


async def import_sheet(
    client: Client_, conference_id: str, lines: list[SheetLine], actor: str, show_progress: bool
) -> dict[str, Any]:
    """Match the sheet (the service decides, on the conference date), then send the matches."""
    rows: list[dict[str, Any]] = []
    for start in range(0, len(lines), 1000):
        chunk = lines[start : start + 1000]
        match = requests.body(
            "events",
            "qry",
            "match_sign_in_sheet",
            {
                "conference_id": conference_id,
                "rows": [
                    {"row": x.row, "external_code": x.external_code, "full_name": x.full_name}
                    for x in chunk
                ],
            },
        )
        reply = await client.request(query_subject("events", "match_sign_in_sheet"), match)
        rows.extend(reply["data"]["rows"])
    for line, row in zip(lines, rows, strict=True):
        row["sheet_code"], row["sheet_name"] = line.external_code, line.full_name
    matched = [r for r in rows if r["status"] == "matched"]
    with Progress(
        TextColumn("recording attendance"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
        disable=not show_progress,
    ) as progress:
        task = progress.add_task("record", total=len(matched))
        for row in matched:
            body = requests.body(
                "events",
                "cmd",
                "record_attendance",
                {
                    "command_id": attendance_command_id(conference_id, row["member_id"]),
                    "actor": actor,
                    "conference_id": conference_id,
                    "member_id": row["member_id"],
                },
            )
            try:  # unavailable (timeout, no responders) is retried with the same id
                reply = await client.request_retrying(
                    command_subject("events", "record_attendance"), body
                )
            except RequestFailed as exc:
                reply = exc.reply
            if reply.get("ok") is not True:
                row["outcome"] = "failed"
                row["message"] = f"{reply.get('code')}: {reply.get('message', '')}"
            elif reply.get("replayed"):
                row["outcome"] = "replayed"
            elif reply.get("unchanged"):
                row["outcome"], row["message"] = "already_counted", reply.get("message", "")
            else:
                row["outcome"] = "recorded"
            progress.advance(task)
    summary = {
        "rows": len(rows),
        "matched": len(matched),
        "recorded": sum(r.get("outcome") == "recorded" for r in rows),
        "already_counted": sum(r.get("outcome") == "already_counted" for r in rows),
        "replayed": sum(r.get("outcome") == "replayed" for r in rows),
        "failed": sum(r.get("outcome") == "failed" for r in rows),
        "duplicate_rows": sum(r["status"] == "duplicate" for r in rows),
        "ambiguous": sum(r["status"] == "ambiguous" for r in rows),
        "unmatched": sum(r["status"] == "unmatched" for r in rows),
        "inactive": sum(r["status"] == "inactive" for r in rows),
    }
    summary["needs_clerk"] = summary["ambiguous"] + summary["unmatched"] + summary["inactive"]
    return {"conference_id": conference_id, "summary": summary, "rows": rows}


@attendance_app.command("import")
def import_attendance(
    conference_id: str = typer.Argument(..., help="the held conference"),
    sheet: Path = typer.Argument(..., exists=True, dir_okay=False, help="sign-in sheet (CSV)"),
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Record a sign-in sheet. Rows matching no member, or several, are listed, not guessed.

    Exit 0: every row recorded (or already); 2: rows need the clerk; 1: a request failed.
    """
    try:
        lines = read_sheet(sheet)
    except SheetError as exc:
        fail({"code": "validation_failed", "message": str(exc)}, as_json)

    async def go() -> dict[str, Any]:
        async with Client_() as client:
            return await import_sheet(client, conference_id, lines, actor, not as_json)

    try:
        result = run(go)
    except RequestFailed as exc:
        fail(exc.reply, as_json)
    summary = result["summary"]
    if as_json:
        print_json(result)
    else:
        clerk = [
            r
            for r in result["rows"]
            if r["status"] in {"ambiguous", "unmatched", "inactive"} or r.get("outcome") == "failed"
        ]
        if clerk:
            print_table(
                [
                    {
                        **r,
                        "given": " / ".join(x for x in (r["sheet_code"], r["sheet_name"]) if x),
                        "suggestions": _suggest(r.get("suggestions") or []),
                    }
                    for r in clerk
                ],
                ["row", "status", "given", "message", "suggestions"],
                title=f"{len(clerk)} row(s) for the clerk (not recorded)",
            )
        console.print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in summary.items()))
    if summary["failed"]:
        raise typer.Exit(EXIT_REQUEST_FAILED)
    if summary["needs_clerk"]:
        raise typer.Exit(EXIT_NEEDS_CLERK)
