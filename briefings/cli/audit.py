"""``briefings audit ...``: export, verify, replay and explain the event history.

Every command reads the streams with direct gets only, so read-only credentials suffice.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from briefings.audit import receipts
from briefings.audit.diff import diff as diff_summaries
from briefings.audit.explain import FIGURES, Lineage
from briefings.audit.explain import explain as explain_figure
from briefings.audit.export import export_live
from briefings.audit.records import AuditRecord
from briefings.audit.replay import Cut, Replay, replay_export, replay_live
from briefings.audit.source import STREAMS
from briefings.audit.verify import VerifyReport, verify_export, verify_live
from briefings.cli.client import Client_, RequestFailed, err_console, fail, print_json, run
from briefings.terminal import say, write_out
from contracts.reporting import AnnualSummaryQuery

app = typer.Typer(
    help="Export, verify, replay and explain the event history (read-only).", no_args_is_help=True
)

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
        self.progress = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=not enabled,
            transient=False,
        )
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
        manifest = _live(
            lambda nc: export_live(nc, out, streams, since_at, until_at, bar.total, bar.advance)
        )
    err_console.print(
        f"exported {manifest['events']} events to {output}; digest {manifest['digest']}"
    )
    for name, entry in manifest["streams"].items():
        err_console.print(f"  {name}: {entry['events']} events, last seq {entry['last_seq']}")


def _print_report(report: VerifyReport, as_json: bool, source: str) -> None:
    if as_json:
        print_json(report.as_dict())
    else:
        streams = ", ".join(
            f"{k} {v['events']} (last {v['last_seq']})" for k, v in report.streams.items()
        )
        say(f"{source}: {report.events} events, {report.aggregates} aggregates; {streams}")
        if report.digest:
            say(f"digest {report.digest}")
        if report.unanchored:
            say(
                f"{report.unanchored} aggregates start before the export's window "
                "(their first link is not checked)"
            )
        if report.ok:
            say("OK: every chain is intact")
        else:
            say(f"BROKEN: {report.break_count} break(s)")
            for brk in report.breaks:
                say("  " + brk.text())
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def verify(
    file: Path | None = typer.Argument(None, help="an export file; default: the live streams"),
    stream: list[str] | None = typer.Option(None, "--stream", help="live: only this stream"),
    expect_digest: str | None = typer.Option(
        None, help="the digest recorded when the export was taken (out of band)"
    ),
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


# ------------------------------------------------------------------------ replay

FROM = typer.Option(None, "--from", help="replay an export file instead of the live streams")
AS_OF = typer.Option(
    None, "--as-of", help="only events recorded at or before this instant (what was known then)"
)
OCCURRED = typer.Option(
    None, "--occurred-until", help="only events that occurred at or before this instant"
)
UNTIL_SEQ = typer.Option(None, "--until-seq", help="STREAM:N, the last sequence read (repeat)")
START = typer.Option(None, "--start", help="period start YYYY-MM-DD (instead of the year)")
END = typer.Option(None, "--end", help="period end YYYY-MM-DD")


def _until_seq(values: list[str] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values or []:
        name, _, seq = value.partition(":")
        if name.upper() not in STREAMS or not seq.isdigit():
            raise typer.BadParameter(
                f"--until-seq {value}: give STREAM:N, STREAM one of {', '.join(STREAMS)}"
            )
        out[name.upper()] = int(seq)
    return out


def _cut(as_of: str | None, occurred_until: str | None, until_seq: list[str] | None) -> Cut:
    return Cut(
        _until_seq(until_seq),
        _instant(as_of, "--as-of"),
        _instant(occurred_until, "--occurred-until"),
    )


def _query(year: int | None, start: str | None, end: str | None, cut: Cut) -> AnnualSummaryQuery:
    if year is None and (start is None or end is None):
        raise typer.BadParameter("give a year, or both --start and --end")
    try:
        query = AnnualSummaryQuery(year=year, start=start, end=end, as_of=cut.as_of)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if query.start and query.end and query.start > query.end:
        raise typer.BadParameter("the period starts after it ends")
    return query


def _replay(
    source: Path | None, cut: Cut, also: Callable[[AuditRecord], None] | None = None
) -> Replay:
    if source is not None:
        if not source.exists():
            raise typer.BadParameter(f"no such file: {source}")
        return replay_export(source, cut, also)
    result: Replay = _live(lambda nc: replay_live(nc, cut, also=also))
    return result


@app.command()
def replay(
    year: int | None = typer.Argument(None, help="the year of the summary"),
    start: str | None = START,
    end: str | None = END,
    as_of: str | None = AS_OF,
    occurred_until: str | None = OCCURRED,
    until_seq: list[str] | None = UNTIL_SEQ,
    source: Path | None = FROM,
    fmt: str = typer.Option("text", "--format", help="text, markdown, json or html"),
    lang: str = typer.Option("vi", "--lang", help="vi (default) or en"),
    output: Path | None = typer.Option(None, "-o", "--output", help="write the summary here"),
    receipt_out: Path | None = typer.Option(None, "--receipt-out", help="issue a receipt"),
) -> None:
    """Rebuild the read model from the history into a temporary database; print the summary
    as the system knew it at the cut."""
    cut = _cut(as_of, occurred_until, until_seq)
    query = _query(year, start, end, cut)
    with _replay(source, cut) as result:
        text = receipts.render(result, query, fmt, lang)
        if output is not None:
            output.write_bytes(text.encode("utf-8"))
        else:
            write_out(text)
        if receipt_out is not None:
            receipts.write(receipts.issue(result, query, text, fmt, lang), receipt_out)
            err_console.print(
                f"receipt written to {receipt_out} "
                f"({result.digest.count} events, cut {result.cut_vector})"
            )


@app.command("check-receipt")
def check_receipt(
    receipt: Path = typer.Argument(..., help="a receipt issued with the summary"),
    source: Path | None = FROM,
    as_json: bool = JSON,
) -> None:
    """Replay exactly the receipt's cut and confirm (exit 0) or refute (exit 1) it."""
    try:
        issued = receipts.load(receipt)
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"{receipt}: {exc}") from exc
    with _replay(source, receipts.cut_of(issued)) as result:
        outcome = receipts.check(issued, result)
    if as_json:
        print_json(outcome.as_dict())
    elif outcome.confirmed:
        say(
            f"CONFIRMED: the same {issued['events']} events give the same report "
            f"(output digest {issued['output_digest']})"
        )
    else:
        say("REFUTED:")
        for finding in outcome.findings:
            say(f"  {finding}")
    if not outcome.confirmed:
        raise typer.Exit(1)


