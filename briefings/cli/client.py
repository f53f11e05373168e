"""How the CLI (and tools) talk to the services: NATS request/reply with the same settings."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import typer
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from rich.console import Console
from rich.table import Table

from briefings.runtime.connection import connect
from briefings.runtime.settings import Settings
from contracts.subjects import command_subject

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


class RequestFailed(Exception):
    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(reply.get("message", "request failed"))
        self.reply = reply


def settings() -> Settings:
    return Settings.from_env()


def new_command_id() -> str:
    return str(uuid.uuid4())


def run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(coro_fn())


class Client_:
    """One connection for a CLI run; ``request`` returns the decoded reply."""

    def __init__(self, s: Settings | None = None) -> None:
        self.settings = s or settings()
        self.nc: Client | None = None

    async def __aenter__(self) -> Client_:
        try:
            self.nc = await connect(
                self.settings, "briefings-cli", max_reconnect_attempts=2, allow_reconnect=False
            )
        except Exception as exc:
            raise RequestFailed(
                {
                    "code": "unavailable",
                    "message": f"cannot reach NATS at {self.settings.nats_url}: {exc}",
                }
            ) from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.nc is not None:
            await self.nc.close()

    async def request_raw(
        self, subject: str, body: bytes, timeout: float | None = None
    ) -> dict[str, Any]:
        assert self.nc is not None
        try:
            msg = await self.nc.request(
                subject, body, timeout=timeout or self.settings.request_timeout
            )
        except NoRespondersError:
            raise RequestFailed(
                {"code": "unavailable", "message": f"no service answers {subject}"}
            ) from None
        except NatsTimeoutError:
            raise RequestFailed(
                {"code": "unavailable", "message": f"no reply on {subject} in time"}
            ) from None
        reply: dict[str, Any] = json.loads(msg.data)
        return reply

    async def request(
        self, subject: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        reply = await self.request_raw(subject, json.dumps(payload, default=str).encode(), timeout)
        if reply.get("ok") is False:
            raise RequestFailed(reply)
        return reply


JSON = typer.Option(False, "--json", help="machine-readable output")
COMMAND_ID = typer.Option(
    None, "--command-id", help="idempotency key (a repeat returns the first outcome)"
)
ACTOR = typer.Option("cli", "--actor", help="who is issuing the command")


def call(
    subject: str, payload: dict[str, Any], timeout: float | None = None, as_json: bool = False
) -> dict[str, Any]:
    """One request from a CLI command; a refusal prints the structured error (as JSON with
    ``--json``) and exits 1."""

    async def go() -> dict[str, Any]:
        async with Client_() as client:
            return await client.request(subject, payload, timeout)

    try:
        return run(go)
    except RequestFailed as exc:
        fail(exc.reply, as_json)


def send_command(
    context: str,
    name: str,
    payload: dict[str, Any],
    command_id: str | None,
    actor: str,
    as_json: bool,
    keep_none: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Send ``cmd.<context>.<name>`` with a command id (generated if not given) and print
    the reply. ``None`` fields are left out unless named in ``keep_none``."""
    body = {k: v for k, v in payload.items() if v is not None or k in keep_none}
    body["command_id"] = command_id or new_command_id()
    body["actor"] = actor
    reply = call(command_subject(context, name), body, as_json=as_json)
    print_accepted(reply, as_json)
    return reply


def fail(reply: dict[str, Any], as_json: bool = False) -> NoReturn:
    if as_json:
        print(json.dumps(reply, ensure_ascii=False, indent=2))
    else:
        err_console.print(f"[bold red]{reply.get('code', 'error')}[/]: {reply.get('message', '')}")
        if reply.get("rule"):
            err_console.print(f"  rule: {reply['rule']}")
        for detail in reply.get("details") or []:
            err_console.print(f"  - {detail.get('field') or '(body)'}: {detail.get('message')}")
        for key, value in (reply.get("context") or {}).items():
            err_console.print(f"  {key}: {value}")
    raise typer.Exit(1)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


def print_table(rows: list[dict[str, Any]], columns: list[str], title: str | None = None) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)


def print_accepted(reply: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(reply)
        return
    note = " (repeat: first outcome)" if reply.get("replayed") else ""
    if reply.get("unchanged"):
        note = f" (unchanged: {reply.get('message') or 'nothing to change'})"
    console.print(f"{reply['aggregate_type']} {reply['aggregate_id']} v{reply['version']}{note}")
