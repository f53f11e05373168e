"""``briefings roster import FILE``: members or units from a spreadsheet export, idempotently.

The CLI reads the file; the roster service plans (``qry.roster.plan_import``: which commands
make the roster agree with each row, against the roster as it is now, writing nothing; the
rules are services/roster/domain/importing.py); the CLI sends the planned commands. Importing
the same file again plans nothing, and every planned command id is derived from its change,
so a re-run after a crash or a lost reply replays instead of writing twice. A file that
cannot be read exactly (not UTF-8, an unterminated quote, a cell over 131,072 characters, a
column named twice) is refused whole, with its line, before anything is sent.
Columns: services/roster/README.md.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from briefings.cli.client import Client_, RequestFailed, print_json
from contracts import roster as c
from contracts.replies import ErrorCode, ErrorReply, FieldError
from contracts.subjects import command_subject, query_subject

MEMBER_COLUMNS = (
    "full_name",
    "role",
    "unit",
    "external_code",
    "contact",
    "core",
    "enrolled_on",
    "changed_on",
    "retired_on",
    "retire_reason",
)
UNIT_COLUMNS = (
    "name",
    "kind",
    "external_code",
    "parent",
    "registered_on",
    "changed_on",
    "dissolved_on",
    "dissolve_reason",
)
REQUIRED = {"members": ("full_name", "role", "unit"), "units": ("name", "kind")}

# Headers as Vietnamese spreadsheets write them (compared case-folded, without extra spaces).
HEADER_ALIASES = {
    "họ và tên": "full_name",
    "họ tên": "full_name",
    "name_full": "full_name",
    "vai trò": "role",
    "đơn vị": "unit",
    "unit_id": "unit",
    "unit_code": "unit",
    "mã": "external_code",
    "mã số": "external_code",
    "code": "external_code",
    "staff_number": "external_code",
    "liên hệ": "contact",
    "điện thoại": "contact",
    "nòng cốt": "core",
    "ngày vào": "enrolled_on",
    "ngày thay đổi": "changed_on",
    "ngày nghỉ": "retired_on",
    "lý do nghỉ": "retire_reason",
    "tên": "name",
    "tên đơn vị": "name",
    "loại": "kind",
    "đơn vị cấp trên": "parent",
    "parent_id": "parent",
    "ngày thành lập": "registered_on",
    "ngày giải thể": "dissolved_on",
    "lý do giải thể": "dissolve_reason",
}
EXTRA_CELLS = "__extra__"  # the planner's marker: more cells than header columns
BATCH_ROWS = 250
BATCH_BYTES = 128 * 1024
"""Rows per planning request: the request (JSON as sent, ASCII-escaped) stays below the
service's 256 KB request limit and the plan it answers far below the 1 MB payload limit."""
ROW_MAX_BYTES = 64 * 1024
"""No valid row is larger (the contracts bound every column to a few thousand characters)."""


class FileError(ValueError):
    """The file as a whole cannot be read; ``line`` says where (0: the file itself)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.reason = message

    def reply(self, path: str) -> ErrorReply:
        """The documented error shape, for ``--json``."""
        return ErrorReply(
            code=ErrorCode.VALIDATION_FAILED,
            message=str(self),
            details=[
                FieldError(field=f"line {self.line}" if self.line else "", message=self.reason)
            ],
            context={"file": path, "line": self.line},
        )


class RowError(ValueError):
    """A row's commands were refused; the message says why."""


def norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def key(text: str | None) -> str:
    return norm(text or "").casefold()


# ------------------------------------------------------------------ reading


Row = c.ImportRow


def header_name(raw: str) -> str:
    name = key(raw.replace("\ufeff", ""))
    return HEADER_ALIASES.get(name, name.replace(" ", "_"))


