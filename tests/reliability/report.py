"""Print the reliability table from the JSON lines the suite wrote (RELIABILITY_REPORT).

python -m tests.reliability.report FILE [--markdown]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

COLUMNS = ("kind", "what", "tried", "result", "outcome")
FIGURES = (
    "clients",
    "seconds",
    "commands",
    "requests_sent",
    "acknowledged",
    "refused_by_rules",
    "conflicts_retried",
    "unanswered",
    "errors",
    "events_written",
    "lost",
    "duplicated",
    "stray",
    "p50_ms",
    "p99_ms",
    "acked_per_s",
)


def load(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    order = {"fault": 0, "input": 1, "load": 2}
    return sorted(rows, key=lambda r: (order.get(r["kind"], 3), r["what"]))


def markdown(rows: list[dict[str, Any]]) -> str:
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        out.append(
            "| " + " | ".join(str(row.get(c, "")).replace("|", "\\|") for c in COLUMNS) + " |"
        )
    return "\n".join(out)


def text(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="briefings reliability report", show_lines=True)
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows:
        style = (
            ""
            if row["result"] == "passed"
            else "yellow"
            if "xfail" in row["result"]
            else "bold red"
        )
        table.add_row(*(str(row.get(c, "")) for c in COLUMNS), style=style)
    Console(width=160).print(table)


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    rows = load(path) if path.exists() else []
    if not rows:
        print("no results recorded", file=sys.stderr)
        return 1
    if "--markdown" in argv:
        print(markdown(rows))
    else:
        text(rows)
    faults = sum(r["tried"] for r in rows if r["kind"] == "fault")
    inputs = sum(r["tried"] for r in rows if r["kind"] == "input")
    failed = [r for r in rows if r["result"] != "passed" and "xfail" not in r["result"]]
    for row in rows:
        if row["kind"] == "load" and "p99_ms" in row:
            print("load figures: " + ", ".join(f"{k}={row[k]}" for k in FIGURES if k in row))
    print(
        f"faults injected: {faults}; inputs tried: {inputs}; rows: {len(rows)}; "
        f"failed: {len(failed)}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
