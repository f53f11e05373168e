"""``briefings report ...``: the annual summary (text, Markdown, JSON, HTML; vi or en)."""

from __future__ import annotations

import sys
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import typer

from briefings.audit import receipts
from briefings.cli.client import call, console, err_console, print_json, print_table
from briefings.report.formats import render_summary
from contracts.calendar import CENTER_TZ
from contracts.subjects import query_subject

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
    body = {k: v for k, v in payload.items() if v is not None}
    summary = call(query_subject("reporting", "annual_summary"), body, timeout=120)["data"]
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
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
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
    data = call(query_subject("reporting", "participation"), {"year": year}, timeout=60)["data"]
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
