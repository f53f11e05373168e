"""Bad input through the CSV door: `briefings roster import` with broken encodings, missing
columns, formula-injection cells and 100,000 rows. A clear report, and no partial garbage:
a file that cannot be read writes nothing; a bad row is rejected with its line and reason."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from runtime.settings import Settings
from tests.reliability.conftest import Report
from tests.reliability.helpers import message_counts, stream_envelopes
from tests.support import ROOT, request, running_service

UNITS = "name,kind,external_code,parent\nCấp thành phố,city,city,\nChi bộ 1,chi bộ,cb1,city\n"
HEADER = "full_name,role,unit,external_code,enrolled_on\n"


async def briefings(nats_url: str, *args: str, timeout: float = 600) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "BRIEFINGS_NATS_URL": nats_url,
        "BRIEFINGS_LOG_LEVEL": "error",
        "COLUMNS": "200",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "briefings",
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def import_file(settings: Settings, path: Path, *extra: str) -> tuple[int, Any, str]:
    code, out, err = await briefings(
        settings.nats_url, "roster", "import", str(path), "--json", *extra
    )
    try:
        parsed = json.loads(out) if out.strip() else None
    except ValueError:
        parsed = out
    return code, parsed, err


async def with_units(settings: Settings, nc: Client, tmp_path: Path) -> None:
    units = tmp_path / "units.csv"
    units.write_text(UNITS, encoding="utf-8")
    code, summary, err = await import_file(settings, units)
    assert code == 0 and summary["created"] == 2, (summary, err)


async def test_unreadable_files_are_refused_whole_and_write_nothing(
    settings: Settings, nc: Client, tmp_path: Path, report: Report
) -> None:
    rows = HEADER + "Nguyễn Văn A,ttv,cb1,A1,2022-01-05\nTrần Thị B,ttv,cb1,B1,2022-01-05\n"
    files = {
        "cp1258 (Windows Vietnamese)": rows.encode("cp1258", errors="replace"),
        "latin-1 with replacement": rows.encode("latin-1", errors="replace").replace(b"?", b"\xe9"),
        "UTF-16 with BOM": rows.encode("utf-16"),
        "one invalid byte on the last line": rows.encode() + b"L\xea Van C,ttv,cb1,C1,2022-01-05\n",
        "missing column role": b"full_name,unit\nNguy\xe1\xbb\x85n V\xc4\x83n A,cb1\n",
        "header only, no name columns": b"foo,bar\n1,2\n",
        "empty file": b"",
        "binary garbage": bytes(range(256)) * 8,
    }
    async with running_service("roster", settings):
        await with_units(settings, nc, tmp_path)
        before = await message_counts(nc)

        async def attempt(label: str, data: bytes) -> None:
            path = tmp_path / f"bad-{abs(hash(label))}.csv"
            path.write_bytes(data)
            code, _, err = await import_file(settings, path)
            assert code == 1, (label, err)
            assert "cannot import" in err and "Traceback" not in err, (label, err)

        await asyncio.gather(*(attempt(label, data) for label, data in files.items()))
        assert await message_counts(nc) == before  # nothing written by any of them
    report.add(
        "input",
        "CSV files that cannot be read (encodings, missing columns, empty, binary)",
        len(files),
        "each refused whole with a reason (exit 1), 0 events",
    )


async def test_bad_rows_are_rejected_with_line_and_reason_good_rows_go_in(
    settings: Settings, nc: Client, tmp_path: Path, report: Report
) -> None:
    text = (
        HEADER
        + "\n".join(
            [
                "Nguyễn Văn A,ttv,cb1,A1,2022-01-05",  # line 2: good
                "Trần Thị B,ttv",  # line 3: cells missing
                "Lê Văn C,singer,cb1,C1,2022-01-05",  # line 4: unknown role
                "Phạm Thị D,ttv,no-such-unit,D1,2022-01-05",  # line 5: unknown unit
                "Hồ Văn E,ttv,cb1,E1,31/02/2022",  # line 6: no such date
                "Vũ Thị F,ttv,cb1,F1,99999-01-01",  # line 7: out of range
                "Đỗ Văn G,bcv,city,G1,2022-01-05",  # line 8: good (reporter at city level)
                "Nguyễn Văn A,ttv,cb1,A1,2022-01-05",  # line 9: the same member as line 2
                "," * 4,  # line 10: blank, skipped
                "Bùi Văn H,ttv,cb1,H1,2022-01-05,surplus",  # line 11: an extra cell
            ]
        )
        + "\n"
    )
    path = tmp_path / "members.csv"
    path.write_text(text, encoding="utf-8")
    async with running_service("roster", settings):
        await with_units(settings, nc, tmp_path)
        code, summary, err = await import_file(settings, path)
        assert code == 2, err
        rejected = {r["line"]: r["reason"] for r in summary["rejections"]}
        assert set(rejected) >= {3, 4, 5, 6, 7, 9}, rejected
        assert 2 not in rejected and 8 not in rejected
        assert all(reason for reason in rejected.values())
        members = (await request(nc, "qry.roster.list_members", {}))["data"]
        names = sorted(m["full_name"] for m in members)
        assert set(names) >= {"Nguyễn Văn A", "Đỗ Văn G"}
        assert len(names) == summary["created"]  # what is on the roster is what was reported
        assert not {"Trần Thị B", "Lê Văn C", "Phạm Thị D", "Hồ Văn E", "Vũ Thị F"} & set(names)
        # Again: nothing new (rejections reported again, no event).
        before = await message_counts(nc)
        code, again, _ = await import_file(settings, path)
        assert code == 2 and again["events_written"] == 0 and await message_counts(nc) == before
    report.add(
        "input",
        "CSV rows with missing cells, bad role/unit/date, duplicates, extra cells",
        10,
        f"rejected lines {sorted(rejected)} with reasons; good rows in; re-import writes nothing",
    )


FORMULAS = [
    "=cmd|' /C calc'!A0",
    "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(A1:A2)",
    "\t=1+1",
    '=HYPERLINK("http://evil","x")',
]
DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


async def test_formula_cells_are_not_stored_as_formulas(
    settings: Settings, nc: Client, tmp_path: Path, report: Report
) -> None:
    lines = [
        f'"{f.replace(chr(34), chr(34) * 2)}",ttv,cb1,X{i},2022-01-05'
        for i, f in enumerate(FORMULAS)
    ]
    path = tmp_path / "formulas.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    async with running_service("roster", settings):
        await with_units(settings, nc, tmp_path)
        code, summary, err = await import_file(settings, path)
        assert code in (0, 2), err
    stored = [
        e["payload"].get("full_name", "")
        for e in await stream_envelopes(nc, "ROSTER")
        if e["type"] == "MemberEnrolled"
    ]
    rejected = len(summary["rejections"])
    report.add(
        "input",
        "CSV formula-injection cells",
        len(FORMULAS),
        f"{rejected} rejected, {len(stored)} stored",
    )
    assert not [s for s in stored if s.startswith(DANGEROUS_START)], stored


ROWS = int(os.environ.get("IMPORT_ROWS", "100000"))


async def test_a_hundred_thousand_bad_rows_get_a_clear_report_and_write_nothing(
    settings: Settings, nc: Client, tmp_path: Path, report: Report
) -> None:
    """100,000 rows naming a unit that does not exist: all rejected, with their lines."""
    body = "".join(f"Người {i},ttv,no-such-unit,N{i},2022-01-05\n" for i in range(ROWS))
    path = tmp_path / "big.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    async with running_service("roster", settings):
        await with_units(settings, nc, tmp_path)
        before = await message_counts(nc)
        started = time.monotonic()
        code, summary, err = await import_file(settings, path)
        took = time.monotonic() - started
        assert code == 2, err
        assert summary["rows"] == ROWS and len(summary["rejections"]) == ROWS
        assert summary["created"] == 0 and summary["events_written"] == 0
        assert [r["line"] for r in summary["rejections"][:3]] == [2, 3, 4]
        assert await message_counts(nc) == before
        # The same file with one byte that is not UTF-8 near the end: refused whole.
        path.write_bytes(path.read_bytes()[:-20] + b"\xff" + path.read_bytes()[-19:])
        code, _, err = await import_file(settings, path)
        assert code == 1 and "not UTF-8" in err
    report.add(
        "input",
        f"CSV of {ROWS:,} rows, every row bad",
        ROWS,
        f"all {ROWS:,} rejected with line numbers in {took:.1f} s, 0 events; "
        "one bad byte: file refused whole",
        seconds_import=round(took, 1),
    )


@pytest.mark.reliability
@pytest.mark.timeout(1800)
async def test_a_hundred_thousand_good_rows_go_in_once(
    settings: Settings, nc: Client, tmp_path: Path, report: Report
) -> None:
    """The full-size import (minutes): every row enrolled once, a re-run writes nothing."""
    body = "".join(f"Người {i},ttv,cb1,N{i},2022-01-05\n" for i in range(ROWS))
    path = tmp_path / "big.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    async with running_service("roster", settings):
        await with_units(settings, nc, tmp_path)
        started = time.monotonic()
        code, summary, err = await import_file(settings, path, "--concurrency", "32")
        took = time.monotonic() - started
        assert code == 0, err
        assert summary["created"] == ROWS and summary["events_written"] == ROWS
        # The re-import plans behind the roster service and writes nothing; the CLI lists
        # every member page by page (one unpaged reply stopped at about 8,300 members).
        started = time.monotonic()
        code, again, err = await import_file(settings, path)
        took_again = time.monotonic() - started
        assert code == 0 and (again["unchanged"], again["events_written"]) == (ROWS, 0), err
        code, out, err = await briefings(settings.nats_url, "roster", "members", "--json")
        assert code == 0 and len(json.loads(out)) == ROWS, err
    # One event per row, each on its own member subject (stream figures: reading 100k
    # envelopes back is the auditors' job and slow here).
    info = json.loads((await nc.request("$JS.API.STREAM.INFO.ROSTER", b"", timeout=10)).data)
    assert info["state"]["messages"] == ROWS + 2 and info["state"]["num_subjects"] == ROWS + 2
    report.add(
        "load",
        f"CSV import of {ROWS:,} good rows",
        ROWS,
        f"{ROWS:,} enrolled once in {took:.0f} s ({ROWS / took:.0f} rows/s); re-import "
        f"{took_again:.0f} s, 0 events; `roster members` lists all {ROWS:,}",
        seconds_import=round(took, 1),
        seconds_reimport=round(took_again, 1),
    )


LARGE = int(os.environ.get("LARGE_ROSTER_ROWS", "12000"))


@pytest.mark.timeout(900)
async def test_a_roster_past_the_payload_limit_imports_reimports_and_lists(
    settings: Settings, nc: Client, tmp_path: Path, report: Report
) -> None:
    """12,000 members: one unpaged list of them passes NATS's 1 MB payload limit (it did at
    about 8,300), which stopped `roster members` and every re-import. Planning happens behind
    ``qry.roster.plan_import`` and lists come in pages, so both work at any size."""
    body = "".join(f"Người Thứ {i},ttv,cb1,L{i},2022-01-05\n" for i in range(LARGE))
    path = tmp_path / "large.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    async with running_service("roster", settings):
        await with_units(settings, nc, tmp_path)
        code, first, err = await import_file(settings, path, "--concurrency", "32")
        assert code == 0 and first["created"] == LARGE, (first, err)
        written = await message_counts(nc)
        started = time.monotonic()
        code, again, err = await import_file(settings, path)
        took = time.monotonic() - started
        assert code == 0, (again, err)
        assert (again["unchanged"], again["events_written"]) == (LARGE, 0), again
        assert await message_counts(nc) == written
        # One changed row among them is found and changed alone.
        path.write_text(HEADER + body.replace("Người Thứ 7,", "Người Thứ Bảy,"), encoding="utf-8")
        code, changed, err = await import_file(settings, path)
        assert code == 0 and (changed["changed"], changed["unchanged"]) == (1, LARGE - 1), changed
        # Every list reply is a page far below the limit; the CLI follows the pages.
        page = await nc.request("qry.roster.list_members", b"{}", timeout=30)
        assert len(page.data) < 512 * 1024 + 4096 and json.loads(page.data)["next"]
        code, out, err = await briefings(settings.nats_url, "roster", "members", "--json")
        assert code == 0, err
        assert len({m["member_id"] for m in json.loads(out)}) == LARGE
    report.add(
        "input",
        f"roster of {LARGE:,} members (past the 1 MB payload limit unpaged)",
        LARGE,
        f"re-import plans behind the service ({took:.0f} s, 0 events), one change found, "
        "`roster members` lists all in pages",
        seconds_reimport=round(took, 1),
    )
