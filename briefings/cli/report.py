"""``briefings report ...``: the annual summary (text, Markdown, JSON, HTML; vi or en), and
the report as the Center issues it (``issue``, ``issued``: PDF, Word, Excel, HTML)."""

from __future__ import annotations

import json
import tomllib
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from briefings.audit import receipts
from briefings.cli.audit import FROM, _replay
from briefings.cli.client import (
    ACTOR,
    COMMAND_ID,
    console,
    err_console,
    fail,
    print_json,
    print_table,
    query,
    send_command,
)
from briefings.report import document
from briefings.report.formats import render_summary
from briefings.terminal import write_out
from contracts.calendar import CENTER_TZ
from contracts.reporting import SERVICE, IssueReport, IssuingBody, Narrative, Signer

app = typer.Typer(help="Reports from the read models (the year-end summary).", no_args_is_help=True)


def _moment(text: str) -> str:
    """An ISO date (the end of that day at the Center) or an ISO instant (naive: Center time)."""
    try:
        if "T" not in text and " " not in text:
            day = date.fromisoformat(text)
            return datetime.combine(day, time.max, CENTER_TZ).isoformat()
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date or date-time: {text!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=CENTER_TZ)).isoformat()


@app.command()
def annual(
    year: int = typer.Argument(None, help="the year (e.g. 2022); or give --from and --to"),
    start: str = typer.Option(None, "--from", help="first day of the period (YYYY-MM-DD)"),
    end: str = typer.Option(None, "--to", help="last day of the period (YYYY-MM-DD)"),
    as_of: str = typer.Option(
        None, "--as-of", help="only what was recorded by then (date or date-time)"
    ),
    fmt: str = typer.Option("text", "--format", "-f", help="text, markdown, json or html"),
    lang: str = typer.Option("vi", "--lang", help="vi (default) or en"),
    output: Path = typer.Option(None, "--output", "-o", help="write to this file"),
    receipt_out: Path = typer.Option(
        None, "--receipt-out", help="write the report's receipt here (audit check-receipt)"
    ),
) -> None:
    """Roster, conferences, attendances, awards and top participants of a year or period."""
    if fmt not in ("text", "markdown", "json", "html"):
        raise typer.BadParameter("--format must be text, markdown, json or html")
    if lang not in ("vi", "en"):
        raise typer.BadParameter("--lang must be vi or en")
    payload: dict[str, Any] = {
        "year": year,
        "start": start,
        "end": end,
        "as_of": _moment(as_of) if as_of else None,
    }
    summary = query("reporting", "annual_summary", payload, timeout=120)
    text = render_summary(summary, fmt, lang)
    if receipt_out is not None:
        # The receipt is completed where the output is rendered: its digest is of these bytes.
        basis = summary.get("receipt")
        if not basis:
            reason = summary.get("receipt_unavailable", "the service sent no receipt")
            raise typer.BadParameter(f"no receipt: {reason}", param_hint="--receipt-out")
        receipts.write(receipts.complete(basis, text, fmt, lang), receipt_out)
    if output is not None:
        output.write_bytes(text.encode("utf-8"))
        console.print(f"written to {output}")
    else:
        write_out(text if text.endswith("\n") else text + "\n")
    if receipt_out is not None:
        err_console.print(
            f"receipt written to {receipt_out} ({summary['receipt']['events']} events, "
            f"cut {summary['receipt']['cut']})"
        )


