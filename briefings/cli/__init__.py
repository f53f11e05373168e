"""``briefings``: run the system, send commands, read reports, audit the history."""

from __future__ import annotations

import importlib

import typer

from briefings.cli import system

app = typer.Typer(
    name="briefings",
    help="Books of a city's current-affairs briefing programme (event-sourced on NATS JetStream).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
system.register(app)

# Each sub-command group lives in its own module, named as the command.
SUB_APPS = ("roster", "events", "awards", "report", "reporting", "audit", "dlq", "demo", "ops")
for _name in SUB_APPS:
    app.add_typer(importlib.import_module(f"briefings.cli.{_name}").app, name=_name)


def main() -> None:
    app()
