"""The layout shows the architecture: services never import each other (import-linter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


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