def _header(names: list[str]) -> list[str]:
    """Canonical column names; a column named twice (also through an alias) is refused."""
    header = [header_name(h) for h in names]
    first: dict[str, int] = {}
    for position, name in enumerate(header, 1):
        if name and name in first:
            raise FileError(
                f"column {name!r} appears twice (columns {first[name]} and {position}): "
                "which one holds the data?",
                1,
            )
        first.setdefault(name, position)
    return header


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """``(first line, cells)`` per record. Strict: a quote that is never closed, or closed
    in the middle of a cell, is an error at the line it opened (never a swallowed row)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise FileError(
                    f"a cell is longer than {csv.field_size_limit():,} characters", start
                ) from None
            raise FileError(
                f"a quoted cell is not closed properly ({exc}, noticed on line "
                f"{reader.line_num}); check the quotes of this row",
                start,
            ) from None
        if reader.line_num != start and any("\n" in cell or "\r" in cell for cell in cells):
            raise FileError(
                f"a cell runs over lines {start}-{reader.line_num} (an unterminated quote?); "
                "roster cells are single lines",
                start,
            )
        yield start, cells
        start = reader.line_num + 1


def read_table(data: bytes) -> tuple[list[str], list[Row]]:
    """Header (canonical names) and non-blank rows (known columns only) with their lines."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError(f"not UTF-8 (byte {exc.start}); export the sheet as CSV UTF-8") from None
    text = unicodedata.normalize("NFC", text)
    first = text.splitlines()[0] if text.strip() else ""
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    records = _records(text, delimiter)
    try:
        _, names = next(records)
    except StopIteration:
        raise FileError("the file is empty") from None
    header = _header(names)
    known = set(MEMBER_COLUMNS) | set(UNIT_COLUMNS)
    rows = []
    for line, cells in records:
        if not any(cell.strip() for cell in cells):
            continue
        values = {n: cell.strip() for n, cell in zip(header, cells, strict=False) if n in known}
        if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
            values[EXTRA_CELLS] = "x"
        rows.append(Row.model_construct(line=line, values=values))
    return header, rows


def detect_kind(header: list[str], wanted: str) -> str:
    if wanted in REQUIRED:
        kind = wanted
    elif "full_name" in header:
        kind = "members"
    elif "name" in header and "kind" in header:
        kind = "units"
    else:
        raise FileError(
            "cannot tell members from units: the header needs full_name, role, unit "
            "(members) or name, kind (units)"
        )
    missing = [col for col in REQUIRED[kind] if col not in header]
    if missing:
        raise FileError(f"missing column(s) for {kind}: {', '.join(missing)}")
    return kind


# ------------------------------------------------------------------ running


@dataclass
class Summary:
    kind: str
    rows: int = 0
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    events: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "created": self.created,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
            "events_written": self.events,
            "rejections": self.rejected,
        }

    def reject(self, line: int, reason: str) -> None:
        self.rejected.append({"line": line, "reason": reason})


def command_body(step: c.PlannedCommand, actor: str) -> dict[str, Any]:
    """The request body, built by the command's contract model (what the service reads)."""
    command = c.COMMANDS[step.command].model_validate(
        {**step.payload, "command_id": step.command_id, "actor": actor}
    )
    return command.model_dump(mode="json", exclude_unset=True)


async def _execute(
    client: Client_, planned: list[c.PlannedCommand], actor: str
) -> tuple[bool, int, int]:
    """Send the row's commands in order: ``(created, events written, commands applied)``."""
    created, events, applied = False, 0, 0
    for step in planned:
        try:
            # unavailable (timeout, no responders, starting) is retried with the same id
            reply = await client.request_retrying(
                command_subject("roster", step.command), command_body(step, actor)
            )
        except RequestFailed as exc:
            failure = exc.reply
            done = f" (after {applied} change(s) went in)" if applied else ""
            raise RowError(f"{failure.get('code')}: {failure.get('message')}{done}") from None
        applied += 1
        written = 0 if reply.get("replayed") else len(reply.get("event_ids") or [])
        events += written
        created = created or (step.creates and written > 0)
    return created, events, applied


