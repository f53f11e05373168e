"""Sending the sample year through the services' public commands (NATS request/reply).

Batches go in order, so causes precede effects (units before members, enrolment before
attendance, holding before attendance). Inside a batch, different aggregates are sent at
once, a bounded number at a time; commands to one aggregate (one ``lane``) go one after
the other, since concurrent appends to one subject would only conflict and retry. The one
exception to batch order: a conference's attendance rows (see ``DETACHABLE``) keep
sending while the following batches start.

Every command carries a command id derived from the seed and its position, so a re-run
gets ``replayed`` answers and writes nothing new, and a command whose service was not there
(a timeout, no responders, a service starting) is sent again with the same id until it is
answered: only an explicit ``"ok": true`` counts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nats.js.errors import NotFoundError

from briefings.client import RETRY_FOR_S, Client_, RequestFailed, as_error, is_success
from briefings.demo.generator import Plan, Step
from contracts.roster import PERSON
from contracts.subjects import stream_name
from runtime.connection import connect
from runtime.settings import Settings

DETACHABLE = {"record_attendance", "record_guest_attendance"}
"""A conference's attendance need not hold up what follows it: the events service judges
each member by the roster as it stood on the conference date, whenever the row arrives.
So these batches keep sending while later batches start (one lane per conference)."""


class DemoLoadFailed(Exception):
    """A service refused a command of the plan: the plan and the service disagree."""

    def __init__(self, step: Step, reply: dict[str, Any]) -> None:
        reply = as_error(reply)
        detail = f" (rule {reply['rule']})" if reply.get("rule") else ""
        super().__init__(
            f"step {step.index} {step.name} on {step.on} was refused: "
            f"{reply.get('code')}: {reply.get('message')}{detail}"
        )
        self.step = step
        self.reply = reply


@dataclass
class LoadReport:
    seed: int
    sent: int = 0
    applied: int = 0
    replayed: int = 0
    unchanged: int = 0
    retries: int = 0
    recovered: int = 0
    """Commands answered only after a retry (their first reply was lost or refused as
    unavailable); a ``replayed`` answer among them means the first attempt had gone in."""
    seconds: float = 0.0
    by_command: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def count(self, step: Step, reply: dict[str, Any]) -> None:
        if not is_success(reply):  # a failure is never counted as applied
            raise DemoLoadFailed(step, reply)
        self.sent += 1
        self.by_command[step.name] += 1
        if reply.get("replayed"):
            self.replayed += 1
        elif reply.get("unchanged"):
            self.unchanged += 1
        else:
            self.applied += 1


async def is_store_empty(settings: Settings) -> bool:
    """True when the roster stream holds no event but people's (or does not exist yet): the
    first operator ``briefings up`` registers is no data."""
    nc = await connect(settings, "briefings-demo", allow_reconnect=False)
    try:
        people = f"ev.roster.{PERSON}.>"
        info = await nc.jetstream().stream_info(stream_name("roster"), subjects_filter=people)
        return info.state.messages == sum((info.state.subjects or {}).values())
    except NotFoundError:
        return True
    finally:
        await nc.close()


async def send_step(
    client: Client_, step: Step, report: LoadReport, retry_for: float = RETRY_FOR_S
) -> dict[str, Any]:
    """The step's success reply; an ``unavailable`` answer is retried with the same command
    id (``retry_for`` seconds at most), any other refusal raises ``DemoLoadFailed``."""
    body = json.dumps(step.payload(), ensure_ascii=False).encode()
    tries = 0

    def retried(_: dict[str, Any]) -> None:
        nonlocal tries
        tries += 1
        report.retries += 1

    try:
        reply = await client.request_retrying(step.subject, body, retry_for, on_retry=retried)
    except RequestFailed as exc:
        raise DemoLoadFailed(step, exc.reply) from None
    if tries:
        report.recovered += 1
    return reply


async def load_plan(
    plan: Plan,
    settings: Settings,
    concurrency: int = 8,
    on_step: Callable[[Step], None] | None = None,
) -> LoadReport:
    """Send every step of ``plan``; raises DemoLoadFailed on the first refusal."""
    report = LoadReport(seed=plan.seed)
    started = time.monotonic()
    gate = asyncio.Semaphore(concurrency)
    running: dict[str, asyncio.Task[None]] = {}  # detached lanes still sending
    async with Client_(settings) as client:

        async def lane(steps: list[Step]) -> None:
            for step in steps:
                async with gate:
                    reply = await send_step(client, step, report)
                report.count(step, reply)
                if on_step is not None:
                    on_step(step)

        try:
            for batch in plan.batches():
                lanes: dict[str, list[Step]] = defaultdict(list)
                for step in batch:
                    lanes[step.lane].append(step)
                for name in lanes:  # a lane's earlier commands land first
                    if name in running:
                        await running.pop(name)
                for name, task in list(running.items()):
                    if task.done():  # surface a refusal as soon as it happens
                        running.pop(name).result()
                tasks = {name: asyncio.create_task(lane(steps)) for name, steps in lanes.items()}
                if all(step.name in DETACHABLE for step in batch):
                    running.update(tasks)
                else:
                    await asyncio.gather(*tasks.values())
            await asyncio.gather(*running.values())
        finally:
            for task in running.values():
                task.cancel()
    report.seconds = time.monotonic() - started
    return report


async def load_with_progress(
    plan: Plan, settings: Settings, concurrency: int = 8, show: bool = True
) -> LoadReport:
    """``load_plan`` under a rich progress bar (on stderr, so stdout stays clean)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from briefings.terminal import err_console

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=not show,
        transient=False,
    ) as progress:
        task = progress.add_task(
            f"loading the 2022 sample year (seed {plan.seed})", total=len(plan.steps)
        )

        def advance(step: Step) -> None:
            progress.update(task, advance=1, description=f"{step.on} {step.name}")

        report = await load_plan(plan, settings, concurrency, on_step=advance)
        progress.update(task, description=f"loaded the 2022 sample year (seed {plan.seed})")
    return report
