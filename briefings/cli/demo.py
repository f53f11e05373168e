"""``briefings demo ...``: the 2022 sample year, loaded through the services' commands."""

from __future__ import annotations

import dataclasses

import typer

from briefings.cli.client import (
    RequestFailed,
    console,
    fail,
    print_json,
    print_table,
    run,
    settings,
)
from briefings.demo.generator import DEFAULT_SEED, plan_year

app = typer.Typer(
    help="The 2022 sample year (a deterministic, seeded generator).", no_args_is_help=True
)

SEED = typer.Option(DEFAULT_SEED, "--seed", help="the same seed gives the same year")
JSON = typer.Option(False, "--json", help="machine-readable output")


@app.command()
def plan(seed: int = SEED, as_json: bool = JSON) -> None:
    """The figures the seeded year amounts to, without sending anything."""
    figures = dataclasses.asdict(plan_year(seed).figures)
    if as_json:
        print_json({"seed": seed, **figures})
        return
    print_table(
        [{"figure": k, "value": v} for k, v in figures.items()],
        ["figure", "value"],
        title=f"the 2022 sample year, seed {seed}",
    )


@app.command()
def load(
    seed: int = SEED,
    concurrency: int = typer.Option(8, min=1, max=64, help="commands in flight at once"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    as_json: bool = JSON,
) -> None:
    """Send the seeded year through the services (a re-run replays: nothing is duplicated)."""
    # Imported here: briefings.demo.load uses briefings.cli.client, whose package imports us.
    from briefings.demo.load import DemoLoadFailed, load_with_progress

    year = plan_year(seed)
    try:
        report = run(
            lambda: load_with_progress(year, settings(), concurrency, show=not (quiet or as_json))
        )
    except DemoLoadFailed as exc:
        fail(
            {
                **exc.reply,
                "message": str(exc),
                "context": {
                    **(exc.reply.get("context") or {}),
                    "command_id": exc.step.command.command_id,
                },
            },
            as_json,
        )
    except RequestFailed as exc:
        fail(exc.reply, as_json)
    result = {
        "seed": seed,
        "sent": report.sent,
        "applied": report.applied,
        "replayed": report.replayed,
        "unchanged": report.unchanged,
        "retries": report.retries,
        "recovered": report.recovered,
        "seconds": round(report.seconds, 1),
        "expected": dataclasses.asdict(year.figures),
    }
    if as_json:
        print_json(result)
        return
    console.print(
        f"sent {report.sent} commands in {report.seconds:.1f} s: "
        f"{report.applied} applied, {report.replayed} replayed, "
        f"{report.unchanged} unchanged; {report.retries} retries "
        f"({report.recovered} commands answered only after a retry)"
    )
    f = year.figures
    console.print(
        f"expected: {f.reporters} reporters, {f.propagandists} propagandists, "
        f"{f.information_conferences} information and {f.thematic_conferences} thematic "
        f"conferences, {f.attendances} attendances, {f.collective_awards} collective and "
        f"{f.individual_awards} individual awards"
    )
