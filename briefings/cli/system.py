"""Running the system: ``serve``, ``up``, ``status``."""

from __future__ import annotations

import asyncio
import importlib
import os
import time
from typing import TYPE_CHECKING, Any

import typer

from briefings.cli.client import (
    Client_,
    RequestFailed,
    console,
    err_console,
    escape,
    print_json,
    settings,
)
from contracts.replies import HealthReply
from contracts.subjects import SERVICES, health_subject
from runtime.logging import configure_logging, get_logger
from runtime.settings import Settings

if TYPE_CHECKING:
    from briefings.supervisor import System

SERVICE_MODULES = {name: f"services.{name}.entrypoints.service" for name in SERVICES}


def serve(service: str = typer.Argument(..., help="roster, events, awards or reporting")) -> None:
    """Run one service in the foreground until SIGTERM."""
    if service not in SERVICE_MODULES:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    s = settings()
    configure_logging(s.log_level, s.log_format, service)
    module = importlib.import_module(SERVICE_MODULES[service])
    try:
        asyncio.run(module.run(s))
    except Exception:
        # One JSON line with the traceback in its ``exception`` field, then exit 1 (``up``
        # restarts it with backoff), never a bare traceback on stderr.
        get_logger("briefings.serve").exception("service failed")
        raise typer.Exit(1) from None


async def gather_health(timeout: float = 2.0) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    try:
        async with Client_() as client:

            async def one(name: str) -> None:
                try:
                    reply = await client.request_raw(health_subject(name), b"{}", timeout)
                    results[name] = HealthReply.model_validate(reply).model_dump()
                except RequestFailed as exc:
                    results[name] = {
                        "service": name,
                        "healthy": False,
                        "nats_connected": True,
                        "detail": {"error": exc.reply.get("message")},
                    }

            await asyncio.gather(*(one(n) for n in SERVICES))
    except RequestFailed as exc:
        for name in SERVICES:
            results[name] = {
                "service": name,
                "healthy": False,
                "nats_connected": False,
                "detail": {"error": exc.reply.get("message")},
            }
    return results


def all_healthy() -> bool:
    results = asyncio.run(gather_health(1.0))
    return all(r["healthy"] for r in results.values())


def problems_of(reply: dict[str, Any]) -> list[str]:
    """One readable sentence per problem of one service's health reply."""
    detail = reply.get("detail") or {}
    found = [str(p) for p in detail.get("problems") or []]
    if detail.get("error"):
        found.append(str(detail["error"]))
    if not reply.get("nats_connected", True):
        found.append("not connected to NATS")
    if not reply.get("healthy") and not found:
        found.append("not ready")
    return found


def status_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    """A line per service (healthy or not, each follower's applied/last), then a line per
    problem under it: whole sentences, never JSON cut mid-word."""
    lines = []
    for name, reply in results.items():
        followers = (reply.get("detail") or {}).get("followers") or {}
        progress = ", ".join(
            f"{f.get('stream', key)} {f.get('applied', '?')}/{f.get('last', '?')}"
            for key, f in sorted(followers.items())
            if isinstance(f, dict)
        )
        word = "healthy" if reply.get("healthy") else "UNHEALTHY"
        lines.append(f"{name}: {word}" + (f" ({progress})" if progress else ""))
        lines.extend(f"  - {problem}" for problem in problems_of(reply))
    return lines


def status(
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    wait: float = typer.Option(0.0, help="wait up to this many seconds for health"),
) -> None:
    """Each service's health: a line per service and per problem (``--json``: the whole
    detail); exit code 0 only when all are healthy."""
    deadline = time.monotonic() + wait
    while True:
        results = asyncio.run(gather_health())
        healthy = all(r["healthy"] for r in results.values())
        if healthy or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if as_json:
        print_json({"healthy": healthy, "services": results})
    else:
        for line in status_lines(results):
            typer.echo(line)
    raise typer.Exit(0 if healthy else 1)


