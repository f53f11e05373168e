"""``briefings ops ...``: what a deployment runs besides the services.

``init-streams`` is the one-shot job that creates the streams (the services' users may only
read stream info, not create streams); ``health`` is a container health check.
"""

from __future__ import annotations

import asyncio

import typer
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from briefings.cli.client import (
    Client_,
    RequestFailed,
    err_console,
    escape,
    print_json,
    settings,
)
from contracts.replies import HealthReply
from contracts.subjects import (
    DLQ_STREAM,
    ISSUED_REPORTS_STREAM,
    SERVICES,
    event_streams,
    health_subject,
)
from runtime.deadletter import ensure_dlq_stream
from runtime.eventstore import EventStore

app = typer.Typer(
    help="Deployment operations: stream bootstrap, health checks.", no_args_is_help=True
)


async def _scale(js: JetStreamContext, name: str, replicas: int) -> str:
    """Raise a stream's replicas (R1 -> R3 when a cluster is added); never lower them."""
    info = await js.stream_info(name)
    have = int(info.config.num_replicas or 1)
    if have >= replicas:
        return f"{name}: R{have}"
    info.config.num_replicas = replicas
    await js.update_stream(info.config)
    return f"{name}: R{have} -> R{replicas}"


async def init_streams_async(replicas: int) -> list[str]:
    # The roster's own code creates its KV bucket, so the bucket's config has one author.
    from services.roster.adapters.codes import BUCKET, CodeReservations

    async with Client_() as client:
        assert client.nc is not None
        es = EventStore(client.nc)
        await es.ensure_streams([*event_streams(), ISSUED_REPORTS_STREAM], replicas)
        await ensure_dlq_stream(es.js, replicas)
        await CodeReservations().open(es.js, replicas)
        lines = []
        names = [s.name for s in (*event_streams(), ISSUED_REPORTS_STREAM)]
        for name in [*names, DLQ_STREAM.name, f"KV_{BUCKET}"]:
            lines.append(await _scale(es.js, name, replicas))
        return lines


@app.command("init-streams")
def init_streams(
    replicas: int = typer.Option(0, help="replicas per stream (default BRIEFINGS_STREAM_REPLICAS)"),
) -> None:
    """Create the event streams, the DLQ and the roster's KV bucket (idempotent)."""
    wanted = replicas or settings().stream_replicas
    deadline_s = 60.0

    async def attempt() -> list[str]:
        # JetStream may still be electing its meta leader right after a (cluster) start.
        delay, waited = 0.5, 0.0
        while True:
            try:
                return await init_streams_async(wanted)
            except (RequestFailed, OSError, TimeoutError, NatsError) as exc:
                if waited >= deadline_s:
                    raise
                err_console.print(f"streams not ready ({exc!s}); retrying in {delay}s")
                await asyncio.sleep(delay)
                waited += delay
                delay = min(delay * 2, 5.0)

    for line in asyncio.run(attempt()):
        typer.echo(line)


@app.command()
def health(
    service: str = typer.Argument(..., help="roster, events, awards or reporting"),
    timeout: float = typer.Option(2.0, help="seconds to wait for the reply"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One service's health over NATS; exit code 0 only when it is healthy."""
    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(SERVICES)}")

    async def ask() -> HealthReply | str:
        try:
            async with Client_() as client:
                reply = await client.request_raw(health_subject(service), b"{}", timeout)
        except RequestFailed as exc:
            return str(exc.reply.get("message"))
        return HealthReply.model_validate(reply)

    result = asyncio.run(ask())
    if isinstance(result, str):
        err_console.print(f"{escape(service)}: {escape(result)}")
        raise typer.Exit(1)
    if as_json:
        print_json(result.model_dump())
    else:
        typer.echo(f"{service}: {'healthy' if result.healthy else 'NOT healthy'} {result.detail}")
    raise typer.Exit(0 if result.healthy else 1)
