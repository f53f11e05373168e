"""A service process: FastStream request/reply on command, query and health subjects.

Subscribers only translate: bytes in, a contract model validated, the application called,
a reply (or the one error shape) out. Nothing a client sends can crash the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from faststream import FastStream
from faststream.nats import NatsBroker, NatsUserPassword
from faststream.nats.annotations import NatsMessage
from faststream.specification import AsyncAPI
from nats.aio.client import Client
from nats.errors import Error as NatsError
from pydantic import BaseModel, ValidationError

from contracts.canonical import RULE_DUPLICATE_KEY, DuplicateKey, refuse_duplicate_keys
from contracts.replies import (
    Command,
    CommandAccepted,
    ErrorCode,
    ErrorReply,
    FieldError,
    HealthReply,
    Query,
    QueryResult,
)
from contracts.subjects import command_subject, health_subject, query_subject
from runtime.commands import CommandBus, Handler
from runtime.connection import connect, connect_options
from runtime.domain import DomainError
from runtime.eventstore import ConcurrencyConflict, EventStore
from runtime.logging import get_logger
from runtime.paging import Page
from runtime.settings import Settings

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
QueryFn = Callable[[Any], Awaitable[Any]]

MAX_REQUEST_BYTES = 256 * 1024
log = get_logger(__name__)


def validation_error(exc: ValidationError) -> ErrorReply:
    details = [
        FieldError(
            field=".".join(str(p) for p in err.get("loc", ())),
            message=err.get("msg", ""),
            type=err.get("type", ""),
        )
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    # A contract rule (``text.formula``, ``date.out_of_range`` …) is named at the top too.
    rules = [d.type for d in details if "." in d.type]
    return ErrorReply(
        code=ErrorCode.VALIDATION_FAILED,
        message=f"{len(details)} field(s) failed validation",
        rule=rules[0] if rules else None,
        details=details,
    )


def domain_error(exc: DomainError) -> ErrorReply:
    return ErrorReply(
        code=exc.code,
        message=exc.message,
        rule=exc.rule,
        context={k: _jsonable(v) for k, v in exc.context.items()},
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def parse_request(model: type[M], body: bytes) -> M | ErrorReply:
    if len(body) > MAX_REQUEST_BYTES:
        return ErrorReply(
            code=ErrorCode.VALIDATION_FAILED,
            message=f"request of {len(body)} bytes exceeds {MAX_REQUEST_BYTES}",
        )
    try:
        refuse_duplicate_keys(body or b"{}")
        return model.model_validate_json(body or b"{}")
    except DuplicateKey as exc:
        return ErrorReply(
            code=ErrorCode.VALIDATION_FAILED,
            message=f"unreadable request: {exc}",
            rule=RULE_DUPLICATE_KEY,
        )
    except ValidationError as exc:
        return validation_error(exc)
    except (ValueError, RecursionError) as exc:  # pragma: no cover - pydantic wraps these
        return ErrorReply(code=ErrorCode.VALIDATION_FAILED, message=f"unreadable request: {exc}")


async def _raw(msg: NatsMessage) -> bytes:
    return msg.body


async def _message(msg: NatsMessage) -> NatsMessage:
    """Decode to the message itself. A handler annotated ``msg: NatsMessage`` gets it through
    FastDepends' context field, which FastStream resolves in a worker thread: a thread hop
    and a task group on every request (~0.3 ms of CPU). Handlers taking the "decoded body"
    get it directly."""
    return msg


class ServiceHost:
    """Owns one service's connections, subscribers, start-up and clean shutdown."""

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        options = {
            k: v
            for k, v in connect_options(settings, f"{name}-rpc").items()
            if k not in {"max_reconnect_attempts", "user", "password"}
        }
        if settings.nats_user and not settings.nats_creds:
            # NatsBroker takes user/password only as a security object.
            options["security"] = NatsUserPassword(settings.nats_user, settings.nats_password or "")
        self.broker = NatsBroker(
            **options,
            max_reconnect_attempts=-1,
            graceful_timeout=10.0,
            log_level=logging.DEBUG,
            # FastStream's own lines go through structlog (runtime/logging.py), not stdout.
            logger=logging.getLogger("faststream.briefings"),
        )
        self.nc: Client | None = None
        self.es: EventStore | None = None
        self.bus: CommandBus | None = None
        self.started_at = time.monotonic()
        self.ready = False
        self.health_detail: Callable[[], Awaitable[dict[str, Any]]] | None = None
        self.setup: Callable[[EventStore], Awaitable[None]] | None = None
        """Runs once connected, before requests are answered: streams, followers, catch-up."""
        self.on_start: list[Callable[[], Awaitable[None]]] = []
        self.on_stop: list[Callable[[], Awaitable[None]]] = []
        self._stop = asyncio.Event()
        self.handled = 0
        self.failed = 0
        self.broker.subscriber(
            health_subject(name),
            decoder=_message,
            title=f"{name} health",
            description="Health request; replies HealthReply",
        )(self._health)

    # ----------------------------------------------------------- registration

    def command(self, context: str, name: str, model: type[Command], handler: Handler) -> None:
        async def handle(msg: Any) -> bytes:
            return await self._run_command(model, msg, handler)

        handle.__name__ = f"cmd_{name}"
        self.broker.subscriber(
            command_subject(context, name),
            queue=f"{self.name}-workers",
            max_workers=self.settings.service_concurrency,
            decoder=_message,
            title=f"{context} command {name}",
            description=f"Command {model.__name__}; replies CommandAccepted or ErrorReply",
        )(handle)

    def query(self, service: str, name: str, model: type[Query], fn: QueryFn) -> None:
        async def handle(msg: Any) -> bytes:
            return await self._run_query(model, msg, fn)

        handle.__name__ = f"qry_{name}"
        self.broker.subscriber(
            query_subject(service, name),
            queue=f"{self.name}-workers",
            max_workers=self.settings.service_concurrency,
            decoder=_message,
            title=f"{service} query {name}",
            description=f"Query {model.__name__}; replies QueryResult or ErrorReply",
        )(handle)

    # -------------------------------------------------------------- handling

    def _bind(self, msg: NatsMessage, kind: str) -> None:
        headers = msg.headers or {}
        structlog.contextvars.bind_contextvars(
            subject=msg.raw_message.subject,
            kind=kind,
            correlation_id=headers.get("correlation_id") or msg.correlation_id,
        )

    async def _run_command(self, model: type[Command], msg: NatsMessage, handler: Handler) -> bytes:
        self._bind(msg, "command")
        try:
            parsed = parse_request(model, msg.body)
            if isinstance(parsed, ErrorReply):
                return self._error(parsed)
            structlog.contextvars.bind_contextvars(
                command_id=parsed.command_id,
                causation_id=parsed.command_id,
                correlation_id=parsed.correlation_id or parsed.command_id,
            )
            if not self.ready or self.bus is None:
                return self._error(
                    ErrorReply(code=ErrorCode.UNAVAILABLE, message=f"{self.name} is starting")
                )
            try:
                reply: CommandAccepted = await self.bus.handle(parsed, handler)
            except DomainError as exc:
                return self._error(domain_error(exc))
            except ConcurrencyConflict as exc:
                return self._error(ErrorReply(code=ErrorCode.CONFLICT, message=str(exc)))
            except ValidationError as exc:
                return self._error(validation_error(exc))
            self.handled += 1
            log.debug("command handled", version=reply.version, replayed=reply.replayed)
            return reply.model_dump_json().encode()
        except Exception as exc:
            self.failed += 1
            log.exception("command failed")
            return self._error(
                ErrorReply(code=ErrorCode.INTERNAL, message=f"internal error: {type(exc).__name__}")
            )
        finally:
            structlog.contextvars.unbind_contextvars(
                "subject", "kind", "correlation_id", "command_id", "causation_id"
            )

    async def _run_query(self, model: type[Query], msg: NatsMessage, fn: QueryFn) -> bytes:
        self._bind(msg, "query")
        try:
            parsed = parse_request(model, msg.body)
            if isinstance(parsed, ErrorReply):
                return self._error(parsed)
            try:
                data = await fn(parsed)
            except DomainError as exc:
                return self._error(domain_error(exc))
            self.handled += 1
            if isinstance(data, Page):
                return QueryResult(data=data.items, next=data.next).model_dump_json().encode()
            return QueryResult(data=data).model_dump_json().encode()
        except Exception as exc:
            self.failed += 1
            log.exception("query failed")
            return self._error(
                ErrorReply(code=ErrorCode.INTERNAL, message=f"internal error: {type(exc).__name__}")
            )
        finally:
            structlog.contextvars.unbind_contextvars("subject", "kind", "correlation_id")

    def _error(self, reply: ErrorReply) -> bytes:
        log.info("request refused", code=reply.code.value, message=reply.message, rule=reply.rule)
        return reply.model_dump_json().encode()

    async def _health(self, msg: Any) -> bytes:
        detail: dict[str, Any] = {
            "uptime_s": round(time.monotonic() - self.started_at, 1),
            "handled": self.handled,
            "failed": self.failed,
        }
        healthy = self.ready and self.nc is not None and self.nc.is_connected
        if self.health_detail is not None:
            try:
                extra = await self.health_detail()
                healthy = healthy and bool(extra.pop("healthy", True))
                detail.update(extra)
            except Exception as exc:
                healthy = False
                detail["error"] = str(exc)
        reply = HealthReply(
            service=self.name,
            healthy=healthy,
            nats_connected=bool(self.nc and self.nc.is_connected),
            detail=detail,
        )
        return reply.model_dump_json().encode()

    # ------------------------------------------------------------- lifecycle

    async def connect(self) -> EventStore | None:
        """Connect, retrying with backoff while NATS is down (the service is not ready).
        ``None`` when asked to stop before a connection was made: SIGTERM is honoured while
        waiting for NATS."""
        delay = 0.25
        while not self._stop.is_set():
            try:
                # nats-py never gives up a first connect when max_reconnect_attempts < 0, so
                # bound this attempt and reconnect forever only once connected.
                self.nc = await self._until_stopped(
                    connect(self.settings, f"{self.name}-store", max_reconnect_attempts=1)
                )
                if self.nc is None:
                    return None
                self.nc.options["max_reconnect_attempts"] = -1
                break
            except Exception as exc:
                # One line per retry, with its backoff (never a traceback).
                log.warning(
                    "nats unavailable, retrying",
                    error=str(exc) or type(exc).__name__,
                    retry_in_s=delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(delay * 2, 5.0)
        if self.nc is None:
            return None
        self.es = EventStore(self.nc)
        return self.es

    async def _until_stopped(self, work: Awaitable[T]) -> T | None:
        """``work``'s result, or ``None`` (``work`` cancelled) once a stop is asked for."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        return None

    async def serve(self, handle_signals: bool = True) -> None:
        """Connect, run ``setup`` (streams, catch-up), then answer requests until SIGTERM."""
        if handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, self._stop.set)
        es = await self.connect()
        if es is None:
            log.info("stopped before NATS was reached")
            return
        if self.setup is not None:
            await self.setup(es)
        for hook in self.on_start:
            await hook()
        while True:
            try:
                await self.broker.start()
                # The server must have processed every SUB before we say "ready", or a
                # request sent right after readiness finds no responder.
                await self.broker.config.connection_state.connection.flush(timeout=5)
                break
            except (OSError, TimeoutError, NatsError) as exc:
                log.warning("broker start failed, retrying", error=str(exc))
                await asyncio.sleep(1)
        self.ready = True
        log.info("service ready", nats=self.settings.nats_url)
        await self._stop.wait()
        log.info("stopping: finishing requests in hand")
        self.ready = False
        await self.broker.stop()  # waits for in-flight handlers (graceful_timeout)
        for hook in self.on_stop:
            with contextlib.suppress(Exception):
                await hook()
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        log.info("stopped")

    def stop(self) -> None:
        self._stop.set()

    def asyncapi(self) -> dict[str, Any]:
        app = FastStream(
            self.broker, specification=AsyncAPI(title=f"briefings {self.name}", version="0.1.0")
        )
        return app.schema.to_specification().to_jsonable()