@app.command()
def explain(
    year: int = typer.Argument(..., help="the year of the summary"),
    figure: str = typer.Argument(..., help=", ".join(FIGURES)),
    as_of: str | None = AS_OF,
    occurred_until: str | None = OCCURRED,
    until_seq: list[str] | None = UNTIL_SEQ,
    source: Path | None = FROM,
    as_json: bool = JSON,
) -> None:
    """List the events that make up a figure of the summary; they add up to it."""
    cut = _cut(as_of, occurred_until, until_seq)
    query = _query(year, None, None, cut)
    lineage = Lineage()
    with _replay(source, cut, lineage.add) as result:
        summary = result.summary(query)
        participation = result.model.participation(year) if figure.startswith("member:") else None
    lineage.finish()
    try:
        found = explain_figure(
            lineage, figure, summary, participation, date(year, 1, 1), date(year, 12, 31)
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if as_json:
        print_json(found.as_dict())
    else:
        for part in found.contributions:
            say(f"+{part.amount:<5} {part.what}")
            for ref in part.events:
                say(
                    f"         {ref.stream}:{ref.seq} {ref.type} {ref.aggregate} "
                    f"command={ref.command_id} actor={ref.actor} "
                    f"correlation={ref.correlation_id} recorded={ref.recorded_at}"
                )
        if found.denominator is not None:
            say(f"out of {found.denominator} conferences the member could attend:")
            for part in found.denominator_from:
                say(f"  {part.what}")
            say(f"= {found.total}/{found.denominator}; the summary says {found.summary_value}")
        else:
            say(f"= {found.total}; the summary says {found.summary_value}")
    if not found.adds_up:
        err_console.print("the events do not add up to the summary's figure")
        raise typer.Exit(1)


@app.command()
def diff(
    year: int = typer.Argument(..., help="the year of the summary"),
    as_of: str = typer.Option(..., "--as-of", help="the earlier knowledge (recorded_at cut)"),
    against: str | None = typer.Option(
        None, "--against", help="the later knowledge (default: everything recorded)"
    ),
    occurred_until: str | None = OCCURRED,
    source: Path | None = FROM,
    as_json: bool = JSON,
) -> None:
    """What changed in the summary between two states of knowledge (e.g. late corrections)."""
    left_cut = _cut(as_of, occurred_until, None)
    right_cut = _cut(against, occurred_until, None)
    summaries = []
    for cut in (left_cut, right_cut):
        with _replay(source, cut) as result:
            summary = result.summary(_query(year, None, None, cut))
        summary["period"].pop("as_of", None)
        summaries.append(summary)
    changes = diff_summaries(summaries[0], summaries[1])
    if as_json:
        print_json([{"figure": p, "before": a, "after": b} for p, a, b in changes])
        return
    if not changes:
        say("no difference")
    for path, before, after in changes:
        say(f"{path}: {before} -> {after}")
