"""``briefings up``: the embedded default — a real nats-server and the four services as
separate processes, stopped cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from contracts.subjects import SERVICES
from runtime.nats_server import NatsServer
from runtime.settings import Settings

EMBEDDED_PORT = 4322


@dataclass
class System:
    settings: Settings
    embedded_nats: bool = True
    log_dir: Path | None = None
    services: tuple[str, ...] = SERVICES
    env: dict[str, str] = field(default_factory=dict)
    nats: NatsServer | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def service_env(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        env["BRIEFINGS_NATS_URL"] = self.settings.nats_url
        env["BRIEFINGS_DATA_DIR"] = str(self.settings.data_dir.resolve())
        env.setdefault("BRIEFINGS_LOG_FORMAT", "json")
        return env

    def start(self) -> None:
        data = self.settings.data_dir.resolve()
        data.mkdir(parents=True, exist_ok=True)
        logs = self.log_dir or data / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if self.embedded_nats:
            host, port = _host_port(self.settings.nats_url)
            self.nats = NatsServer(
                data / "nats", port=port, host=host, log_file=logs / "nats-server.log"
            ).start()
        for name in self.services:
            self.start_service(name, logs)

    def start_service(self, name: str, logs: Path) -> None:
        out = open(logs / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "briefings", "serve", name],
            env=self.service_env(),
            stdout=out,
            stderr=out,
        )

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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.dead():
                return False
            if check():
                return True
            time.sleep(0.25)
        return False


def _host_port(url: str) -> tuple[str, int]:
    rest = url.split("://", 1)[-1].split(",")[0]
    host, _, port = rest.rpartition(":")
    return host or "127.0.0.1", int(port or EMBEDDED_PORT)
