"""The layout shows the architecture (import-linter): contracts < runtime < services <
briefings < bench, services never import each other, no cycles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _lint_with(planted: Path, text: str) -> subprocess.CompletedProcess[str]:
    planted.write_text(text)
    try:
        return subprocess.run(
            [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    finally:
        planted.unlink()


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("runtime/_planted_upward.py", "import services.roster  # noqa\n"),
        ("contracts/_planted_upward.py", "import runtime.eventstore  # noqa\n"),
        ("services/reporting/_planted_upward.py", "import briefings.audit  # noqa\n"),
        ("briefings/demo/_planted_upward.py", "import briefings.cli.client  # noqa\n"),
        ("briefings/_planted_upward.py", "import bench.common  # noqa\n"),
    ],
)
def test_an_upward_import_breaks_the_layers(where: str, text: str) -> None:
    result = _lint_with(ROOT / where, text)
    assert result.returncode != 0
    module = where.removesuffix(".py").replace("/", ".")
    assert module in result.stdout


def test_the_linter_catches_a_violation(tmp_path: Path) -> None:
    """A contract that cannot fail proves nothing: plant a violation and see it caught."""
    bad = ROOT / "services" / "roster" / "_planted_violation.py"
    bad.write_text("import services.events  # noqa\n")
    try:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    finally:
        bad.unlink()
    assert result.returncode != 0
    assert "services.roster._planted_violation" in result.stdout


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]])
def test_ruff_is_clean(args: list[str]) -> None:
    """`ruff check` and `ruff format --check` run in CI through the suite."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ruff"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
