"""``briefings``: run the system, send commands, read reports, audit the history."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from briefings.access import cli_role
from briefings.cli import system

app = typer.Typer(
    name="briefings",
    help="Books of a city's current-affairs briefing programme (event-sourced on NATS JetStream).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
system.register(app)

# Each sub-command group lives in its own module, named as the command.
SUB_APPS = (
    "roster",
    "events",
    "awards",
    "report",
    "reporting",
    "audit",
    "dlq",
    "demo",
    "ops",
    "people",
)
for _name in SUB_APPS:
    app.add_typer(importlib.import_module(f"briefings.cli.{_name}").app, name=_name)


def main() -> None:
    # Whose credentials to find in the data dir when none are set (briefings/access.py).
    os.environ.setdefault("BRIEFINGS_ROLE", cli_role(sys.argv[1:]))
    # Logs go to stderr as structlog lines (stdout is the command's result, JSON with --json);
    # a CLI run says only warnings unless BRIEFINGS_LOG_LEVEL asks for more. ``serve``
    # configures its own.
    from runtime.logging import configure_logging
    from runtime.settings import Settings

    s = Settings.from_env()
    level = s.log_level if os.environ.get("BRIEFINGS_LOG_LEVEL") else "warning"
    configure_logging(level, s.log_format)
    app()
