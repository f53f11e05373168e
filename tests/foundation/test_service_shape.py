"""One shape for every service: connect, then compose the service whole; the host subscribes
to what the contracts list, checks every request has its method, and reports each follower's
lag in health."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from contracts import awards, events, reporting, roster
from contracts.subjects import command_subject, health_subject, query_subject
from runtime.service import Api, Service, ServiceHost
from runtime.settings import Settings
from tests.support import ROOT, request, running_service

CONTRACTS = {"roster": roster, "events": events, "awards": awards, "reporting": reporting}


def subjects(host: ServiceHost) -> set[str]:
    return {str(sub._resolved_subject_string) for sub in host.broker.subscribers}  # type: ignore[attr-defined]


@pytest.mark.fast
@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_every_request_the_contracts_list_is_subscribed_before_connecting(
    name: str, tmp_path: Path
) -> None:
    contracts = CONTRACTS[name]
    host = importlib.import_module(f"services.{name}.entrypoints.service").build(
        Settings(data_dir=tmp_path)
    )
    wanted = {health_subject(name)}
    wanted |= {command_subject(name, n) for n in getattr(contracts, "COMMANDS", {})}
    wanted |= {query_subject(name, n) for n in contracts.QUERIES}
    wanted |= {command_subject(name, n) for n in getattr(contracts, "OPERATIONS", {})}
    assert subjects(host) == wanted


class _Handlers:
    async def register_unit(self, *_: Any) -> None: ...


@pytest.mark.fast
def test_a_service_without_a_method_for_a_listed_request_does_not_start(
    tmp_path: Path,
) -> None:
    host = ServiceHost("roster", Settings(data_dir=tmp_path), Api.of(roster))
    with pytest.raises(TypeError) as missing:
        host.check(Service(bus=None, handlers=_Handlers(), queries=object()))
    text = str(missing.value)
    assert "handlers.enroll_member" in text and "queries.list_members" in text
    assert "handlers.register_unit" not in text


def _late_bindings(path: Path) -> list[str]:
    """Assignments to an attribute (``host.bus = ...``) or an item (``state["app"] = ...``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        found += [
            f"{path.relative_to(ROOT)}:{t.lineno} {ast.unparse(t)}"
            for t in targets
            if isinstance(t, (ast.Attribute, ast.Subscript))
        ]
    return found


@pytest.mark.fast
def test_composition_roots_bind_nothing_late() -> None:
    roots = sorted(ROOT.glob("services/*/entrypoints/service.py"))
    assert len(roots) == 4
    assert [late for root in roots for late in _late_bindings(root)] == []


@pytest.mark.parametrize("name", ["roster", "awards"])
async def test_health_reports_each_followers_lag(name: str, settings: Settings, nc: Client) -> None:
    async with running_service(name, settings):
        health = await request(nc, health_subject(name), {})
    assert health["healthy"], health
    followers = health["detail"]["followers"]
    assert f"own:{name.upper()}" in followers, followers
    for follower in followers.values():
        assert follower["lag"] == follower["last"] - follower["applied"] == 0, follower