def batches(rows: list[Row], summary: Summary) -> Iterator[list[Row]]:
    """Rows in planning requests of at most BATCH_ROWS rows and BATCH_BYTES bytes; a row
    larger than any valid row is refused here (it would not fit a request)."""
    batch: list[Row] = []
    size = 0
    for row in rows:
        row_size = len(json.dumps(row.values))  # as sent: ASCII-escaped
        if row_size > ROW_MAX_BYTES:
            summary.reject(row.line, f"the row is {row_size:,} bytes; no valid row is that large")
            continue
        if batch and (len(batch) == BATCH_ROWS or size + row_size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += row_size
    if batch:
        yield batch


async def plan(client: Client_, kind: str, rows: list[Row]) -> list[c.PlannedRow]:
    query = c.PlanImport.model_validate({"kind": kind, "rows": rows})
    reply = await client.request_retrying(
        query_subject("roster", "plan_import"), query.model_dump(mode="json")
    )
    return [c.PlannedRow.model_validate(r) for r in reply["data"]["rows"]]


async def run_import(
    client: Client_,
    data: bytes,
    wanted: str = "auto",
    actor: str = "import",
    concurrency: int = 8,
    advance: Callable[[], None] = lambda: None,
) -> Summary:
    """Import ``data`` (a CSV file's bytes) through ``client``; rows fail alone."""
    header, rows = read_table(data)
    kind = detect_kind(header, wanted)
    summary = Summary(kind, rows=len(rows))
    seen: dict[str, int] = {}

    async def one(row: c.PlannedRow) -> None:
        try:
            created, events, _ = await _execute(client, row.commands, actor)
        except RowError as exc:
            summary.reject(row.line, str(exc))
        else:
            summary.events += events
            if created:
                summary.created += 1
            elif events:
                summary.changed += 1
            else:
                summary.unchanged += 1
        advance()

    def accepted(planned: list[c.PlannedRow]) -> Iterator[c.PlannedRow]:
        for row in planned:
            if row.error is not None or row.identity is None:
                summary.reject(row.line, row.error or "not planned")
            elif row.identity in seen:
                summary.reject(row.line, f"the same {kind[:-1]} as line {seen[row.identity]}")
            else:
                seen[row.identity] = row.line
                yield row
                continue
            advance()

    if kind == "units":
        # In file order, each batch planned after the one before went in: a parent comes
        # before its children (within a batch the planner keeps the units it registers).
        for batch in batches(rows, summary):
            for row in accepted(await plan(client, kind, batch)):
                await one(row)
    else:
        # Members are independent of each other: plan the whole file against the roster as
        # it is, then send with several requests in flight.
        todo: list[c.PlannedRow] = []
        for batch in batches(rows, summary):
            todo.extend(accepted(await plan(client, kind, batch)))
        gate = asyncio.Semaphore(concurrency)

        async def guarded(row: c.PlannedRow) -> None:
            async with gate:
                await one(row)

        await asyncio.gather(*(guarded(row) for row in todo))
    summary.rejected.sort(key=lambda r: r["line"])
    return summary


def print_summary(summary: Summary, console: Console) -> None:
    table = Table(title=f"import of {summary.rows} {summary.kind} row(s)")
    for column in ("created", "changed", "unchanged", "rejected", "events written"):
        table.add_column(column, justify="right")
    table.add_row(
        str(summary.created),
        str(summary.changed),
        str(summary.unchanged),
        str(len(summary.rejected)),
        str(summary.events),
    )
    console.print(table)
    for rejection in summary.rejected:
        console.print(f"[red]line {rejection['line']}[/]: {escape(rejection['reason'])}")


def main(path: Path, wanted: str, actor: str, as_json: bool, concurrency: int) -> int:
    """The CLI's import: 0 all rows in, 2 some rows rejected, 1 the file or NATS failed."""
    err = Console(stderr=True)
    data = path.read_bytes()

    def refuse(exc: FileError) -> int:
        err.print(f"[bold red]cannot import[/] {escape(str(path))}: {escape(str(exc))}")
        if as_json:  # stdout holds only the JSON
            print_json(exc.reply(str(path)).model_dump(mode="json"))
        return 1

    try:
        total = len(read_table(data)[1])
    except FileError as exc:
        return refuse(exc)

    async def go() -> Summary:
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=as_json,
        ) as progress:
            task = progress.add_task("rows", total=total)
            async with Client_() as client:
                return await run_import(
                    client, data, wanted, actor, concurrency, lambda: progress.advance(task)
                )

    try:
        summary = asyncio.run(go())
    except FileError as exc:
        return refuse(exc)
    except RequestFailed as exc:
        if as_json:
            print_json({"ok": False, **exc.reply})
        else:
            err.print(
                f"[bold red]{exc.reply.get('code')}[/]: {escape(str(exc.reply.get('message')))}"
            )
        return 1
    if as_json:
        print_json(summary.as_dict())
    else:
        print_summary(summary, Console())
    return 2 if summary.rejected else 0
