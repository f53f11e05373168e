"""Text is data on the way out, and ``--json`` means JSON only (issue #14).

Real processes: a nats-server, the four services, the CLI as a subprocess per command.
Every command with ``--json`` (or ``--format json``) runs and its stdout is parsed as one
JSON document — whether it succeeded or failed (a failure is the one error shape). A table
of invocations covers every such command: a new one without an entry fails the test.
Names are printed literally: a unit named ``[/] x`` crashed ``roster unit`` with a
``MarkupError`` traceback.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from contracts.subjects import SERVICES
from runtime.nats_server import NatsServer
from tests.reliability.conftest import Report
from tests.support import ROOT, ServiceProcess, connect, settings_for, wait_healthy

pytestmark = pytest.mark.timeout(600)

NAME = "[/] x <img src=x onerror=alert(1)>"
ENROLLED = ("--effective-on", "2022-06-01", "--json")

# Each command that has --json / --format json, run in this order against one system.
# (command words, arguments, allowed exit codes). "{tmp}" is the test's folder.
INVOCATIONS: list[tuple[str, list[str], set[int]]] = [
    ("status", ["--json"], {0, 1}),
    (
        "roster register-unit",
        [NAME, "--unit-id", "u1", "--kind", "party_cell", "--effective-on", "2022-01-01", "--json"],
        {0},
    ),
    ("roster rename-unit", ["u1", NAME + " 2", "--json"], {0}),
    ("roster unit", ["u1", "--json"], {0}),
    ("roster units", ["--json"], {0}),
    (
        "roster enroll",
        [*("Nguyễn Văn [b]An[/b]", "--unit", "u1", "--member-id", "m1"), *ENROLLED],
        {0},
    ),
    ("roster reenroll", ["m1", "--unit", "u1", "--json"], {1}),
    ("roster correct", ["m1", "--contact", "0903 000 000", "--json"], {0}),
    ("roster change-code", ["m1", "C-001", "--json"], {0}),
    ("roster change-role", ["m1", "reporter", "--json"], {0, 1}),
    ("roster transfer", ["m1", "nowhere", "--json"], {1}),
    ("roster set-core", ["m1", "--json"], {0}),
    ("roster member", ["m1", "--json"], {0}),
    ("roster members", ["--json"], {0}),
    ("roster find", ["--name", "Nguyễn Văn [b]An[/b]", "--json"], {0}),
    ("roster import", ["{tmp}/units.csv", "--json"], {0, 2}),
    ("roster import", ["{tmp}/bad.csv", "--json"], {1}),
    (
        "events schedule",
        [
            "Hội nghị [red]",
            "--on",
            "2023-03-01",
            "--kind",
            "information",
            "--conference-id",
            "c1",
            "--json",
        ],
        {0},
    ),
    ("events reschedule", ["c1", "--on", "2023-03-02", "--json"], {0}),
    ("events hold", ["c1", "--on", "2023-03-02", "--json"], {0}),
    ("events attendance record", ["c1", "m1", "--json"], {0}),
    ("events attendance correct", ["c1", "m1", "--reason", "wrong row", "--json"], {0}),
    ("events attendance guests", ["c1", "other", "3", "--json"], {0}),
    ("events attendance list", ["c1", "--json"], {0}),
    ("events attendance import", ["c1", "{tmp}/sheet.csv", "--json"], {0, 2}),
    ("events list", ["--json"], {0}),
    ("events show", ["c1", "--json"], {0}),
    ("events cancel", ["nowhere", "--json"], {1}),
    (
        "awards grant",
        [
            "Giấy khen <b>",
            "--member",
            "m1",
            "--period",
            "2023",
            "--decision",
            "QĐ 1",
            "--date",
            "2023-12-20",
            "--json",
        ],
        {0, 1},
    ),
    ("awards list", ["--json"], {0}),
    ("awards show", ["nowhere", "--json"], {1}),
    ("awards revoke", ["nowhere", "--decision", "QĐ 2", "--date", "2023-12-21", "--json"], {1}),
    ("awards candidates", ["2023", "--json"], {0}),
    ("report annual", ["2023", "--format", "json"], {0}),
    ("report participation", ["2023", "--json"], {0}),
    ("report issued", ["--json"], {0, 1}),
    ("reporting status", ["--json"], {0}),
    ("audit verify", ["--no-progress", "--json"], {0}),
    ("audit replay", ["2023", "--format", "json"], {0}),
    ("audit check-receipt", ["{tmp}/receipt.json", "--json"], {1, 2}),
    ("audit explain", ["2023", "attendances", "--json"], {0, 1}),
    ("audit diff", ["2023", "--as-of", "2023-06-01T00:00:00+07:00", "--json"], {0, 1}),
    ("dlq list", ["--json"], {0}),
    ("dlq show", ["nowhere", "--json"], {1}),
    ("dlq retry", ["nowhere", "--json"], {1}),
    ("dlq discard", ["nowhere", "--reason", "test", "--json"], {1}),
    ("demo plan", ["--json"], {0}),
    ("roster retire", ["nowhere", "--json"], {1}),
    ("roster dissolve-unit", ["nowhere", "--json"], {1}),
    ("ops health", ["roster", "--json"], {0}),
    ("people list", ["--json"], {0}),
    ("people revoke", ["nobody", "--reason", "test", "--json"], {1}),
]
# A registered person turns signature enforcement on for every later unsigned command of the
# shared system: `people add` runs in the last test of this module.
RUN_LAST = {"people add"}
NOT_RUN = {"demo load"}  # loads a whole year: covered by tests/reliability/test_clients.py


def json_commands() -> set[str]:
    from typer.main import get_command

    from briefings.cli import app

    found: set[str] = set()

    def walk(cmd: Any, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        elif {"as_json", "fmt"} & {p.name for p in cmd.params}:
            found.add(" ".join(path))

    walk(get_command(app), [])
    return found


def test_every_json_command_has_an_invocation() -> None:
    assert {c for c, _, _ in INVOCATIONS} | NOT_RUN | RUN_LAST == json_commands()


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("output")
    server = NatsServer(tmp / "nats", log_file=tmp / "nats.log").start()
    settings = settings_for(server.url, tmp / "data")
    processes = [ServiceProcess(n, settings, tmp / f"{n}.log").start() for n in SERVICES]

    async def healthy() -> None:
        nc = await connect(server.url)
        try:
            for name in SERVICES:
                await wait_healthy(nc, name, timeout=120)
        finally:
            await nc.close()

    try:
        asyncio.run(healthy())
        yield server.url, tmp
    finally:
        for p in processes:
            try:
                p.terminate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        server.stop()


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "briefings", *args],
        env={**os.environ, "BRIEFINGS_NATS_URL": url, "BRIEFINGS_LOG_FORMAT": "json"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_every_json_command_prints_json_only(system: tuple[str, Path], report: Report) -> None:
    url, tmp = system
    (tmp / "units.csv").write_text("name,kind\nChi bộ [i]2[/i],party_cell\n", encoding="utf-8")
    (tmp / "bad.csv").write_text("nothing,useful\n1,2\n", encoding="utf-8")
    (tmp / "receipt.json").write_text("{not a receipt", encoding="utf-8")
    (tmp / "sheet.csv").write_text("external_code,full_name\nC-001,\nnobody,Ai Đó\n")
    problems = []
    for command, args, codes in INVOCATIONS:
        argv = [*command.split(), *(a.replace("{tmp}", str(tmp)) for a in args)]
        result = cli(url, *argv)
        if result.returncode == 2 and 2 in codes and not result.stdout:
            continue  # a usage error (typer): its message on stderr, nothing on stdout
        try:
            value = json.loads(result.stdout)
        except ValueError:
            problems.append(
                f"{command}: stdout is not one JSON document: {result.stdout[:300]!r} "
                f"(exit {result.returncode}; stderr {result.stderr[-500:]!r})"
            )
            continue
        if result.returncode not in codes:
            problems.append(
                f"{command}: exit {result.returncode}, expected {codes}: "
                f"{result.stdout[:300]} {result.stderr[-300:]}"
            )
        if result.returncode == 1 and isinstance(value, dict) and "code" in value:
            if value.get("ok") is not False or not {"message", "rule", "details", "context"} <= set(
                value
            ):
                problems.append(f"{command}: error not in the documented shape: {value}")
    report.add("input", "every --json command, stdout parsed", len(INVOCATIONS), "JSON only")
    assert not problems, "\n".join(problems)


def test_names_are_printed_literally(system: tuple[str, Path], report: Report) -> None:
    """The unit's name in every text output of it: no MarkupError, no lost brackets."""
    url, _ = system
    cli(url, "roster", "register-unit", NAME, "--unit-id", "lit", "--kind", "party_cell")
    for args in (["roster", "unit", "lit"], ["roster", "units"]):
        result = cli(url, *args)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        flat = " ".join(result.stdout.split())  # the table may wrap the name
        assert "[/] x" in flat or "[/]" in flat, result.stdout
    report.add("input", "a unit named '[/] x' plus an HTML tag in roster unit/units", 2, "literal")


