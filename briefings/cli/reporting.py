"""``briefings reporting ...``: the reporting service's read models (status, rebuild)."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from briefings.cli import requests
from briefings.cli.client import (
    Client_,
    RequestFailed,
    console,
    fail,
    print_json,
    print_table,
    query,
    run,
)
from contracts.subjects import command_subject

app = typer.Typer(help="The reporting read models: lag, rebuild.", no_args_is_help=True)


def _status() -> dict[str, Any]:
    data: dict[str, Any] = query("reporting", "status", {})
    return data


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Per stream: the last sequence applied against the stream's last sequence."""
    data = _status()
    if as_json:
        print_json(data)
        return
    rows = [
        {
            "stream": s,
            "applied": v["applied"],
            "last": v["last"],
            "behind": v["last"] - v["applied"],
        }
        for s, v in data["lag"].items()
    ]
    print_table(
        rows,
        ["stream", "applied", "last", "behind"],
        title=f"reporting: projection v{data['version']}, tables g{data['generation']}",
    )
    console.print(f"dead letters set aside since start: {data['dead_letters_set_aside']}")
    if data.get("rebuild"):
        r = data["rebuild"]
        console.print(
            f"rebuilding into g{r['generation']}: {r['applied']}/{r['total']} "
            f"({r['events_per_s']} events/s)"
        )


@app.command()
def rebuild(
    wait: bool = typer.Option(True, help="follow the rebuild until it switches over"),
) -> None:
    """Replay every stream from sequence 1 into fresh tables; switch when caught up.

    The current tables keep answering queries until then.
    """

    async def start() -> dict[str, Any]:
        async with Client_() as client:
            body = requests.body("reporting", "op", "rebuild", {"actor": "cli"})
            return await client.request(command_subject("reporting", "rebuild"), body)

    try:
        generation = int(run(start)["generation"])
    except RequestFailed as exc:
        fail(exc.reply)
    console.print(f"rebuilding into tables g{generation}")
    if not wait:
        return
    with Progress(
        TextColumn("[bold]rebuild"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} events/s"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("rebuild", total=None, rate="0")
        while True:
            data = _status()
            r = data.get("rebuild")
            if data["generation"] >= generation:  # switched over
                total = sum(v["last"] for v in data["lag"].values())
                progress.update(task, total=total, completed=total)
                break
            if r is None:
                fail({"code": "internal", "message": "the rebuild stopped before switching"})
            progress.update(
                task,
                total=max(r["total"], 1),
                completed=r["applied"],
                rate=f"{r['events_per_s']:,.0f}",
            )
            time.sleep(0.3)
    console.print(f"[green]switched to g{generation}[/]")
