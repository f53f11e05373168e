"""Planning a spreadsheet import: which commands make the roster agree with a row. Pure.

A row is compared with the roster as the planner is given it (``RosterIndex``); only the
differences become commands, so the same file planned again plans nothing. Every command id
is derived from what it changes (the row's content for a new member or unit; the aggregate
id, the version it was planned against and the change for the rest), so a re-run after a
crash or a lost reply replays instead of writing twice. Columns: services/roster/README.md.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from contracts import roster as c

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
EXTRA_CELLS = "__extra__"
"""Set by the reader on a row with more cells than the header has columns."""

Record = dict[str, Any]
"""A unit or member as the roster's queries show it (state plus ``version``)."""


class RowError(ValueError):
    """The row cannot go in; the message says why."""


def norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def key(text: str | None) -> str:
    return norm(text or "").casefold()


# ------------------------------------------------------------------- cells


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


def refuse_formulas(values: dict[str, str]) -> None:
    """A cell a spreadsheet would run as a formula is refused, never stored: the roster is
    exported to spreadsheets again (CSV/formula injection). ``+84 912 345 678`` is a phone."""
    for column, value in values.items():
        if value.startswith(FORMULA_START) and not PLAIN_NUMBER.match(value):
            raise RowError(
                f"{column}: {value[:40]!r} looks like a spreadsheet formula; "
                f"remove the leading {value[0]!r}"
            )


def required(values: dict[str, str], column: str) -> str:
    value = norm(values.get(column, ""))
    if not value:
        raise RowError(f"{column} is required")
    return value


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


# ---------------------------------------------------------------- commands


def _digest(*parts: Any) -> str:
    return hashlib.sha256(
        json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False).encode()
    ).hexdigest()[:40]


def _checked(command: str, payload: dict[str, Any], command_id: str) -> c.PlannedCommand:
    """The command as the service will read it: a row that cannot make a valid command is
    refused here, with the contract's reason, before anything of the file is sent."""
    try:
        c.COMMANDS[command].model_validate({**payload, "command_id": command_id})
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise RowError(f"{where}: {first.get('msg', 'invalid')}") from None
    return c.PlannedCommand(command=command, payload=payload, command_id=command_id)


def change(
    aggregate_id: str, version: int, command: str, payload: dict[str, Any]
) -> c.PlannedCommand:
    """A change planned against ``version``: the same change of the same state has one id."""
    body = {k: v for k, v in payload.items() if v is not None or k in ("contact", "external_code")}
    return _checked(command, body, f"import:{_digest(aggregate_id, version, command, body)}")


def create(
    command: str, id_field: str, body: dict[str, Any], aggregate_id: str | None = None
) -> c.PlannedCommand:
    """A create whose id derives from the row's content: the same row creates once."""
    body = {k: val for k, val in body.items() if val is not None}
    command_id = f"import:{_digest(command, body)}"
    new_id = aggregate_id or str(uuid.uuid5(IMPORT_NAMESPACE, command_id))
    planned = _checked(command, {id_field: new_id, **body}, command_id)
    return planned.model_copy(update={"creates": True})


# ------------------------------------------------------------------- index


