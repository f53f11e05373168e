"""structlog: JSON lines for operators, a readable console on a terminal.

Libraries log through the standard library (nats-py, FastStream, SQLAlchemy): their records
go through the same structlog processors, so an operator's log is one JSON object per line
whoever wrote it. A library's traceback becomes the ``exception`` field of one line.
"""

from __future__ import annotations

import contextlib
import logging
import sys

import structlog

LIBRARY_LOGGERS = ("nats", "faststream", "faststream.access", "sqlalchemy", "asyncio")
"""Loggers of the libraries we run on. FastStream's own set ``propagate = False`` and write to
stdout in their own format: we take them back to the root handler."""


def _shared_processors() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(level: str = "info", fmt: str | None = None, service: str = "") -> None:
    if fmt is None:
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer() if fmt == "console" else structlog.processors.JSONRenderer()
    )
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    if service:
        structlog.contextvars.bind_contextvars(service=service)
    route_stdlib_logging(renderer, fmt, numeric)


def route_stdlib_logging(
    renderer: structlog.types.Processor, fmt: str, level: int = logging.INFO
) -> None:
    """The root handler renders stdlib records with structlog; libraries log at warning and
    above (their info lines are ours to say)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                *_shared_processors(),
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # A library's traceback: one field of one line, never forty lines.
                structlog.processors.format_exc_info
                if fmt != "console"
                else structlog.processors.StackInfoRenderer(),
                renderer,
            ],
        )
    )
    # FastStream sets its logger to its access-log level (debug): the handler keeps libraries
    # at warning unless the operator asked for debug.
    handler.setLevel(logging.DEBUG if level <= logging.DEBUG else max(level, logging.WARNING))
    # FastStream installs its own handlers when imported: import it first, then take them off.
    with contextlib.suppress(ImportError):
        import faststream  # noqa: F401

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        for old in list(library.handlers):
            library.removeHandler(old)
        library.propagate = True
        library.setLevel(logging.WARNING)


def get_logger(name: str = "briefings") -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
