"""Where a Docker engine answers: build the image and bring docker-compose.yml up for real
(testcontainers). Without an engine (this machine, CI) the process-level tests stand in."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.deploy.compose import APP_SERVICES, CLUSTER, COMPOSE, ROOT, filled_env
from tests.support import docker_answers

pytestmark = pytest.mark.skipif(
    not docker_answers(), reason="no Docker engine answers (docker SDK ping failed)"
)


def _compose_up(tmp_path: Path, files: list[Path]) -> None:
    from testcontainers.compose import DockerCompose

    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in filled_env().items()))
    compose = DockerCompose(
        ROOT,
        compose_file_name=[str(f.relative_to(ROOT)) for f in files],
        env_file=str(env_file),
        build=True,
        wait=True,
    )
    with compose:
        for name in APP_SERVICES:
            container = compose.get_container(name)
            assert container.State == "running", name
            assert container.Health in ("healthy", ""), f"{name}: {container.Health}"
        base = compose.compose_command_property
        unit = subprocess.run(
            [
                *base,
                "run",
                "--rm",
                "cli",
                "briefings",
                "roster",
                "register-unit",
                "Ward 1",
                "--kind",
                "city",
                "--json",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert unit.returncode == 0, unit.stderr
        assert json.loads(unit.stdout)["ok"] is True
        status = subprocess.run(
            [*base, "run", "--rm", "audit", "briefings", "status"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert status.returncode == 0, status.stdout + status.stderr


@pytest.mark.timeout(900)
def test_compose_brings_the_images_up(tmp_path: Path) -> None:
    _compose_up(tmp_path, [COMPOSE])


@pytest.mark.timeout(900)
def test_compose_cluster_brings_three_nodes_up(tmp_path: Path) -> None:
    _compose_up(tmp_path, [COMPOSE, CLUSTER])
