"""``briefings roster import FILE``: members or units from a spreadsheet export, idempotently.

The file is compared with the roster as it is now; only the differences become commands, so
importing the same file again writes nothing. Every command id is derived from what it
changes (the row's content for a new member or unit; the aggregate id, the version it was
planned against and the change for the rest), so a re-run after a crash or a lost reply
replays instead of writing twice. Columns: services/roster/README.md.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import re
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from briefings.cli.client import Client_, RequestFailed, print_json
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
ROLES = {
    "reporter": "reporter",
    "báo cáo viên": "reporter",
    "bcv": "reporter",
    "propagandist": "propagandist",
    "tuyên truyền viên": "propagandist",
    "ttv": "propagandist",
}
KINDS = {
    "city": "city",
    "cấp thành phố": "city",
    "thành phố": "city",
    "party_cell": "party_cell",
    "chi bộ": "party_cell",
    "party_organisation": "party_organisation",
    "party_organization": "party_organisation",
    "đảng bộ": "party_organisation",
}
TRUE = {"1", "true", "yes", "y", "x", "có", "co"}
FALSE = {"", "0", "false", "no", "n", "không", "khong"}
IDENTIFIER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
IMPORT_NAMESPACE = uuid.UUID("0f4b2a64-93a4-4d41-8d0e-3a5c5f2f8a61")


class RowError(ValueError):
    """The row cannot go in; the message says why."""


class FileError(ValueError):
    """The file as a whole cannot be read."""


def norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def key(text: str | None) -> str:
    return norm(text or "").casefold()


# ------------------------------------------------------------------ reading


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, str]


def header_name(raw: str) -> str:
    name = key(raw.replace("\ufeff", ""))
    return HEADER_ALIASES.get(name, name.replace(" ", "_"))


def read_table(data: bytes) -> tuple[list[str], list[Row]]:
    """Header (canonical names) and non-blank rows with their line numbers."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError(f"not UTF-8 (byte {exc.start}); export the sheet as CSV UTF-8") from None
    text = unicodedata.normalize("NFC", text)
    first = text.splitlines()[0] if text.strip() else ""
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [header_name(h) for h in next(reader)]
    except StopIteration:
        raise FileError("the file is empty") from None
    rows = []
    start = reader.line_num + 1
    for cells in reader:
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        values = {name: cell.strip() for name, cell in zip(header, cells, strict=False) if name}
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            values["__extra__"] = "x"
        rows.append(Row(line, values))
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
    missing = [c for c in REQUIRED[kind] if c not in header]
    if missing:
        raise FileError(f"missing column(s) for {kind}: {', '.join(missing)}")
    return kind


def parse_date(text: str, column: str) -> date | None:
    if not text:
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise RowError(f"{column}: {text!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)")


def parse_choice(text: str, choices: dict[str, str], column: str) -> str:
    value = choices.get(key(text))
    if value is None:
        allowed = sorted(set(choices.values()))
        raise RowError(f"{column}: {text!r} is not one of {', '.join(allowed)}")
    return value


def parse_bool(text: str, column: str) -> bool:
    value = key(text)
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise RowError(f"{column}: {text!r} is not yes/no")


FORMULA_START = ("=", "@", "+", "-")
PLAIN_NUMBER = re.compile(r"^[+-]?[\d\s().-]+$")


def refuse_formulas(row: Row) -> None:
    """A cell a spreadsheet would run as a formula is refused, never stored: the roster is
    exported to spreadsheets again (CSV/formula injection). ``+84 912 345 678`` is a phone."""
    for column, value in row.values.items():
        if value.startswith(FORMULA_START) and not PLAIN_NUMBER.match(value):
            raise RowError(
                f"{column}: {value[:40]!r} looks like a spreadsheet formula; "
                f"remove the leading {value[0]!r}"
            )


def required(row: Row, column: str) -> str:
    value = norm(row.values.get(column, ""))
    if not value:
        raise RowError(f"{column} is required")
    return value


# ------------------------------------------------------------------ planning


@dataclass(frozen=True)
class Planned:
    command: str
    payload: dict[str, Any]
    command_id: str
    creates: bool = False


def _digest(*parts: Any) -> str:
    return hashlib.sha256(
        json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False).encode()
    ).hexdigest()[:40]