@app.command()
def participation(
    year: int = typer.Argument(..., help="the year"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Per member and per unit: conferences eligible, attended, rate (awards candidates)."""
    data = query("reporting", "participation", {"year": year}, timeout=60)
    if as_json:
        print_json(data)
        return
    print_table(
        data["units"],
        [
            "unit_name",
            "kind",
            "members_at_end",
            "core_members_at_end",
            "attendances",
            "possible_attendances",
            "attendance_rate",
        ],
        title=f"units {year} ({data['conferences_held']} conferences held)",
    )
    print_table(
        data["members"],
        [
            "full_name",
            "role",
            "unit_name",
            "core",
            "active_at_end",
            "conferences_eligible",
            "conferences_attended",
            "attendance_rate",
        ],
        title=f"members {year}",
    )


# ------------------------------------------------------------------ issuing


def _narrative(path: Path | None) -> Narrative:
    """The clerk's prose: a TOML or JSON file with ``results``, ``shortcomings``, ``lessons``,
    ``orientations`` (each paragraphs separated by blank lines)."""
    if path is None:
        return Narrative()
    try:
        text = path.read_text("utf-8")
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        return Narrative.model_validate(data)
    except (OSError, ValueError, ValidationError) as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--narrative") from None


@app.command()
def issue(
    year: int = typer.Argument(..., help="the year the report states (e.g. 2022)"),
    number: str = typer.Option(..., "--number", help="number and symbol, e.g. 45-BC/TTCT"),
    issued_on: str = typer.Option(..., "--date", help="the date of issue (YYYY-MM-DD)"),
    signer: str = typer.Option(..., "--signer", help="the signer's full name"),
    signer_title: str = typer.Option("GIÁM ĐỐC", "--signer-title", help="the signer's title"),
    authority: str = typer.Option("", "--authority", help="T/M ..., K/T ... above the title"),
    recipients: list[str] = typer.Option(
        ..., "--recipients", help="recipients, one per option or separated by ';'"
    ),
    parent: str = typer.Option("THÀNH ỦY", "--parent", help="the parent committee"),
    body: str = typer.Option("TRUNG TÂM CHÍNH TRỊ", "--body", help="the issuing body"),
    place: str = typer.Option("Thành phố", "--place", help="the place of the date line"),
    summary_line: str = typer.Option("", "--summary-line", help="the line under BÁO CÁO"),
    narrative: Path = typer.Option(
        None, "--narrative", help="TOML/JSON: results, shortcomings, lessons, orientations"
    ),
    lang: str = typer.Option("vi", "--lang", help="vi (default) or en"),
    output_dir: Path = typer.Option(Path("."), "--output-dir", help="where to write"),
    command_id: str = COMMAND_ID,
    actor: str = ACTOR,
) -> None:
    """Issue the year's report: record ReportIssued (refused for a number already used that
    year) and write <number>.pdf, .docx, .xlsx and .html."""
    names = [r.strip() for value in recipients for r in value.split(";") if r.strip()]
    try:
        details = document.Issue(
            number=number,
            issued_on=date.fromisoformat(issued_on),
            signer=Signer(name=signer, title=signer_title, authority=authority),
            recipients=names,
            lang=lang,
            body=IssuingBody(parent=parent, name=body, place=place),
            summary_line=summary_line,
            narrative=_narrative(narrative),
        )
        # Validated before anything is asked or written: a bad number or date changes nothing.
        draft = _command(details, {"year": year}, {}, {})
        IssueReport.model_validate({**draft, "command_id": "draft"})
    except (ValueError, ValidationError) as exc:
        raise typer.BadParameter(str(exc)) from None
    summary = query(SERVICE, "annual_summary", {"year": year}, timeout=120)
    basis = summary.pop("receipt", None)
    if not basis:
        fail(
            {
                "code": "unavailable",
                "message": summary.get("receipt_unavailable", "the service sent no receipt"),
            }
        )
    docs = document.render_documents(summary, details, basis)
    payload = _command(details, {"year": year}, basis, document.digests(docs))
    reply = send_command(SERVICE, "issue_report", payload, command_id, actor, as_json=False)
    if reply.get("replayed"):
        # A retried command: the report was issued earlier, perhaps from another cut; write
        # what was issued then, not what the figures say now.
        recorded = _recorded(number, date.fromisoformat(issued_on).year)
        _write_again(recorded, None, output_dir)
        return
    for path in document.write_documents(docs, number, output_dir):
        console.print(f"written {path}")


def _command(
    details: document.Issue,
    query: dict[str, Any],
    basis: dict[str, Any],
    digests: dict[str, str],
) -> dict[str, Any]:
    return {
        "number": details.number,
        "issued_on": details.issued_on.isoformat(),
        "query": query,
        "lang": details.lang,
        "body": details.body.model_dump(),
        "summary_line": details.summary_line,
        "signer": details.signer.model_dump(),
        "recipients": details.recipients,
        "narrative": details.narrative.model_dump(),
        "narrative_digest": document.narrative_digest(details.narrative),
        "summary_receipt": basis,
        "template_digest": document.template_digest(),
        "documents": digests,
    }


@app.command()
def issued(
    number: str = typer.Argument(None, help="an issued report's number (none: list them)"),
    year: int = typer.Option(None, "--year", help="the year of issue (when a number repeats)"),
    output_dir: Path = typer.Option(None, "--output-dir", help="write its documents again here"),
    source: Path | None = FROM,
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """List the issued reports, or write one's documents again (the figures replayed from the
    history at its receipt's cut: live, or --from an export file), byte for byte the same."""
    reports = query(SERVICE, "issued_reports", {"number": number, "year": year})["reports"]
    if number is None or output_dir is None:
        if as_json:
            print_json(reports)
            return
        rows = [
            {
                "number": r["number"],
                "issued_on": r["issued_on"],
                "year": r["query"].get("year"),
                "signer": r["signer"]["name"],
                "pdf": r["documents"].get("pdf", "")[:16],
            }
            for r in reports
        ]
        print_table(rows, ["number", "issued_on", "year", "signer", "pdf"], title="issued reports")
        return
    _write_again(_one(reports, number), source, output_dir)


def _one(reports: list[dict[str, Any]], number: str) -> dict[str, Any]:
    if not reports:
        fail({"code": "not_found", "message": f"no report numbered {number} was issued"})
    if len(reports) > 1:
        fail({"code": "conflict", "message": f"{number} was issued in several years: --year"})
    return reports[0]


def _recorded(number: str, year: int) -> dict[str, Any]:
    return _one(
        query(SERVICE, "issued_reports", {"number": number, "year": year})["reports"], number
    )


def _write_again(recorded: dict[str, Any], source: Path | None, output_dir: Path) -> None:
    """The issued report's documents from a replay of its receipt's cut; exit 1 (after
    writing them) when they are not the issued bytes, saying what differs."""
    with _replay(source, receipts.cut_of(recorded["summary_receipt"])) as replay:
        again = receipts.reissue(recorded, replay)
    for path in document.write_documents(again.documents, recorded["number"], output_dir):
        console.print(f"written {path}")
    if not again.identical:
        for finding in again.findings:
            err_console.print(f"[bold red]differs[/]: {finding}")
        raise typer.Exit(1)
    console.print("identical to the issued documents (digests recorded in ReportIssued)")