def up(
    demo: bool = typer.Option(
        False, "--demo", help="load the 2022 sample year when the store is empty, print its summary"
    ),
    detach_after_demo: bool = typer.Option(
        False, "--exit-after-demo", help="stop after printing the summary"
    ),
    nats_port: int | None = typer.Option(
        None, "--nats-port", help="port of the embedded nats-server (default 4322)"
    ),
) -> None:
    """Start nats-server (embedded) and the four services and supervise them: a service that
    exits is restarted with backoff, a dead embedded nats-server too; Ctrl-C or SIGTERM stops
    them all, at any moment."""
    from briefings.supervisor import StopRequested, System, stop_on_signals

    if detach_after_demo and not demo:
        raise typer.BadParameter(
            "--exit-after-demo stops after the demo's summary: give --demo too",
            param_hint="--exit-after-demo",
        )
    s, embedded = up_settings(nats_port)
    system = System(s, embedded_nats=embedded)  # restarts are logged (stderr, structlog)
    try:
        with stop_on_signals():
            try:
                run_system(system, demo, detach_after_demo)
            finally:
                console.print("stopping…")
                system.stop()
                console.print("stopped")
    except StopRequested as stop:
        err_console.print(f"stopped on {stop}")


def up_settings(nats_port: int | None) -> tuple[Settings, bool]:
    """The settings ``up`` runs with and whether it starts its own nats-server. Conflicting
    settings are an error: with BRIEFINGS_NATS_URL set there is no embedded server, so a
    ``--nats-port`` would be silently ignored."""
    s = settings()
    external = os.environ.get("BRIEFINGS_NATS_URL")
    if external and nats_port is not None:
        raise typer.BadParameter(
            f"BRIEFINGS_NATS_URL is set ({external}): `up` uses that server and starts none, "
            "so --nats-port has nothing to configure; unset one of them",
            param_hint="--nats-port",
        )
    if nats_port is not None:
        s = s.with_(nats_url=f"nats://127.0.0.1:{nats_port}")
        # The health checks build their settings from the environment: point them here too.
        os.environ["BRIEFINGS_NATS_URL"] = s.nats_url
    return s, not external


def run_system(system: System, demo: bool, exit_after_demo: bool) -> None:
    s = system.settings
    where = "(embedded) " if system.embedded_nats else ""
    console.print(
        f"starting: nats {where}{escape(s.nats_url)}, data in {escape(s.data_dir.resolve())}"
    )
    system.start()
    if not system.wait_healthy(all_healthy, 90):
        console.print(
            f"[red]services did not become healthy[/] (restarts: {dict(system.restarts)}); "
            f"logs in {escape(system.logs())}"
        )
        raise typer.Exit(1)
    console.print("[green]all services healthy[/]")
    from briefings.cli.people import ensure_first_operator

    try:
        person_id, key_file = ensure_first_operator(s)
        console.print(f"commands signed as operator {escape(person_id)} ({escape(key_file)})")
    except RequestFailed as exc:  # e.g. that operator was revoked: up runs on, unsigned
        console.print(f"[yellow]first operator not registered[/]: {escape(exc.reply['message'])}")
    if demo:
        from briefings.demo.run import show_demo

        show_demo(s.as_role("clerk"))  # the sample year is entered as clerks enter it
        if exit_after_demo:
            return
    console.print("running; Ctrl-C to stop")
    while True:
        system.supervise()
        time.sleep(0.5)


def asyncapi_documents() -> dict[str, dict[str, Any]]:
    """FastStream's AsyncAPI document of each service (built with throwaway settings)."""
    import tempfile
    from pathlib import Path

    from contracts.asyncapi_events import with_events
    from runtime.settings import Settings

    docs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, module_name in SERVICE_MODULES.items():
            module = importlib.import_module(module_name)
            host = module.build(Settings(data_dir=Path(tmp)))
            # FastStream documents the requests a service receives; the events it appends
            # go through the event store and are added from the contracts.
            docs[name] = with_events(host.asyncapi(), name)
    return docs


def schemas(
    check: bool = typer.Option(False, "--check", help="exit 1 if the files are stale"),
) -> None:
    """Write contracts/schemas (JSON Schema of every contract) and contracts/asyncapi."""
    from pathlib import Path

    from contracts import schema_gen

    asyncapi_dir = Path(schema_gen.__file__).parent / "asyncapi"
    documents = {f"{n}.json": schema_gen.render(d) for n, d in asyncapi_documents().items()}
    if check:
        problems = schema_gen.differences()
        for name, text in documents.items():
            path = asyncapi_dir / name
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                problems.append(f"out of date asyncapi/{name}")
        for p in problems:
            console.print(p)
        raise typer.Exit(1 if problems else 0)
    written = schema_gen.write()
    asyncapi_dir.mkdir(exist_ok=True)
    for name, text in documents.items():
        (asyncapi_dir / name).write_text(text, encoding="utf-8")
    console.print(f"wrote {len(written)} JSON Schemas and {len(documents)} AsyncAPI documents")


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(up)
    app.command()(status)
    app.command()(schemas)