def change(aggregate_id: str, version: int, command: str, payload: dict[str, Any]) -> Planned:
    """A change planned against ``version``: the same change of the same state has one id."""
    body = {k: v for k, v in payload.items() if v is not None or k in ("contact", "external_code")}
    return Planned(command, body, f"import:{_digest(aggregate_id, version, command, body)}")


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


@dataclass
class RosterIndex:
    """The roster as the import found it (units and members with their versions)."""

    units: list[dict[str, Any]]
    members: list[dict[str, Any]]

    def unit(self, ref: str) -> dict[str, Any]:
        ref_key = key(ref)
        for by in (lambda u: key(u.get("external_code")), lambda u: key(u["unit_id"])):
            found = [u for u in self.units if by(u) == ref_key]
            if len(found) == 1:
                return found[0]
        named = [u for u in self.units if key(u["name"]) == ref_key]
        if len(named) == 1:
            return named[0]
        if named:
            raise RowError(f"unit {ref!r}: {len(named)} units have that name; use its code")
        raise RowError(f"unit {ref!r} is not on the roster (give its code, id or name)")

    def add_unit(self, unit: dict[str, Any]) -> None:
        self.units = [u for u in self.units if u["unit_id"] != unit["unit_id"]] + [unit]


def plan_member(row: Row, index: RosterIndex) -> tuple[str, list[Planned]]:
    """``(identity, commands)`` making the roster agree with ``row``; identity spots duplicates."""
    if "__extra__" in row.values:
        raise RowError("more cells than header columns (a stray separator?)")
    v = row.values
    full_name = required(row, "full_name")
    role = parse_choice(required(row, "role"), ROLES, "role")
    unit_id = index.unit(required(row, "unit"))["unit_id"]
    code = norm(v.get("external_code", "")) or None
    contact = norm(v["contact"]) or None if "contact" in v else None
    core = parse_bool(v["core"], "core") if "core" in v else None
    enrolled_on = parse_date(v.get("enrolled_on", ""), "enrolled_on")
    changed_on = _date(parse_date(v.get("changed_on", ""), "changed_on"))
    retired_on = parse_date(v.get("retired_on", ""), "retired_on")
    retire_reason = norm(v.get("retire_reason", ""))

    existing = None
    if code is not None:
        existing = next(
            (m for m in index.members if key(m.get("external_code")) == key(code)), None
        )
    if existing is None:
        same = [
            m
            for m in index.members
            if m["unit_id"] == unit_id
            and key(m["full_name"]) == key(full_name)
            and (
                m.get("external_code") is None
                or code is None
                or key(m["external_code"]) == key(code)
            )
        ]
        if len(same) > 1:
            raise RowError(
                f"{len(same)} members named {full_name!r} in that unit; "
                "add external codes to tell them apart"
            )
        existing = same[0] if same else None

    if existing is None:
        body = {
            "full_name": full_name,
            "role": role,
            "unit_id": unit_id,
            "external_code": code,
            "contact": contact,
            "core": bool(core),
            "effective_on": _date(enrolled_on),
        }
        body = {k: val for k, val in body.items() if val is not None}
        command_id = f"import:{_digest('enroll_member', body)}"
        member_id = str(uuid.uuid5(IMPORT_NAMESPACE, command_id))
        planned = [
            Planned("enroll_member", {"member_id": member_id, **body}, command_id, creates=True)
        ]
        if retired_on is not None:
            planned.append(
                change(
                    member_id,
                    1,
                    "retire_member",
                    {
                        "member_id": member_id,
                        "reason": retire_reason,
                        "effective_on": _date(retired_on),
                    },
                )
            )
        identity = f"code:{key(code)}" if code else f"name:{unit_id}:{key(full_name)}"
        return identity, planned

    member_id, version = existing["member_id"], int(existing.get("version") or 0)
    retired = existing.get("retired_on") is not None
    planned = []

    def add(command: str, payload: dict[str, Any]) -> None:
        planned.append(change(member_id, version, command, {"member_id": member_id, **payload}))

    cur_role, cur_unit = existing["role"], existing["unit_id"]
    if retired:
        # Re-enrol only when the file says so: a retired_on column with an empty cell.
        if retired_on is not None or "retired_on" not in v:
            differs = (
                key(full_name) != key(existing["full_name"])
                or role != cur_role
                or unit_id != cur_unit
                or (core is not None and core != existing["core"])
            )
            if differs:
                raise RowError(
                    f"{existing['full_name']} retired on {existing['retired_on']}; "
                    "an empty retired_on cell re-enrols them before a change"
                )
            return f"member:{member_id}", []
        add("reenroll_member", {"role": role, "unit_id": unit_id, "effective_on": changed_on})
        cur_role, cur_unit = role, unit_id
    new_contact = existing.get("contact") if "contact" not in v else contact
    if full_name != existing["full_name"] or new_contact != existing.get("contact"):
        add(
            "correct_member_details",
            {"full_name": full_name, "contact": new_contact, "effective_on": changed_on},
        )
    if code is not None and key(code) != key(existing.get("external_code")):
        add("change_member_code", {"external_code": code, "effective_on": changed_on})
    # A new reporter moves to the city level first; a former reporter changes role first.
    move = ("transfer_member", {"to_unit_id": unit_id, "effective_on": changed_on})
    turn = ("change_member_role", {"role": role, "effective_on": changed_on})
    steps = [move, turn] if role == "reporter" else [turn, move]
    for command, payload in steps:
        if (command == "transfer_member" and unit_id != cur_unit) or (
            command == "change_member_role" and role != cur_role
        ):
            add(command, payload)
    if core is not None and core != existing["core"]:
        add("set_member_core", {"core": core, "effective_on": changed_on})
    if retired_on is not None and not retired:
        add("retire_member", {"reason": retire_reason, "effective_on": _date(retired_on)})
    return f"member:{member_id}", planned