def render(fn: Any, *args: Any) -> str:
    """What a CLI printing function writes to a terminal (a real rich console)."""
    from briefings.cli import client

    out = io.StringIO()
    original = client.console
    client.console = Console(file=out, width=200, force_terminal=True, color_system=None)
    try:
        fn(*args)
    finally:
        client.console = original
    return out.getvalue()


def test_control_characters_never_reach_the_terminal_raw(
    capsys: pytest.CaptureFixture[str], report: Report
) -> None:
    """ANSI escapes, bidi overrides and zero-width characters in stored data (written before
    the door refused them) are shown as visible escapes in tables and in JSON."""
    from briefings.cli.client import print_json, print_table

    nasty = "Tổ 1\x1b[31m red \u202eevil\u200b [bold]x[/bold]"
    table = render(print_table, [{"name": nasty}], ["name"], "t [/] x")
    assert "\x1b[31m" not in table and "\u202e" not in table and "\u200b" not in table
    assert "\\x1b[31m" in table and "\\u202e" in table and "[bold]x[/bold]" in table
    assert "t [/] x" in table

    print_json({"name": nasty})
    out = capsys.readouterr().out
    assert "\u202e" not in out and "\x1b" not in out
    assert json.loads(out) == {"name": nasty}
    report.add("input", "ANSI, bidi, zero-width characters in a table and JSON", 2, "escaped")


