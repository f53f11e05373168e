"""Bulk import: reading spreadsheet exports, planning the changes, idempotent re-runs."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest
from nats.aio.client import Client

from briefings.cli.client import Client_, RequestFailed
from briefings.cli.roster_import import FileError, read_table, run_import
from contracts import roster as c
from runtime.settings import Settings
from services.roster.domain.importing import (
    RosterIndex,
    RowError,
    plan_member,
    plan_rows,
    refuse_formulas,
)
from tests.roster.helpers import roster_running
from tests.support import ROOT

FAMILY = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
]
MIDDLE = ["Văn", "Thị", "Hữu", "Minh", "Ngọc", "Thanh", "Quốc", "Đức", "Thu", "Xuân"]
GIVEN = [
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Giang",
    "Hà",
    "Hải",
    "Hạnh",
    "Hoa",
    "Hùng",
    "Hương",
    "Khánh",
    "Lan",
    "Long",
    "Mai",
    "Nam",
    "Nga",
    "Phúc",
    "Quân",
    "Sơn",
    "Tâm",
    "Thảo",
    "Trang",
    "Tuấn",
    "Yến",
    "Ánh",
    "Đạt",
    "Ơn",
    "Ưng",
    "Ý",
]
UNITS_CSV = (
    "external_code;name;kind;parent;registered_on\n"
    "TP;Cấp thành phố;city;;2020-01-01\n"
    + "".join(f"CB{i:02d};Chi bộ Khu phố {i};chi bộ;TP;2020-01-01\n" for i in range(1, 13))
    + "DB01;Đảng bộ Phường Bến Nghé;đảng bộ;TP;2020-01-01\n"
)
HEADER = "Họ và tên,vai trò,đơn vị,mã số,liên hệ,nòng cốt,enrolled_on\n"


def member_rows(n: int = 300) -> list[list[str]]:
    rows = []
    for i in range(n):
        name = f"{FAMILY[i % 15]} {MIDDLE[(i // 15) % 10]} {GIVEN[(i * 7) % 30]}"
        reporter = i < 19
        unit = "TP" if reporter else f"CB{(i % 12) + 1:02d}"
        code = f"TTV-{i:04d}" if i < 250 else ""  # the last 50 are matched by unit and name
        rows.append(
            [
                name,
                "báo cáo viên" if reporter else "tuyên truyền viên",
                unit,
                code,
                f"09{i:08d}" if i % 3 == 0 else "",
                "x" if i % 10 == 0 else "",
                "15/01/2022",
            ]
        )
    return rows


def to_csv(rows: list[list[str]]) -> bytes:
    return (HEADER + "".join(",".join(r) + "\n" for r in rows)).encode("utf-8-sig")


# ------------------------------------------------------------------------- pure


@pytest.mark.fast
def test_reads_semicolons_bom_and_vietnamese_headers() -> None:
    header, rows = read_table(
        (
            "\ufeffHọ và tên;Vai trò;Đơn vị;Nòng cốt\n"
            "Nguyễn Thị Hoa;tuyên truyền viên;CB01;có\n"
            ";;;\n"
            '"Lê, Văn Nam";bcv;TP;\n'
        ).encode()
    )
    assert header == ["full_name", "role", "unit", "core"]
    assert [r.line for r in rows] == [2, 4]  # the blank line is skipped, numbering is kept
    assert rows[1].values["full_name"] == "Lê, Văn Nam"


@pytest.mark.fast
def test_decomposed_diacritics_are_normalised() -> None:
    decomposed = "Nguye\u0302\u0303n"  # as some Mac exports write "Nguyễn"
    _, rows = read_table(f"full_name,role,unit\n{decomposed},ttv,CB01\n".encode())
    assert rows[0].values["full_name"] == "Nguyễn"


@pytest.mark.fast
def test_unreadable_files_are_refused_whole() -> None:
    with pytest.raises(FileError):
        read_table("full_name,role\nNguyễn,ttv\n".encode("utf-16"))
    with pytest.raises(FileError):
        read_table(b"")


INDEX = RosterIndex(
    units=[
        {"unit_id": "TP", "name": "Cấp thành phố", "kind": "city", "external_code": "TP"},
        {"unit_id": "CB01", "name": "Chi bộ 1", "kind": "party_cell", "external_code": "CB01"},
    ],
    members=[
        {
            "member_id": "m1",
            "full_name": "Nguyễn Thị Hoa",
            "role": "propagandist",
            "unit_id": "CB01",
            "external_code": "TTV-1",
            "contact": None,
            "core": False,
            "retired_on": None,
            "version": 3,
        }
    ],
)


def row(**values: str) -> dict[str, str]:
    base = {"full_name": "Nguyễn Thị Hoa", "role": "ttv", "unit": "CB01", "external_code": "TTV-1"}
    base.update(values)
    return base


@pytest.mark.fast
def test_an_unchanged_row_plans_nothing_and_a_changed_row_plans_the_changes() -> None:
    assert plan_member(row(), INDEX) == ("member:m1", [])
    _, planned = plan_member(row(full_name="Nguyễn Thị Hòa", core="x"), INDEX)
    assert [p.command for p in planned] == ["correct_member_details", "set_member_core"]
    # Becoming a reporter: move to the city level first, then change the role.
    _, planned = plan_member(row(role="báo cáo viên", unit="TP"), INDEX)
    assert [p.command for p in planned] == ["transfer_member", "change_member_role"]
    _, planned = plan_member(row(retired_on="01/12/2022", retire_reason="chuyển công tác"), INDEX)
    assert [(p.command, p.payload["effective_on"]) for p in planned] == [
        ("retire_member", "2022-12-01")
    ]


@pytest.mark.fast
def test_command_ids_are_stable_for_the_same_change_of_the_same_state() -> None:
    first = plan_member(row(core="x"), INDEX)[1]
    again = plan_member(row(core="x"), INDEX)[1]
    assert [p.command_id for p in first] == [p.command_id for p in again]
    moved_on = RosterIndex(INDEX.units, [{**INDEX.members[0], "version": 4}])
    assert plan_member(row(core="x"), moved_on)[1][0].command_id != first[0].command_id
    new = plan_member(row(external_code="TTV-2", full_name="Người mới"), INDEX)[1]
    assert new[0].command == "enroll_member" and new[0].creates
    assert (
        new[0].command_id
        == plan_member(row(external_code="TTV-2", full_name="Người mới"), INDEX)[1][0].command_id
    )


@pytest.mark.fast
@pytest.mark.parametrize(
    "values, reason",
    [
        ({"role": "chủ tịch"}, "role"),
        ({"unit": "CB99"}, "not on the roster"),
        ({"full_name": "  "}, "full_name is required"),
        ({"core": "perhaps"}, "core"),
        ({"enrolled_on": "31/02/2022", "external_code": "NEW"}, "enrolled_on"),
    ],
)
def test_bad_rows_say_why(values: dict[str, str], reason: str) -> None:
    with pytest.raises(RowError, match=reason):
        plan_member(row(**values), INDEX)


# ---------------------------------------------------------------- through NATS


async def count(nc: Client) -> int:
    return int((await nc.jetstream().stream_info("ROSTER")).state.messages)


async def types_since(nc: Client, after: int) -> Counter[str]:
    js = nc.jetstream()
    last = await count(nc)
    found: Counter[str] = Counter()
    for seq in range(after + 1, last + 1):
        found[json.loads((await js.get_msg("ROSTER", seq)).data)["type"]] += 1
    return found


async def test_import_of_300_vietnamese_rows_is_idempotent(settings: Settings, nc: Client) -> None:
    async with roster_running(settings, nc), Client_(settings) as client:
        units = await run_import(client, UNITS_CSV.encode())
        assert (units.created, units.rejected) == (14, []), units.as_dict()
        assert (await run_import(client, UNITS_CSV.encode())).unchanged == 14

        rows = member_rows()
        first = await run_import(client, to_csv(rows))
        assert first.as_dict()["created"] == 300 and not first.rejected, first.as_dict()
        written = await count(nc)
        assert written == 14 + 300

        # The roster lists them page by page, each page in (name, id) order after the last.
        pages, after = [], None
        while True:
            page = await client.request(
                "qry.roster.list_members", {"limit": 120, **({"after": after} if after else {})}
            )
            pages.append(page["data"])
            after = page.get("next")
            if after is None:
                break
        assert [len(p) for p in pages] == [120, 120, 60]
        listed = [(m["full_name"].casefold(), m["member_id"]) for p in pages for m in p]
        assert len(set(listed)) == 300 and listed == sorted(listed)
        with pytest.raises(RequestFailed) as bad_cursor:
            await client.request("qry.roster.list_members", {"after": "bm90IGEgY3Vyc29y"})
        assert bad_cursor.value.reply["code"] == "validation_failed"

        again = await run_import(client, to_csv(rows))
        assert (again.created, again.changed, again.unchanged, len(again.rejected)) == (
            0,
            0,
            300,
            0,
        )
        assert await count(nc) == written  # the second import wrote no event

        # A month later: corrections, moves, promotions, a retirement and two bad rows.
        rows[20][0] = "Nguyễn Văn Đã Sửa"  # name (matched by code)
        rows[21][2] = "CB05" if rows[21][2] != "CB05" else "CB06"  # transfer
        rows[22][1], rows[22][2] = "báo cáo viên", "TP"  # promotion: transfer + role
        rows[23][5] = "x"  # core flag (was not set)
        rows[290][4] = "0988000111"  # contact, matched by unit + name
        rows[24].extend(["", "01/12/2022", "nghỉ hưu"])  # retirement (extra columns below)
        changed = [r + [""] * (10 - len(r)) for r in rows]
        changed[30][2] = "CB99"  # unknown unit
        changed[31][1] = "chủ tịch"  # unknown role
        text = (
            HEADER.rstrip("\n")
            + ",changed_on,retired_on,retire_reason\n"
            + "".join(",".join(r) + "\n" for r in changed)
        )
        before = await count(nc)
        result = await run_import(client, text.encode())
        assert [r["line"] for r in result.rejected] == [32, 33], result.rejected
        assert (result.created, result.changed, result.unchanged) == (0, 6, 292), result.as_dict()
        assert await types_since(nc, before) == Counter(
            {
                "MemberDetailsCorrected": 2,
                "MemberTransferred": 2,
                "MemberRoleChanged": 1,
                "MemberCoreFlagSet": 1,
                "MemberRetired": 1,
            }
        )
        after_change = await count(nc)
        rerun = await run_import(client, text.encode())
        assert (rerun.changed, rerun.unchanged, len(rerun.rejected)) == (0, 298, 2)
        assert await count(nc) == after_change


async def test_cli_import_and_queries_through_a_subprocess(
    settings: Settings, nc: Client, tmp_path: Path
) -> None:
    env = {**os.environ, "BRIEFINGS_NATS_URL": settings.nats_url, "COLUMNS": "200"}

    async def cli(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "briefings",
            "roster",
            *args,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode or 0, out.decode(), err.decode()

    units_file = tmp_path / "units.csv"
    units_file.write_text(UNITS_CSV, encoding="utf-8")
    members_file = tmp_path / "members.csv"
    rows = member_rows(30)
    rows.append(["Người Lạ", "ttv", "KHONGCO", "", "", "", ""])
    members_file.write_bytes(to_csv(rows))
    async with roster_running(settings, nc):
        code, out, err = await cli("import", str(units_file), "--json")
        assert code == 0, err
        assert json.loads(out)["created"] == 14
        code, out, err = await cli("import", str(members_file), "--json")
        summary = json.loads(out)
        assert code == 2 and summary["created"] == 30 and summary["rejected"] == 1, (out, err)
        assert summary["rejections"][0]["line"] == 32
        code, out, _ = await cli("import", str(members_file))
        assert code == 2 and "unchanged" in out and "line 32" in out
        # A file with an unterminated quote: the documented error shape, nothing written.
        broken = tmp_path / "broken.csv"
        broken.write_text(HEADER + 'Lê Văn Mới,ttv,CB01,NEW-1,,,\n"Trần Thị Mới,ttv,CB01\n')
        before = await count(nc)
        code, out, err = await cli("import", str(broken), "--json")
        refusal = json.loads(out)
        assert code == 1 and "Traceback" not in err, err
        assert (refusal["ok"], refusal["code"], refusal["context"]["line"]) == (
            False,
            "validation_failed",
            3,
        )
        assert await count(nc) == before
        # The rest of the CLI is covered by test_cli.py (CliRunner, in process).


@pytest.mark.fast
def test_a_retired_member_is_reenrolled_only_by_an_empty_retired_on_cell() -> None:
    gone = RosterIndex(INDEX.units, [{**INDEX.members[0], "retired_on": "2022-06-01"}])
    assert plan_member(row(), gone)[1] == []  # no retired_on column: left alone
    _, planned = plan_member(row(retired_on="", core="x"), gone)
    assert [p.command for p in planned] == ["reenroll_member", "set_member_core"]
    with pytest.raises(RowError, match="retired"):
        plan_member(row(retired_on="01/06/2022", core="x"), gone)


@pytest.mark.fast
def test_formula_cells_are_refused_but_phone_numbers_pass() -> None:
    refuse_formulas({"full_name": "Lê Văn A", "contact": "+84 912 345 678"})
    refuse_formulas({"full_name": "Lê Văn B", "contact": "-"})
    for cell in ("=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A2)"):
        try:
            refuse_formulas({"full_name": cell})
        except RowError as exc:
            assert "formula" in str(exc)
        else:
            raise AssertionError(f"{cell!r} was accepted")


MEMBERS_HEAD = "full_name,role,unit\nNguyễn Văn A,ttv,CB01\n"


@pytest.mark.parametrize(
    "text, line, reason",
    [
        (MEMBERS_HEAD + "Lê Văn B,ttv," + "x" * 131_073 + "\n", 3, "longer than 131,072"),
        # An unterminated quote swallowed the next rows into one cell.
        (MEMBERS_HEAD + '"Lê Văn B,ttv,CB01\nTrần Thị C,ttv,CB01\n', 3, "quoted cell"),
        # ...or ran to the next quote, somewhere in a later row.
        (MEMBERS_HEAD + '"Lê Văn B,ttv,CB01\nTrần "C",ttv,CB01\nVõ D,ttv,CB01\n', 3, "quoted"),
        (MEMBERS_HEAD + 'Lê Văn B,ttv,"CB\n01"\n', 3, "runs over lines 3-4"),
        ("full_name,role,unit,mã,code\nNguyễn Văn A,ttv,CB01,A1,A2\n", 1, "'external_code'"),
        ("full_name,role,unit,Role\nNguyễn Văn A,ttv,CB01,bcv\n", 1, "appears twice"),
    ],
)
@pytest.mark.fast
def test_files_that_cannot_be_read_exactly_are_refused_with_line_and_reason(
    text: str, line: int, reason: str
) -> None:
    with pytest.raises(FileError, match=reason) as refused:
        read_table(text.encode())
    assert refused.value.line == line
    reply = refused.value.reply("members.csv").model_dump(mode="json")
    assert reply["ok"] is False and reply["code"] == "validation_failed"
    assert reply["context"] == {"file": "members.csv", "line": line}


@pytest.mark.fast
def test_a_quoted_comma_and_a_doubled_quote_still_read() -> None:
    _, rows = read_table('full_name,role,unit\n"Lê, Văn ""Nam""",ttv,CB01\n'.encode())
    assert rows[0].values["full_name"] == 'Lê, Văn "Nam"'


