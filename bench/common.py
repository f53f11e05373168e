"""What every benchmark shares: servers it starts itself, timing, the result table."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from runtime.nats_server import NatsServer

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    figure: str
    ours: float
    ceiling: float | None
    unit: str
    note: str = ""

    @property
    def ratio(self) -> str:
        if not self.ceiling or not self.ours:
            return "—"
        # Always "how close to the ceiling": for a time, less is better, so ceiling / ours.
        if self.unit in ("ms", "s"):
            return f"{self.ceiling / self.ours:.0%}"
        return f"{self.ours / self.ceiling:.0%}"


def fmt(value: float, unit: str) -> str:
    if unit in ("ms", "s"):
        return f"{value:,.2f} {unit}"
    if unit == "MB":
        return f"{value:,.0f} MB"
    return f"{value:,.0f} {unit}"


def table(rows: list[Row]) -> str:
    lines = ["| figure | ours | raw ceiling | ratio | note |", "| --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        ceiling = fmt(r.ceiling, r.unit) if r.ceiling else "—"
        lines.append(f"| {r.figure} | {fmt(r.ours, r.unit)} | {ceiling} | {r.ratio} | {r.note} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    python = platform.python_version()
    return f"{os.cpu_count()} cores, {cpu}, {mem:.0f} GiB, Python {python}, {platform.system()}"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


@contextmanager
def nats_server() -> Iterator[NatsServer]:
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(Path(tmp) / "nats").start()
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def service_process(
    name: str, nats_url: str, data_dir: Path, database_url: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(
        os.environ,
        BRIEFINGS_NATS_URL=nats_url,
        BRIEFINGS_DATA_DIR=str(data_dir),
        BRIEFINGS_LOG_LEVEL="warning",
        BRIEFINGS_LOG_FORMAT="json",
    )
    if database_url:
        env["BRIEFINGS_DATABASE_URL"] = database_url
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / f"{name}.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "briefings", "serve", name],
        env=env,
        stdout=log,
        stderr=log,
        cwd=ROOT,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (steady under a busy machine, unlike
    wall-clock figures)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb_of_children() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def run_measured(
    args: list[str], env: dict[str, str] | None = None, timeout_note: str = ""
) -> tuple[float, float, str]:
    """Run a child to its end: (wall seconds, its peak RSS in MB, its stdout). Raises on a
    non-zero exit with the child's stderr."""
    began = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, env=env or dict(os.environ), cwd=ROOT, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - began
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise RuntimeError(
                f"{' '.join(args[:4])} exited {proc.returncode}{timeout_note}: "
                f"{err.read().decode()[-2000:]}"
            )
        return seconds, usage.ru_maxrss / 1024, out.read().decode()
