"""The reliability suite's shared parts: the outcome table every test adds its rows to.

Each test adds rows (a fault injected or an input tried, how many, what happened); at
teardown the rows are written with the test's result to the JSON lines file named by
``RELIABILITY_REPORT`` (scripts/reliability.sh sets it and prints the table).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class Report:
    test: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: str, what: str, tried: int, outcome: str, **figures: Any) -> None:
        """``kind``: fault, input or load; ``what``: the fault or input; ``outcome``: in words."""
        self.rows.append(
            {"kind": kind, "what": what, "tried": tried, "outcome": outcome, **figures}
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" or (report.when == "setup" and report.failed):
        xfailed = report.skipped and hasattr(report, "wasxfail")
        item.stash[RESULT] = "xfailed (known gap)" if xfailed else report.outcome


RESULT = pytest.StashKey[str]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``reliability`` take minutes: they run when asked for (``-m reliability``
    or RELIABILITY_FULL=1, as scripts/reliability.sh does), not in the default CI run."""
    if os.environ.get("RELIABILITY_FULL") == "1" or "reliability" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="heavy: run scripts/reliability.sh (RELIABILITY_FULL=1)")
    for item in items:
        if item.get_closest_marker("reliability") is not None:
            item.add_marker(skip)


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[Report]:
    rep = Report(request.node.nodeid.split("::", 1)[-1])
    started = time.monotonic()
    yield rep
    path = os.environ.get("RELIABILITY_REPORT")
    if not path:
        return
    result = request.node.stash.get(RESULT, "error")
    rows = rep.rows or [{"kind": "-", "what": rep.test, "tried": 0, "outcome": "(no rows)"}]
    with open(path, "a", encoding="utf-8") as out:
        for row in rows:
            out.write(
                json.dumps(
                    {
                        "test": rep.test,
                        "result": result,
                        "seconds": round(time.monotonic() - started, 1),
                        **row,
                    },
                    ensure_ascii=False,
                    default=str,
                )
                + "\n"
            )
