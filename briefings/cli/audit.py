"""``briefings audit ...``: export, verify, replay and explain the event history.

Every command reads the streams with direct gets only, so read-only credentials suffice.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from briefings.audit.export import export_live
from briefings.audit.records import AuditRecord
from briefings.audit.source import STREAMS
from briefings.audit.verify import VerifyReport, verify_export, verify_live
from briefings.cli.client import Client_, RequestFailed, err_console, fail, print_json, run

app = typer.Typer(help="Export, verify, replay and explain the event history (read-only).",
                  no_args_is_help=True)

JSON = typer.Option(False, "--json", help="machine-readable output")


def _streams(stream: list[str] | None) -> tuple[str, ...]:
    if not stream:
        return STREAMS
    chosen = tuple(s.upper() for s in stream)
    unknown = [s for s in chosen if s not in STREAMS]
    if unknown:
        raise typer.BadParameter(f"unknown stream(s) {unknown}; one of {', '.join(STREAMS)}")
    return chosen


def _instant(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"{name}: not an ISO 8601 instant: {text}") from exc
    if value.tzinfo is None:
        raise typer.BadParameter(f"{name}: give a time zone (e.g. +07:00 or Z)")
    return value


class _Bar:
    """A progress bar on stderr (hidden when stderr is not a terminal)."""

    def __init__(self, label: str, enabled: bool = True) -> None:
        self.progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=err_console,
                                 disable=not enabled, transient=False)
        self.task = self.progress.add_task(label, total=None)
        self.count = 0

    def total(self, n: int) -> None:
        self.progress.update(self.task, total=n)

    def advance(self, _record: AuditRecord) -> None:
        self.count += 1
        if self.count % 1000 == 0:
            self.progress.update(self.task, completed=self.count)

    def __enter__(self) -> _Bar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.update(self.task, completed=self.count)
        self.progress.__exit__(None, None, None)


def _live(fn: Callable[[Any], Any]) -> Any:
    """Run ``fn(nc)`` with a connection made from the environment's settings."""

    async def go() -> Any:
        async with Client_() as client:
            assert client.nc is not None
            return await fn(client.nc)

    try:
        return run(go)
    except RequestFailed as exc:
        fail(exc.reply)


@app.command()
def export(
    output: Path = typer.Option(..., "-o", "--output", help="the export file (JSON lines)"),
    stream: list[str] | None = typer.Option(None, "--stream", help="only this stream (repeat)"),
    since: str | None = typer.Option(None, help="only events stored at or after this instant"),
    until: str | None = typer.Option(None, help="only events stored at or before this instant"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Write every event (stream order, canonical form) and a closing manifest line."""
    streams = _streams(stream)
    since_at, until_at = _instant(since, "--since"), _instant(until, "--until")
    with output.open("wb") as out, _Bar("export", progress and sys.stderr.isatty()) as bar:
        manifest = _live(lambda nc: export_live(nc, out, streams, since_at, until_at,
                                                bar.total, bar.advance))
    err_console.print(f"exported {manifest['events']} events to {output}; "
                      f"digest {manifest['digest']}")
    for name, entry in manifest["streams"].items():
        err_console.print(f"  {name}: {entry['events']} events, last seq {entry['last_seq']}")


def _print_report(report: VerifyReport, as_json: bool, source: str) -> None:
    if as_json:
        print_json(report.as_dict())
    else:
        streams = ", ".join(f"{k} {v['events']} (last {v['last_seq']})"
                            for k, v in report.streams.items())
        print(f"{source}: {report.events} events, {report.aggregates} aggregates; {streams}")
        if report.digest:
            print(f"digest {report.digest}")
        if report.unanchored:
            print(f"{report.unanchored} aggregates start before the export's window "
                  "(their first link is not checked)")
        if report.ok:
            print("OK: every chain is intact")
        else:
            print(f"BROKEN: {report.break_count} break(s)")
            for brk in report.breaks:
                print("  " + brk.text())
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def verify(
    file: Path | None = typer.Argument(None, help="an export file; default: the live streams"),
    stream: list[str] | None = typer.Option(None, "--stream", help="live: only this stream"),
    expect_digest: str | None = typer.Option(
        None, help="the digest recorded when the export was taken (out of band)"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    as_json: bool = JSON,
) -> None:
    """Recompute every hash chain (and an export's digest); exit 1 on any break."""
    with _Bar("verify", progress and sys.stderr.isatty()) as bar:
        if file is not None:
            if not file.exists():
                raise typer.BadParameter(f"no such file: {file}")
            report = verify_export(file, expect_digest, bar.advance)
            source = str(file)
        else:
            streams = _streams(stream)
            report = _live(lambda nc: verify_live(nc, streams, bar.total, bar.advance))
            source = "live streams"
    _print_report(report, as_json, source)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