def _rename(value: Any, nasty: str) -> Any:
    """Every name and title in a summary replaced by ``nasty``."""
    if isinstance(value, dict):
        return {
            k: nasty if k in {"name", "title", "unit_name", "full_name"} else _rename(v, nasty)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rename(v, nasty) for v in value]
    return value


def test_markdown_output_passes_no_raw_html(report: Report) -> None:
    """A name with ``<img onerror>`` in the markdown (and HTML) summary is text, not HTML."""
    from briefings.report.formats import render_summary
    from contracts.reporting import AnnualSummaryQuery
    from services.reporting.read_model import ReadModel, memory_engine
    from tests.reporting.factories import sample_year

    model = ReadModel(memory_engine())
    model.apply(sample_year().events)
    summary = model.annual_summary(AnnualSummaryQuery(year=2022))
    nasty = "Chi bộ <img src=x onerror=alert(1)> [link](javascript:x) *b*"
    md = render_summary(_rename(summary, nasty), "markdown", "vi")
    assert nasty not in json.dumps(summary, ensure_ascii=False)  # the fixture had none
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md
    assert "[link](javascript" not in md and "\\[link\\]" in md
    page = render_summary(_rename(summary, nasty), "html", "vi")
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    report.add("input", "HTML (img onerror) and javascript: links in markdown", 1, "escaped")


def test_spreadsheet_cells_from_data_are_never_formulas(tmp_path: Path, report: Report) -> None:
    """The issued report's Excel tables: a title like ``=HYPERLINK(...)`` is a text cell."""
    from openpyxl import Workbook, load_workbook

    from briefings.report.office import _sheet

    values = ['=HYPERLINK("http://x","y")', "=1+1", "+1", "-2", "@SUM(A1)", "Hội nghị 01"]
    wb = Workbook()
    _sheet(wb, "t", ["title"], [[v] for v in values])
    wb.save(tmp_path / "t.xlsx")
    ws = load_workbook(tmp_path / "t.xlsx")["t"]
    cells = [ws.cell(row, 1) for row in range(2, 2 + len(values))]
    assert [c.value for c in cells] == values
    assert {c.data_type for c in cells} == {"s"}
    report.add("input", "formula-like text in the Excel report", len(values), "text cells")


def test_documents_reach_a_terminal_escaped_and_a_pipe_exact(report: Report) -> None:
    """A rendered report written to a terminal shows controls as escapes; written to a pipe
    or file it is byte for byte what its receipt's digest covers."""
    import pty

    from briefings.terminal import write_out

    text = "Tổ 1\x1b]0;owned\x07 \u202eevil\n"
    piped = io.StringIO()
    write_out(text, piped)
    assert piped.getvalue() == text

    master, slave = pty.openpty()
    try:
        with open(slave, "w", encoding="utf-8", closefd=False) as tty:
            write_out(text, tty)
        shown = os.read(master, 4096).decode("utf-8")
    finally:
        os.close(master)
        os.close(slave)
    assert "\x1b" not in shown and "\u202e" not in shown and "\x07" not in shown
    assert "\\x1b]0;owned\\x07" in shown and "\\u202e" in shown
    report.add("input", "OSC/bidi in a rendered report on a terminal", 1, "escaped")


def test_people_add_prints_json_only(system: tuple[str, Path], report: Report) -> None:
    """Last in this module (it turns signature enforcement on for the shared system)."""
    url, tmp = system
    result = cli(
        url,
        "people",
        "add",
        "Người [b]Thử[/b]",
        "--role",
        "clerk",
        "--key-file",
        str(tmp / "k.json"),
        "--json",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    value = json.loads(result.stdout)
    assert value["ok"] is True and value["aggregate_type"] == "person", value
    report.add("input", "people add --json, stdout parsed", 1, "JSON only")
