"""``briefings up``: the embedded default — a real nats-server and the four services as
separate processes — supervised: a service that exits is started again with backoff (counted
and logged), an embedded nats-server that dies is started again on its own store, and
Ctrl-C or SIGTERM stops everything cleanly at any moment (start-up and health wait included).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from briefings.access import ensure_embedded_access
from contracts.subjects import SERVICES
from runtime.logging import get_logger
from runtime.nats_server import NatsServer
from runtime.settings import Settings

EMBEDDED_PORT = 4322
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 60.0
"""A service that ran this long before exiting starts again at the first backoff."""

log = get_logger("briefings.supervisor")


class StopRequested(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: raised wherever ``up`` is (starting, waiting for health, loading the
    demo, supervising) so it stops at once. A KeyboardInterrupt, so no ``except Exception``
    on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``StopRequested`` once; a second signal while stopping is
    ignored so the clean stop is not cut short. The previous handlers come back after."""
    stopping = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise StopRequested(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@dataclass
class Supervised:
    """One child service and what supervision knows about it."""

    name: str
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    failures_in_a_row: int = 0
    restart_at: float | None = None
    """When an exited service is due to start again (``None``: running or not yet seen)."""


@dataclass
class System:
    settings: Settings
    embedded_nats: bool = True
    log_dir: Path | None = None
    services: tuple[str, ...] = SERVICES
    env: dict[str, str] = field(default_factory=dict)
    nats: NatsServer | None = None
    children: dict[str, Supervised] = field(default_factory=dict)
    nats_restarts: int = 0
    on_event: Callable[[str], None] | None = None
    """Told each supervision event in words (``up`` prints them)."""

    @property
    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        return {n: c.process for n, c in self.children.items() if c.process is not None}

    @property
    def restarts(self) -> Counter[str]:
        counts: Counter[str] = Counter({n: c.restarts for n, c in self.children.items()})
        if self.nats_restarts:
            counts["nats-server"] = self.nats_restarts
        return counts

    def logs(self) -> Path:
        logs = self.log_dir or self.settings.data_dir.resolve() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        return logs

    def service_env(self, role: str | None = None) -> dict[str, str]:
        env = {**os.environ, **self.env}
        env["BRIEFINGS_NATS_URL"] = self.settings.nats_url
        env["BRIEFINGS_DATA_DIR"] = str(self.settings.data_dir.resolve())
        env.setdefault("BRIEFINGS_LOG_FORMAT", "json")
        if role is not None:
            # each process finds its own role's credentials in the data dir
            env["BRIEFINGS_ROLE"] = role
        return env

    def init_streams(self) -> None:
        """The streams, made by the bootstrap user as ``init-streams`` makes them in compose
        (the services' users may not create streams)."""
        logs = self.logs()
        with open(logs / "init-streams.log", "ab") as out:
            done = subprocess.run(
                [sys.executable, "-m", "briefings", "ops", "init-streams"],
                env=self.service_env("bootstrap"),
                stdout=out,
                stderr=out,
                timeout=120,
            )
        if done.returncode != 0:
            raise RuntimeError(f"init-streams failed: see {logs / 'init-streams.log'}")

    def start(self) -> None:
        data = self.settings.data_dir.resolve()
        data.mkdir(parents=True, exist_ok=True)
        if self.embedded_nats:
            self.start_nats()
            self.init_streams()
        for name in self.services:
            self.start_service(name)

    def start_nats(self) -> None:
        """nats-server with the same roles and permissions as the deployment: generated
        credentials in the data dir (briefings/access.py), nobody anonymous."""
        data = self.settings.data_dir.resolve()
        config = ensure_embedded_access(data)
        host, port = _host_port(self.settings.nats_url)
        # Known before it starts: a signal during the start still finds it to stop.
        self.nats = NatsServer(
            data / "nats",
            port=port,
            host=host,
            config_file=config,
            log_file=self.logs() / "nats-server.log",
        )
        self.nats.start()

    def start_service(self, name: str, logs: Path | None = None) -> None:
        out = open((logs or self.logs()) / f"{name}.log", "ab")
        child = self.children.setdefault(name, Supervised(name))
        child.process = subprocess.Popen(
            [sys.executable, "-m", "briefings", "serve", name],
            env=self.service_env(name),
            stdout=out,
            stderr=out,
        )
        out.close()  # the child holds its own descriptor
        child.started_at = time.monotonic()
        child.restart_at = None

    # ------------------------------------------------------------ supervision

    def supervise(self) -> None:
        """One round: restart a dead embedded nats-server, schedule and perform the restart
        of every service that exited. Called every half second by ``up``."""
        now = time.monotonic()
        if self.nats is not None and self.nats.process is not None:
            code = self.nats.process.poll()
            if code is not None:
                self.nats_restarts += 1
                self._event(
                    "nats-server exited, restarting",
                    exit_code=code,
                    restarts=self.nats_restarts,
                )
                try:
                    self.start_nats()
                except (OSError, TimeoutError) as exc:  # tried again next round
                    self._event("nats-server did not start", error=str(exc))
        for child in self.children.values():
            if child.process is None or child.process.poll() is None:
                continue
            if child.restart_at is None:
                ran = now - child.started_at
                child.failures_in_a_row = (
                    1 if ran >= STABLE_AFTER_S else child.failures_in_a_row + 1
                )
                delay = min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (child.failures_in_a_row - 1))
                child.restart_at = now + delay
                self._event(
                    "service exited, restarting",
                    service=child.name,
                    exit_code=child.process.returncode,
                    ran_s=round(ran, 1),
                    backoff_s=delay,
                    restarts=child.restarts + 1,
                )
            elif now >= child.restart_at:
                child.restarts += 1
                self.start_service(child.name)

    def _event(self, what: str, **facts: object) -> None:
        log.warning(what, **facts)
        if self.on_event is not None:
            self.on_event(f"{what}: " + ", ".join(f"{k}={v}" for k, v in facts.items()))

    def stop(self, timeout: float = 15.0) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.processes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.nats is not None:
            self.nats.stop()

    def dead(self) -> list[str]:
        return [n for n, p in self.processes.items() if p.poll() is not None]

    def wait_healthy(self, check: Callable[[], bool], timeout: float = 60.0) -> bool:
        """Supervising while waiting: a service that exits during start-up is started again.
        A signal interrupts the wait (``StopRequested``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.supervise()
            if check():
                return True
            time.sleep(0.25)
        return False


def _host_port(url: str) -> tuple[str, int]:
    rest = url.split("://", 1)[-1].split(",")[0]
    host, _, port = rest.rpartition(":")
    return host or "127.0.0.1", int(port or EMBEDDED_PORT)
