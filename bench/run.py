"""Run every benchmark and print one table: our figure, the raw ceiling, the ratio.

.venv/bin/python -m bench.run            # default sizes, a few minutes on 2 cores
.venv/bin/python -m bench.run --full     # the million-event figures
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from bench.common import Row, machine, nats_server, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="million-event figures")
    parser.add_argument("--commands", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--events",
        type=int,
        default=0,
        help="history size of the bulk figures (default 50,000; --full 1,000,000)",
    )
    parser.add_argument("--rate", type=float, default=200, help="end-to-end latency: cmd/s")
    parser.add_argument("--seconds", type=float, default=15, help="end-to-end latency: duration")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL figures")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated: commands,load,latency,projection,rebuild,summary,replay,export",
    )
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    rows: list[Row] = []

    def wanted(name: str) -> bool:
        return not only or name in only

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        if wanted("commands"):
            from bench.commands import command_throughput

            with nats_server() as server:
                rows += asyncio.run(
                    command_throughput(server.url, args.commands, args.clients, tmp_path)
                )
        if wanted("load"):
            from bench.commands import aggregate_load

            with nats_server() as server:
                rows += asyncio.run(aggregate_load(server.url, (10, 100, 1000)))
        if wanted("latency"):
            from bench.latency import end_to_end

            with nats_server() as server:
                rows += asyncio.run(end_to_end(server.url, args.rate, args.seconds, tmp_path))
        bulk_parts = {"projection", "rebuild", "summary", "replay", "export"}
        if not only or only & bulk_parts:
            from bench.bulk import bulk

            events = args.events or (1_000_000 if args.full else 50_000)
            with nats_server() as server:
                rows += bulk(
                    server.url,
                    events,
                    tmp_path,
                    only & bulk_parts or bulk_parts,
                    postgres=not args.no_postgres,
                )
    print(f"\nmachine: {machine()}\n")
    print(table(rows))


if __name__ == "__main__":
    main()
