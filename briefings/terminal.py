"""The terminal the CLI and the demo print to: results on stdout, messages on stderr."""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True)