@dataclass
class RosterIndex:
    """The part of the roster a batch of rows can touch: every unit, and the members the
    rows' codes and (unit, name) pairs may name."""

    units: list[Record]
    members: list[Record]
    _by_code: dict[str, Record] = field(init=False, repr=False)
    _by_name: dict[tuple[str, str], list[Record]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_code = {}
        self._by_name = {}
        for m in self.members:
            if m.get("external_code"):
                self._by_code.setdefault(key(m["external_code"]), m)
            self._by_name.setdefault((m["unit_id"], key(m["full_name"])), []).append(m)

    def unit(self, ref: str) -> Record:
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

    def add_unit(self, unit: Record) -> None:
        self.units = [u for u in self.units if u["unit_id"] != unit["unit_id"]] + [unit]

    def member_with_code(self, code: str) -> Record | None:
        return self._by_code.get(key(code))

    def members_named(self, unit_id: str, full_name: str) -> list[Record]:
        return self._by_name.get((unit_id, key(full_name)), [])


def wanted_members(
    rows: Iterable[c.ImportRow], index_units: RosterIndex
) -> tuple[set[str], set[tuple[str, str]]]:
    """The codes and ``(unit_id, name key)`` pairs the rows may match members by."""
    codes: set[str] = set()
    names: set[tuple[str, str]] = set()
    for row in rows:
        code = norm(row.values.get("external_code", ""))
        if code:
            codes.add(code)
        try:
            unit_id = index_units.unit(required(row.values, "unit"))["unit_id"]
        except RowError:
            continue
        names.add((unit_id, key(row.values.get("full_name"))))
    return codes, names


# ----------------------------------------------------------------- members


@dataclass(frozen=True)
class MemberRow:
    """A member row's cells, read: ``None`` where the file has no such column."""

    full_name: str
    role: str
    unit_id: str
    code: str | None
    has_contact: bool
    contact: str | None
    core: bool | None
    enrolled_on: date | None
    changed_on: str | None
    has_retired_on: bool
    retired_on: date | None
    retire_reason: str

    @classmethod
    def read(cls, v: dict[str, str], index: RosterIndex) -> MemberRow:
        if EXTRA_CELLS in v:
            raise RowError("more cells than header columns (a stray separator?)")
        return cls(
            full_name=required(v, "full_name"),
            role=parse_choice(required(v, "role"), ROLES, "role"),
            unit_id=index.unit(required(v, "unit"))["unit_id"],
            code=norm(v.get("external_code", "")) or None,
            has_contact="contact" in v,
            contact=norm(v["contact"]) or None if "contact" in v else None,
            core=parse_bool(v["core"], "core") if "core" in v else None,
            enrolled_on=parse_date(v.get("enrolled_on", ""), "enrolled_on"),
            changed_on=_date(parse_date(v.get("changed_on", ""), "changed_on")),
            has_retired_on="retired_on" in v,
            retired_on=parse_date(v.get("retired_on", ""), "retired_on"),
            retire_reason=norm(v.get("retire_reason", "")),
        )


def _existing_member(row: MemberRow, index: RosterIndex) -> Record | None:
    """The member the row is about: by code first, else the one of that name in the unit."""
    if row.code is not None:
        found = index.member_with_code(row.code)
        if found is not None:
            return found
    same = [
        m
        for m in index.members_named(row.unit_id, row.full_name)
        if m.get("external_code") is None
        or row.code is None
        or key(m["external_code"]) == key(row.code)
    ]
    if len(same) > 1:
        raise RowError(
            f"{len(same)} members named {row.full_name!r} in that unit; "
            "add external codes to tell them apart"
        )
    return same[0] if same else None


def _enrol(row: MemberRow) -> tuple[str, list[c.PlannedCommand]]:
    body = {
        "full_name": row.full_name,
        "role": row.role,
        "unit_id": row.unit_id,
        "external_code": row.code,
        "contact": row.contact,
        "core": bool(row.core),
        "effective_on": _date(row.enrolled_on),
    }
    enrol = create("enroll_member", "member_id", body)
    member_id = enrol.payload["member_id"]
    planned = [enrol]
    if row.retired_on is not None:
        retire = {"reason": row.retire_reason, "effective_on": _date(row.retired_on)}
        planned.append(change(member_id, 1, "retire_member", {"member_id": member_id, **retire}))
    identity = f"code:{key(row.code)}" if row.code else f"name:{row.unit_id}:{key(row.full_name)}"
    return identity, planned


def _differs_from(row: MemberRow, existing: Record) -> bool:
    return (
        key(row.full_name) != key(existing["full_name"])
        or row.role != existing["role"]
        or row.unit_id != existing["unit_id"]
        or (row.core is not None and row.core != existing["core"])
    )


def _member_changes(row: MemberRow, existing: Record) -> list[tuple[str, dict[str, Any]]]:
    """The ordered ``(command, payload)`` changes from ``existing`` to the row."""
    steps: list[tuple[str, dict[str, Any]]] = []
    retired = existing.get("retired_on") is not None
    role, unit = existing["role"], existing["unit_id"]
    if retired:
        # Re-enrol only when the file says so: a retired_on column with an empty cell.
        if row.retired_on is not None or not row.has_retired_on:
            if _differs_from(row, existing):
                raise RowError(
                    f"{existing['full_name']} retired on {existing['retired_on']}; "
                    "an empty retired_on cell re-enrols them before a change"
                )
            return []
        steps.append(
            (
                "reenroll_member",
                {"role": row.role, "unit_id": row.unit_id, "effective_on": row.changed_on},
            )
        )
        role, unit = row.role, row.unit_id
    contact = row.contact if row.has_contact else existing.get("contact")
    if row.full_name != existing["full_name"] or contact != existing.get("contact"):
        details = {"full_name": row.full_name, "contact": contact, "effective_on": row.changed_on}
        steps.append(("correct_member_details", details))
    if row.code is not None and key(row.code) != key(existing.get("external_code")):
        steps.append(
            ("change_member_code", {"external_code": row.code, "effective_on": row.changed_on})
        )
    # A new reporter moves to the city level first; a former reporter changes role first.
    move = ("transfer_member", {"to_unit_id": row.unit_id, "effective_on": row.changed_on})
    turn = ("change_member_role", {"role": row.role, "effective_on": row.changed_on})
    for step in [move, turn] if row.role == "reporter" else [turn, move]:
        if (step is move and row.unit_id != unit) or (step is turn and row.role != role):
            steps.append(step)
    if row.core is not None and row.core != existing["core"]:
        steps.append(("set_member_core", {"core": row.core, "effective_on": row.changed_on}))
    if row.retired_on is not None and not retired:
        retire = {"reason": row.retire_reason, "effective_on": _date(row.retired_on)}
        steps.append(("retire_member", retire))
    return steps


def plan_member(values: dict[str, str], index: RosterIndex) -> tuple[str, list[c.PlannedCommand]]:
    """``(identity, commands)`` making the roster agree with the row; identity spots duplicates."""
    row = MemberRow.read(values, index)
    existing = _existing_member(row, index)
    if existing is None:
        return _enrol(row)
    member_id, version = existing["member_id"], int(existing.get("version") or 0)
    return f"member:{member_id}", [
        change(member_id, version, command, {"member_id": member_id, **payload})
        for command, payload in _member_changes(row, existing)
    ]


# ------------------------------------------------------------------- units


def _existing_unit(name: str, code: str | None, index: RosterIndex) -> Record | None:
    if code is not None:
        found = next((u for u in index.units if key(u.get("external_code")) == key(code)), None)
        if found is not None:
            return found
    named = [
        u
        for u in index.units
        if key(u["name"]) == key(name) and (code is None or u.get("external_code") is None)
    ]
    if len(named) > 1:
        raise RowError(f"{len(named)} units are named {name!r}; add external codes")
    return named[0] if named else None


def plan_unit(values: dict[str, str], index: RosterIndex) -> tuple[str, list[c.PlannedCommand]]:
    """``(identity, commands)``; a new unit joins ``index`` (a later row may be its child)."""
    if EXTRA_CELLS in values:
        raise RowError("more cells than header columns (a stray separator?)")
    v = values
    name = required(v, "name")
    kind = parse_choice(required(v, "kind"), KINDS, "kind")
    code = norm(v.get("external_code", "")) or None
    parent_id = index.unit(norm(v["parent"]))["unit_id"] if norm(v.get("parent", "")) else None
    registered_on = parse_date(v.get("registered_on", ""), "registered_on")
    changed_on = _date(parse_date(v.get("changed_on", ""), "changed_on"))
    dissolved_on = parse_date(v.get("dissolved_on", ""), "dissolved_on")
    dissolve = {"reason": norm(v.get("dissolve_reason", "")), "effective_on": _date(dissolved_on)}

    existing = _existing_unit(name, code, index)
    if existing is None:
        body = {
            "name": name,
            "kind": kind,
            "external_code": code,
            "parent_id": parent_id,
            "effective_on": _date(registered_on),
        }
        taken = {u["unit_id"] for u in index.units}
        own_id = code if code and IDENTIFIER.match(code) and code not in taken else None
        register = create("register_unit", "unit_id", body, own_id)
        unit_id = register.payload["unit_id"]
        planned = [register]
        if dissolved_on is not None:
            planned.append(change(unit_id, 1, "dissolve_unit", {"unit_id": unit_id, **dissolve}))
        index.add_unit(
            {
                "unit_id": unit_id,
                "name": name,
                "kind": kind,
                "external_code": code,
                "parent_id": parent_id,
                "version": 1,
                "dissolved_on": _date(dissolved_on),
            }
        )
        return f"unit:{unit_id}", planned

    unit_id, version = existing["unit_id"], int(existing.get("version") or 0)
    if kind != existing["kind"]:
        raise RowError(f"unit {existing['name']!r} is a {existing['kind']}; a kind cannot change")
    if parent_id is not None and parent_id != existing.get("parent_id"):
        raise RowError(f"unit {existing['name']!r} has another parent; a parent cannot change")
    if existing.get("dissolved_on") is not None:
        if dissolved_on is None or key(name) != key(existing["name"]):
            raise RowError(f"unit {existing['name']!r} was dissolved on {existing['dissolved_on']}")
        return f"unit:{unit_id}", []
    planned = []
    if name != existing["name"]:
        rename = {"unit_id": unit_id, "name": name, "effective_on": changed_on}
        planned.append(change(unit_id, version, "rename_unit", rename))
    if dissolved_on is not None:
        planned.append(change(unit_id, version, "dissolve_unit", {"unit_id": unit_id, **dissolve}))
    return f"unit:{unit_id}", planned


# ------------------------------------------------------------------ a batch


def plan_rows(kind: str, rows: Iterable[c.ImportRow], index: RosterIndex) -> list[c.PlannedRow]:
    """Each row planned in order against ``index``; a bad row fails alone, with its reason."""
    planned = []
    for row in rows:
        try:
            refuse_formulas(row.values)
            plan = plan_unit if kind == "units" else plan_member
            identity, commands = plan(row.values, index)
        except RowError as exc:
            planned.append(c.PlannedRow(line=row.line, error=str(exc)))
        else:
            planned.append(c.PlannedRow(line=row.line, identity=identity, commands=commands))
    return planned