def plan_unit(row: Row, index: RosterIndex) -> tuple[str, list[Planned], dict[str, Any] | None]:
    """``(identity, commands, new unit row for the index or None)``."""
    if "__extra__" in row.values:
        raise RowError("more cells than header columns (a stray separator?)")
    v = row.values
    name = required(row, "name")
    kind = parse_choice(required(row, "kind"), KINDS, "kind")
    code = norm(v.get("external_code", "")) or None
    parent_id = index.unit(norm(v["parent"]))["unit_id"] if norm(v.get("parent", "")) else None
    registered_on = parse_date(v.get("registered_on", ""), "registered_on")
    changed_on = _date(parse_date(v.get("changed_on", ""), "changed_on"))
    dissolved_on = parse_date(v.get("dissolved_on", ""), "dissolved_on")
    reason = norm(v.get("dissolve_reason", ""))

    existing = None
    if code is not None:
        existing = next((u for u in index.units if key(u.get("external_code")) == key(code)), None)
    if existing is None:
        named = [
            u
            for u in index.units
            if key(u["name"]) == key(name) and (code is None or u.get("external_code") is None)
        ]
        if len(named) > 1:
            raise RowError(f"{len(named)} units are named {name!r}; add external codes")
        existing = named[0] if named else None

    if existing is None:
        taken = {u["unit_id"] for u in index.units}
        body = {
            "name": name,
            "kind": kind,
            "external_code": code,
            "parent_id": parent_id,
            "effective_on": _date(registered_on),
        }
        body = {k: val for k, val in body.items() if val is not None}
        command_id = f"import:{_digest('register_unit', body)}"
        unit_id = (
            code
            if code and IDENTIFIER.match(code) and code not in taken
            else str(uuid.uuid5(IMPORT_NAMESPACE, command_id))
        )
        planned = [Planned("register_unit", {"unit_id": unit_id, **body}, command_id, creates=True)]
        if dissolved_on is not None:
            planned.append(
                change(
                    unit_id,
                    1,
                    "dissolve_unit",
                    {"unit_id": unit_id, "reason": reason, "effective_on": _date(dissolved_on)},
                )
            )
        new = {
            "unit_id": unit_id,
            "name": name,
            "kind": kind,
            "external_code": code,
            "parent_id": parent_id,
            "version": 1,
            "dissolved_on": _date(dissolved_on),
        }
        return f"unit:{unit_id}", planned, new

    unit_id, version = existing["unit_id"], int(existing.get("version") or 0)
    if kind != existing["kind"]:
        raise RowError(f"unit {existing['name']!r} is a {existing['kind']}; a kind cannot change")
    if parent_id is not None and parent_id != existing.get("parent_id"):
        raise RowError(f"unit {existing['name']!r} has another parent; a parent cannot change")
    if existing.get("dissolved_on") is not None:
        if dissolved_on is None or key(name) != key(existing["name"]):
            raise RowError(f"unit {existing['name']!r} was dissolved on {existing['dissolved_on']}")
        return f"unit:{unit_id}", [], None
    planned = []
    if name != existing["name"]:
        planned.append(
            change(
                unit_id,
                version,
                "rename_unit",
                {"unit_id": unit_id, "name": name, "effective_on": changed_on},
            )
        )
    if dissolved_on is not None:
        planned.append(
            change(
                unit_id,
                version,
                "dissolve_unit",
                {"unit_id": unit_id, "reason": reason, "effective_on": _date(dissolved_on)},
            )
        )
    return f"unit:{unit_id}", planned, None


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


