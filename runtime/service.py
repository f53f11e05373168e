"""A service process: FastStream request/reply on command, query and health subjects.

Every service has one shape (docs/foundation.md): its composition root's ``compose`` is called
once NATS is connected and returns a ``Service`` (the command bus, handlers, queries,
followers) built whole, with nothing bound later; the host subscribes to every command, query
and operation its context's contract tables list, starts and catches up the followers, and
owns health (with each follower's lag) and the one error path.

Subscribers only translate: bytes in, a contract model validated, the application called,
a reply (or the one error shape) out. Nothing a client sends can crash the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

import structlog
from faststream import FastStream
from faststream.exceptions import SkipMessage
from faststream.nats import NatsBroker, NatsUserPassword
from faststream.nats.annotations import NatsMessage
from faststream.specification import AsyncAPI
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.errors import ServiceUnavailableError
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
from runtime.people import People
from runtime.projector import Projector, health_detail
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


async def _message(msg: NatsMessage) -> NatsMessage:
    """Decode to the message itself. A handler annotated ``msg: NatsMessage`` gets it through
    FastDepends' context field, which FastStream resolves in a worker thread: a thread hop
    and a task group on every request (~0.3 ms of CPU). Handlers taking the "decoded body"
    get it directly."""
    return msg


@dataclass(frozen=True)
class Api:
    """What a service answers, from its context's contract tables: ``COMMANDS``
    (``cmd.<context>.<name>``), ``QUERIES`` (``qry.<service>.<name>``) and ``OPERATIONS``
    (operator requests on ``cmd.<service>.<name>``, no aggregate)."""

    context: str
    commands: Mapping[str, type[Command]] = field(default_factory=dict)
    queries: Mapping[str, type[Query]] = field(default_factory=dict)
    operations: Mapping[str, type[BaseModel]] = field(default_factory=dict)

    @classmethod
    def of(cls, contracts: ModuleType, context: str | None = None) -> Api:
        return cls(
            context or contracts.CONTEXT,
            getattr(contracts, "COMMANDS", {}),
            getattr(contracts, "QUERIES", {}),
            getattr(contracts, "OPERATIONS", {}),
        )


@dataclass
class Service:
    """A service built whole once connected. ``handlers``, ``queries`` and ``operations``
    have one method per name in the Api's tables (checked at start)."""

    bus: CommandBus | None = None
    handlers: object | None = None
    queries: object | None = None
    operations: object | None = None
    followers: Sequence[Projector] = ()
    """Started and caught up, in order, before the first request; stopped last."""
    on_start: Sequence[Callable[[], Awaitable[None]]] = ()
    """After the followers caught up, before the first request."""
    on_stop: Sequence[Callable[[], Awaitable[None]]] = ()
    health: Callable[[], Awaitable[dict[str, Any]]] | None = None
    """Health detail beyond the followers' (its ``followers`` and ``problems`` join theirs;
    ``healthy: False`` makes the service unhealthy)."""


Compose = Callable[[Settings, EventStore, Client], Awaitable[Service]]


def untrusted_request(msg: NatsMessage) -> str | None:
    """Why a message on a request subject is no request, or None.

    A consumer's deliver subject cannot be restricted by NATS permissions: whoever may create
    a push consumer may point it at ``cmd.reporting.rebuild``. What JetStream delivers there
    carries a status header (idle heartbeats, flow control), a ``$JS.`` reply subject
    (``$JS.ACK.…`` of a stored message, ``$JS.SNAPSHOT.ACK.…`` of a backup chunk) or no reply
    subject at all; a real request always has its requester's reply subject."""
    raw = msg.raw_message
    headers = raw.headers or {}
    if "Status" in headers:
        return f"JetStream status {headers['Status']}"
    reply = raw.reply or ""
    if not reply:
        return "no reply subject"
    if reply.startswith("$JS."):
        return "delivered by JetStream"
    return None


def refuse_untrusted(msg: NatsMessage, kind: str) -> None:
    """Ignore (no reply, no effect) and log a message that is no request."""
    reason = untrusted_request(msg)
    if reason is not None:
        log.warning(
            "ignored a message that is no request",
            kind=kind,
            subject=msg.raw_message.subject,
            reply=msg.raw_message.reply,
            reason=reason,
        )
        raise SkipMessage