@pytest.mark.fast
def test_units_plan_in_file_order_a_new_parent_serves_later_rows() -> None:
    index = RosterIndex([dict(u) for u in INDEX.units], [])
    rows = [
        c.ImportRow(
            line=2,
            values={
                "name": "Đảng bộ Phường 1",
                "kind": "đảng bộ",
                "parent": "TP",
                "external_code": "DB1",
            },
        ),
        c.ImportRow(line=3, values={"name": "Chi bộ KP 9", "kind": "chi bộ", "parent": "DB1"}),
        c.ImportRow(line=4, values={"name": "Chi bộ 1", "kind": "city"}),
        c.ImportRow(line=5, values={"name": "=1+1", "kind": "chi bộ"}),
    ]
    planned = plan_rows("units", rows, index)
    assert [p.commands[0].command for p in planned[:2]] == ["register_unit", "register_unit"]
    assert (
        planned[0].identity == "unit:DB1" and planned[1].commands[0].payload["parent_id"] == "DB1"
    )
    assert planned[2].error is not None and "kind cannot change" in planned[2].error
    assert planned[3].error is not None and "formula" in planned[3].error


@pytest.mark.fast
def test_a_row_the_command_contract_refuses_is_rejected_when_planned() -> None:
    _, planned = plan_member(row(), INDEX)
    assert planned == []
    with pytest.raises(RowError, match="external_code"):
        plan_member(row(external_code="X" * 65, full_name="Người mới"), INDEX)
