"""The sign-in sheet: reading the CSV, matching rows (never guessing), and the CLI end to end."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from typer.testing import CliRunner

from briefings.cli import app as cli_app
from briefings.cli.events import SheetError, read_sheet
from contracts import roster as r
from runtime.nats_server import NatsServer
from runtime.settings import Settings
from services.events.domain.members import KnownMember, apply_roster_event
from services.events.domain.sheets import RowStatus, SheetMatcher
from tests.events.test_service import enroll, held_conference, ok, units
from tests.support import ROOT, running_service

DAY = date(2022, 12, 9)
UNITS = {"cell-a": "Chi bộ Phường 1", "cell-b": "Chi bộ Phường 2"}


# ------------------------------------------------------------------ reading the CSV


def test_semicolon_sheet_with_bom_and_vietnamese_names(tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    sheet.write_bytes(
        "\ufeffSTT;Họ và tên;Mã số\n1;Nguyễn Thị Hoa;TTV-001\n\n2;  Lê Văn Nam ;\n".encode()
    )
    lines = read_sheet(sheet)
    assert [(x.row, x.external_code, x.full_name) for x in lines] == [
        (2, "TTV-001", "Nguyễn Thị Hoa"),
        (4, None, "Lê Văn Nam"),
    ]


def test_comma_sheet_with_codes_only(tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("external_code\nA1\nA2\n", encoding="utf-8")
    assert [x.external_code for x in read_sheet(sheet)] == ["A1", "A2"]


def test_a_sheet_without_a_known_column_is_refused(tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(SheetError):
        read_sheet(sheet)


# ------------------------------------------------------------------ matching, pure


def known(
    member_id: str,
    name: str,
    unit: str,
    code: str | None = None,
    enrolled: date = date(2022, 1, 1),
    retired: date | None = None,
) -> KnownMember:
    member = apply_roster_event(
        None,
        r.MemberEnrolled(
            member_id=member_id,
            full_name=name,
            role=r.Role.PROPAGANDIST,
            unit_id=unit,
            external_code=code,
            effective_on=enrolled,
        ),
        1,
    )
    if retired:
        member = apply_roster_event(
            member, r.MemberRetired(member_id=member_id, effective_on=retired), 2
        )
    assert member is not None
    return member


ROSTER = [
    known("a1", "Nguyễn Văn An", "cell-a", code="TTV-001"),
    known("a2", "Nguyễn Văn An", "cell-b", code="TTV-002"),
    known("h1", "Trần Thị Hòa", "cell-a"),
    known("old", "Phạm Văn Cũ", "cell-b", retired=date(2022, 6, 30)),
]


def test_same_name_in_two_units_is_ambiguous_with_both_units_suggested() -> None:
    [row] = SheetMatcher(ROSTER, DAY, UNITS).match_all([(2, None, "nguyễn  văn an")])
    assert row.status is RowStatus.AMBIGUOUS and row.member_id is None
    assert {(s["member_id"], s["unit_name"], s["external_code"]) for s in row.suggestions} == {
        ("a1", "Chi bộ Phường 1", "TTV-001"),
        ("a2", "Chi bộ Phường 2", "TTV-002"),
    }


def test_the_external_code_decides_before_the_name() -> None:
    [row] = SheetMatcher(ROSTER, DAY, UNITS).match_all([(2, "ttv-002", "Nguyễn Văn An")])
    assert row.status is RowStatus.MATCHED and row.member_id == "a2" and row.unit_id == "cell-b"


def test_an_unknown_code_is_not_guessed_from_the_name() -> None:
    [row] = SheetMatcher(ROSTER, DAY, UNITS).match_all([(2, "TTV-999", "Trần Thị Hòa")])
    assert row.status is RowStatus.UNMATCHED
    assert [s["member_id"] for s in row.suggestions] == ["h1"]


def test_a_name_without_diacritics_is_suggested_not_matched() -> None:
    [row] = SheetMatcher(ROSTER, DAY, UNITS).match_all([(2, None, "Tran Thi Hoa")])
    assert row.status is RowStatus.UNMATCHED
    assert row.suggestions[0]["member_id"] == "h1"


def test_a_member_retired_before_the_date_is_listed_as_inactive() -> None:
    [row] = SheetMatcher(ROSTER, DAY, UNITS).match_all([(2, None, "Phạm Văn Cũ")])
    assert row.status is RowStatus.INACTIVE and "retired on 2022-06-30" in row.message


def test_the_same_member_twice_on_a_sheet_counts_once() -> None:
    rows = SheetMatcher(ROSTER, DAY, UNITS).match_all(
        [(2, None, "Trần Thị Hòa"), (3, None, "TRẦN THỊ HÒA")]
    )
    assert [x.status for x in rows] == [RowStatus.MATCHED, RowStatus.DUPLICATE]


# ------------------------------------------------------------------ the CLI, end to end


async def briefings(nats: NatsServer, data_dir: Path, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "BRIEFINGS_NATS_URL": nats.url,
        "BRIEFINGS_DATA_DIR": str(data_dir),
        "BRIEFINGS_REQUEST_TIMEOUT": "30",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "briefings",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_import_records_matches_and_lists_the_rest(
    settings: Settings, nc: Client, nats_server: NatsServer, tmp_path: Path
) -> None:
    sheet = tmp_path / "sign-in.csv"
    sheet.write_bytes(
        (
            "\ufeffHọ và tên;Mã số\n"
            "Nguyễn Thị Hoa;\n"  # by name
            ";TTV-007\n"  # by code
            "Lê Văn Nam;\n"  # same name in two units: for the clerk
            "Nguyen Thi Hoa;\n"  # no diacritics: suggested, not matched
            "Người Lạ;\n"  # nobody
            "nguyễn thị hoa;\n"
        ).encode()
    )  # the first row again: counted once
    async with running_service("roster", settings), running_service("events", settings):
        await units(nc)
        await enroll(nc, "hoa", "Nguyễn Thị Hoa")
        await enroll(nc, "code7", "Đỗ Minh Bảy", code="TTV-007")
        await enroll(nc, "nam-a", "Lê Văn Nam", unit="cell-a")
        await enroll(nc, "nam-b", "Lê Văn Nam", unit="cell-b")
        await held_conference(nc)

        code, out, err = await briefings(
            nats_server, tmp_path, "events", "attendance", "import", "c-12", str(sheet), "--json"
        )
        assert code == 2, err
        result: dict[str, Any] = json.loads(out)
        summary = result["summary"]
        assert summary["recorded"] == 2 and summary["ambiguous"] == 1
        assert summary["unmatched"] == 2 and summary["duplicate_rows"] == 1
        by_row = {x["row"]: x for x in result["rows"]}
        assert by_row[4]["status"] == "ambiguous"
        assert {s["member_id"] for s in by_row[4]["suggestions"]} == {"nam-a", "nam-b"}
        assert by_row[5]["suggestions"][0]["member_id"] == "hoa"

        listed = (await ok(nc, "qry.events.list_attendance", {"conference_id": "c-12"}))["data"]
        assert sorted(m["member_id"] for m in listed["members"]) == ["code7", "hoa"]

        # Run again: nothing new, every match replays; the plain output lists the clerk's rows.
        code, out, err = await briefings(
            nats_server, tmp_path, "events", "attendance", "import", "c-12", str(sheet)
        )
        assert code == 2, err
        assert "replayed: 2" in out and "recorded: 0" in out
        assert "Chi bộ Phường 2" in out
    info = await nc.jetstream().stream_info("EVENTS")
    assert info.state.messages == 4  # scheduled, held, two attendances


async def test_import_of_a_clean_sheet_exits_zero(
    settings: Settings, nc: Client, nats_server: NatsServer, tmp_path: Path
) -> None:
    sheet = tmp_path / "sign-in.csv"
    sheet.write_text("full_name,external_code\nNguyễn Thị Hoa,\n", encoding="utf-8")
    async with running_service("roster", settings), running_service("events", settings):
        await units(nc)
        await held_conference(nc)
        await enroll(nc, "hoa", "Nguyễn Thị Hoa")  # enrolled just before the import
        code, out, err = await briefings(
            nats_server, tmp_path, "events", "attendance", "import", "c-12", str(sheet), "--json"
        )
        assert code == 0, (out, err)
        assert json.loads(out)["summary"]["recorded"] == 1


def cli(nats: NatsServer, data_dir: Path, *args: str) -> tuple[int, str]:
    """The Typer app in this process (no interpreter start-up); run it in a thread."""
    result = CliRunner().invoke(
        cli_app,
        list(args),
        env={
            "BRIEFINGS_NATS_URL": nats.url,
            "BRIEFINGS_DATA_DIR": str(data_dir),
            "BRIEFINGS_REQUEST_TIMEOUT": "30",
        },
    )
    # The in-process services log to the same (captured) stdout: keep the printed JSON only.
    lines = result.stdout.splitlines()
    start = lines.index("{") if "{" in lines else 0
    end = lines.index("}", start) + 1 if "}" in lines[start:] else len(lines)
    return result.exit_code, "\n".join(lines[start:end])


async def test_cli_schedules_holds_records_and_shows(
    settings: Settings, nc: Client, nats_server: NatsServer, tmp_path: Path
) -> None:
    async with running_service("roster", settings), running_service("events", settings):
        await units(nc)
        await enroll(nc, "hoa", "Nguyễn Thị Hoa")
        steps = [
            (
                "schedule",
                "Hội nghị tổng kết",
                "--on",
                "2022-12-09",
                "--kind",
                "information",
                "--kind",
                "review",
                "--presenter",
                "Nguyễn Văn A|Ban Tuyên giáo Trung ương",
                "--topic",
                "Đối ngoại",
                "--invite",
                "cell-a",
                "--conference-id",
                "tk-2022",
            ),
            ("hold", "tk-2022", "--on", "2022-12-09"),
            ("attendance", "record", "tk-2022", "hoa"),
            ("attendance", "guests", "tk-2022", "board_leaders", "12"),
        ]
        for step in steps:
            code, out = await asyncio.to_thread(
                cli, nats_server, tmp_path, "events", *step, "--json"
            )
            assert code == 0, (step, out)
            assert json.loads(out)["ok"], out
        code, out = await asyncio.to_thread(
            cli,
            nats_server,
            tmp_path,
            "events",
            "attendance",
            "record",
            "tk-2022",
            "nobody",
            "--json",
        )
        assert code == 1 and json.loads(out)["rule"] == "MemberMustExist"
        code, out = await asyncio.to_thread(
            cli, nats_server, tmp_path, "events", "show", "tk-2022", "--json"
        )
        shown = json.loads(out)
        assert shown["kinds"] == ["information", "review"] and shown["total_attendance"] == 13
        assert shown["presenters"] == [
            {"name": "Nguyễn Văn A", "affiliation": "Ban Tuyên giáo Trung ương"}
        ]