async def _execute(client: Client_, planned: list[Planned], actor: str) -> tuple[bool, int, int]:
    """Send the row's commands in order: ``(created, events written, commands applied)``."""
    created, events, applied = False, 0, 0
    for step in planned:
        body = {**step.payload, "command_id": step.command_id, "actor": actor}
        try:
            # unavailable (timeout, no responders, starting) is retried with the same id
            reply = await client.request_retrying(command_subject("roster", step.command), body)
        except RequestFailed as exc:
            failure = exc.reply
            done = f" (after {applied} change(s) went in)" if applied else ""
            raise RowError(f"{failure.get('code')}: {failure.get('message')}{done}") from None
        applied += 1
        written = 0 if reply.get("replayed") else len(reply.get("event_ids") or [])
        events += written
        created = created or (step.creates and written > 0)
    return created, events, applied


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
    units = (
        await client.request(query_subject("roster", "list_units"), {"include_dissolved": True})
    )["data"]
    members = (
        await client.request(query_subject("roster", "list_members"), {"include_retired": True})
    )["data"]
    index = RosterIndex(units, members)
    seen: dict[str, int] = {}

    async def one(row: Row, planned: list[Planned]) -> None:
        try:
            created, events, _ = await _execute(client, planned, actor)
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

    def plan(row: Row) -> list[Planned] | None:
        try:
            refuse_formulas(row)
            if kind == "units":
                identity, planned, new = plan_unit(row, index)
            else:
                identity, planned = plan_member(row, index)
                new = None
        except RowError as exc:
            summary.reject(row.line, str(exc))
            return None
        if identity in seen:
            summary.reject(row.line, f"the same {kind[:-1]} as line {seen[identity]}")
            return None
        seen[identity] = row.line
        if new is not None:
            index.add_unit(new)  # later rows may name it as their parent
        return planned

    if kind == "units":  # in file order: a parent comes before its children
        for row in rows:
            planned = plan(row)
            if planned is None:
                advance()
                continue
            await one(row, planned)
    else:  # members are independent of each other: several requests in flight
        gate = asyncio.Semaphore(concurrency)

        async def guarded(row: Row, planned: list[Planned]) -> None:
            async with gate:
                await one(row, planned)

        tasks = []
        for row in rows:
            planned = plan(row)
            if planned is None:
                advance()
                continue
            tasks.append(guarded(row, planned))
        await asyncio.gather(*tasks)
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
        console.print(f"[red]line {rejection['line']}[/]: {rejection['reason']}")


def main(path: Path, wanted: str, actor: str, as_json: bool, concurrency: int) -> int:
    """The CLI's import: 0 all rows in, 2 some rows rejected, 1 the file or NATS failed."""
    err = Console(stderr=True)
    data = path.read_bytes()
    try:
        total = len(read_table(data)[1])
    except FileError as exc:
        err.print(f"[bold red]cannot import {path}[/]: {exc}")
        return 1

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
        err.print(f"[bold red]cannot import {path}[/]: {exc}")
        return 1
    except RequestFailed as exc:
        err.print(f"[bold red]{exc.reply.get('code')}[/]: {exc.reply.get('message')}")
        return 1
    if as_json:
        print_json(summary.as_dict())
    else:
        print_summary(summary, Console())
    return 2 if summary.rejected else 0