class ServiceHost:
    """Owns one service's connections, subscribers, start-up and clean shutdown."""

    def __init__(
        self, name: str, settings: Settings, api: Api | None = None, compose: Compose | None = None
    ) -> None:
        self.name = name
        self.settings = settings
        self.api = api or Api(name)
        self.compose = compose
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
        self.people: People | None = None
        self.service = Service()
        """Empty until connected and composed; no request is answered before (``ready``)."""
        self.started_at = time.monotonic()
        self.ready = False
        self._stop = asyncio.Event()
        self.handled = 0
        self.failed = 0
        self.store_refuses: str | None = None
        """Why JetStream refused the last append (None once one succeeds): a health problem."""
        self.broker.subscriber(
            health_subject(name),
            decoder=_message,
            title=f"{name} health",
            description="Health request; replies HealthReply",
        )(self._health)
        # Subscribed from the contracts, before any connection: the AsyncAPI document is the
        # tables', and a request finds its handler only once the service is built.
        for cmd_name, cmd_model in self.api.commands.items():
            self.command(self.api.context, cmd_name, cmd_model, self._handler(cmd_name))
        for qry_name, qry_model in self.api.queries.items():
            self.query(name, qry_name, qry_model, self._part("queries", qry_name))
        for op_name, op_model in self.api.operations.items():
            self.operation(op_name, op_model, self._part("operations", op_name))

    # ----------------------------------------------------------- registration

    def _handler(self, name: str) -> Handler:
        async def handler(cmd: Any, ctx: Any, uow: Any) -> CommandAccepted:
            result: CommandAccepted = await getattr(self.service.handlers, name)(cmd, ctx, uow)
            return result

        return handler

    def _part(self, part: str, name: str) -> QueryFn:
        async def fn(request: Any) -> Any:
            return await getattr(getattr(self.service, part), name)(request)

        return fn

    def check(self, service: Service) -> None:
        """Every request the contracts list has its method: a gap fails the start, never a
        request."""
        parts = (
            ("handlers", service.handlers, self.api.commands),
            ("queries", service.queries, self.api.queries),
            ("operations", service.operations, self.api.operations),
        )
        missing = [
            f"{part}.{name}"
            for part, obj, table in parts
            for name in table
            if not callable(getattr(obj, name, None))
        ]
        if missing:
            raise TypeError(f"{self.name} answers no {', '.join(missing)}")
        if self.api.commands and service.bus is None:
            raise TypeError(f"{self.name} has commands and no command bus")

    def command(self, context: str, name: str, model: type[Command], handler: Handler) -> None:
        async def handle(msg: Any) -> bytes:
            refuse_untrusted(msg, "command")
            return await self._run_command(model, msg, handler, context, name)

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
            refuse_untrusted(msg, "query")
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

    def operation(self, name: str, model: type[BaseModel], fn: QueryFn) -> None:
        """An operator request on ``cmd.<service>.<name>`` acting on the service's own state
        (no aggregate): its result as JSON, or the one error shape."""

        async def handle(msg: Any) -> bytes:
            refuse_untrusted(msg, "operation")  # e.g. a push consumer onto cmd.reporting.*
            return await self._run_operation(model, msg, fn, name)

        handle.__name__ = f"op_{name}"
        self.broker.subscriber(
            command_subject(self.name, name),
            queue=f"{self.name}-workers",
            decoder=_message,
            title=f"{self.name} {name}",
            description=f"{model.__name__}; replies ok or ErrorReply",
        )(handle)

    # -------------------------------------------------------------- handling

    def _bind(self, msg: NatsMessage, kind: str) -> None:
        headers = msg.headers or {}
        structlog.contextvars.bind_contextvars(
            subject=msg.raw_message.subject,
            kind=kind,
            correlation_id=headers.get("correlation_id") or msg.correlation_id,
        )

    async def _run_command(
        self,
        model: type[Command],
        msg: NatsMessage,
        handler: Handler,
        context: str = "",
        name: str = "",
    ) -> bytes:
        self._bind(msg, "command")
        try:
            parsed = parse_request(model, msg.body)
            if isinstance(parsed, ErrorReply):
                return self._error(parsed)
            if self.people is not None:
                # Who sent it: the verified signer is the actor, never the client's word.
                signer = await self.people.check(
                    context, name, msg.body, msg.raw_message.headers or {}
                )
                if isinstance(signer, ErrorReply):
                    return self._error(signer)
                if signer is not None:
                    parsed = parsed.model_copy(update={"actor": signer.person_id})
            structlog.contextvars.bind_contextvars(
                command_id=parsed.command_id,
                causation_id=parsed.command_id,
                correlation_id=parsed.correlation_id or parsed.command_id,
            )
            bus = self.service.bus
            if not self.ready or bus is None:
                return self._error(
                    ErrorReply(code=ErrorCode.UNAVAILABLE, message=f"{self.name} is starting")
                )
            try:
                reply: CommandAccepted = await bus.handle(parsed, handler)
            except DomainError as exc:
                return self._error(domain_error(exc))
            except ConcurrencyConflict as exc:
                return self._error(ErrorReply(code=ErrorCode.CONFLICT, message=str(exc)))
            except ValidationError as exc:
                return self._error(validation_error(exc))
            except ServiceUnavailableError as exc:
                # JetStream refuses the append (e.g. its store is full): nothing was recorded;
                # the client may retry with the same command_id. Health says so until an
                # append succeeds again.
                self.store_refuses = f"{exc.description or 'unavailable'} (code {exc.err_code})"
                return self._error(
                    ErrorReply(
                        code=ErrorCode.UNAVAILABLE,
                        message=f"the event store refuses writes: {self.store_refuses}; "
                        "nothing was recorded, retry later with the same command_id",
                    )
                )
            self.store_refuses = None
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

    async def _run_operation(
        self, model: type[BaseModel], msg: NatsMessage, fn: QueryFn, name: str = ""
    ) -> bytes:
        self._bind(msg, "operation")
        try:
            parsed = parse_request(model, msg.body)
            if isinstance(parsed, ErrorReply):
                return self._error(parsed)
            if self.people is not None:
                # Operator requests are signed like commands, by an operator only; the
                # verified operator is the actor (a dead letter's resolution records it).
                signer = await self.people.check(
                    self.name, name, msg.body, msg.raw_message.headers or {}, operator_only=True
                )
                if isinstance(signer, ErrorReply):
                    return self._error(signer)
                if signer is not None and "actor" in type(parsed).model_fields:
                    parsed = parsed.model_copy(update={"actor": signer.person_id})
            try:
                result = await fn(parsed)
            except DomainError as exc:
                return self._error(domain_error(exc))
            self.handled += 1
            return json.dumps(result, ensure_ascii=False).encode()
        except Exception as exc:
            self.failed += 1
            log.exception("operation failed")
            return self._error(
                ErrorReply(code=ErrorCode.INTERNAL, message=f"internal error: {type(exc).__name__}")
            )
        finally:
            structlog.contextvars.unbind_contextvars("subject", "kind", "correlation_id")

    def _error(self, reply: ErrorReply) -> bytes:
        log.info("request refused", code=reply.code.value, message=reply.message, rule=reply.rule)
        return reply.model_dump_json().encode()

    async def _health(self, msg: Any) -> bytes:
        refuse_untrusted(msg, "health")
        detail: dict[str, Any] = {
            "uptime_s": round(time.monotonic() - self.started_at, 1),
            "handled": self.handled,
            "failed": self.failed,
            "followers": {},
            "problems": [],
        }
        healthy = self.ready and self.nc is not None and self.nc.is_connected
        try:
            if self.es is not None and self.service.followers:
                own = await health_detail(self.es, self.service.followers)
                healthy = healthy and bool(own.pop("healthy", True))
                detail.update(own)
            if self.service.health is not None:
                extra = await self.service.health()
                healthy = healthy and bool(extra.pop("healthy", True))
                detail["followers"] = {**detail["followers"], **extra.pop("followers", {})}
                detail["problems"] = [*detail["problems"], *extra.pop("problems", [])]
                detail.update(extra)
        except Exception as exc:
            healthy = False
            detail["error"] = str(exc)
            detail["problems"] = [*detail["problems"], f"health failed: {exc}"]
        if self.store_refuses is not None:
            healthy = False
            refused = f"the event store refuses writes: {self.store_refuses}"
            detail["problems"] = [*detail["problems"], refused]
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
        self.people = People(self.es)
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

    async def _start_service(self, es: EventStore) -> None:
        """Compose the service (connected), then start and catch up its followers."""
        assert self.nc is not None
        if self.compose is not None:
            service = await self.compose(self.settings, es, self.nc)
            self.check(service)
            self.service = service
        for follower in self.service.followers:
            await follower.start()
            await follower.catch_up()
        for hook in self.service.on_start:
            await hook()

    async def _stop_service(self) -> None:
        for hook in [*self.service.on_stop, *(f.stop for f in self.service.followers)]:
            try:
                await hook()
            except Exception:
                log.exception("stopping a part failed")

    async def _start_up(self, es: EventStore) -> bool:
        """Compose and catch up, then start the broker (retried while NATS refuses)."""
        await self._start_service(es)
        while True:
            try:
                await self.broker.start()
                # The server must have processed every SUB before we say "ready", or a
                # request sent right after readiness finds no responder.
                await self.broker.config.connection_state.connection.flush(timeout=5)
                return True
            except (OSError, TimeoutError, NatsError) as exc:
                log.warning("broker start failed, retrying", error=str(exc))
                await asyncio.sleep(1)

    async def _abandon_start_up(self) -> None:
        """Undo a start-up cut short by a stop, each part bounded: a stop never hangs."""
        for part in (self._stop_service, self.broker.stop):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(part(), 10)
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), 10)

    async def serve(self, handle_signals: bool = True) -> None:
        """Connect, compose the service (streams, followers caught up), then answer requests
        until SIGTERM."""
        if handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, self._stop.set)
        es = await self.connect()
        if es is None:
            log.info("stopped before NATS was reached")
            return
        if not await self._until_stopped(self._start_up(es)):
            # SIGTERM while composing or catching up (NATS may have gone again): stop now.
            log.info("stopped during start-up")
            await self._abandon_start_up()
            return
        self.ready = True
        log.info("service ready", nats=self.settings.nats_url)
        await self._stop.wait()
        log.info("stopping: finishing requests in hand")
        self.ready = False
        await self.broker.stop()  # waits for in-flight handlers (graceful_timeout)
        await self._stop_service()
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
