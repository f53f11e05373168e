"""Replay, receipts, lineage and bitemporal questions over a small real 2022 written by the
roster, events and awards services; corrections are entered after a known instant."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from nats.aio.client import Client

from briefings.audit import receipts
from briefings.audit.explain import Lineage, explain
from briefings.audit.export import export_live
from briefings.audit.replay import Cut, replay_export, replay_live
from contracts.reporting import AnnualSummaryQuery
from runtime.nats_server import NatsServer
from tests.audit.history import (
    index_of,
    january_corrections,
    read_lines,
    run_cli,
    write_lines,
    year_2022,
)
from tests.support import connect, request, running_service, settings_for

YEAR = AnnualSummaryQuery(year=2022)


@dataclass
class World:
    server: NatsServer
    nc: Client
    known_at: datetime  # everything of the year recorded, no correction yet
    corrected_at: datetime  # the corrections recorded too
    export: Path
    tmp: Path
    cut: Cut  # the whole history written by the fixture (a test may add events later)

    @property
    def url(self) -> str:
        return self.server.url


@pytest_asyncio.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("audit-world")
    server = NatsServer(tmp / "nats", log_file=tmp / "nats.log").start()
    nc = await connect(server.url)
    try:
        settings = settings_for(server.url, tmp / "data")
        async with (
            running_service("roster", settings),
            running_service("events", settings),
            running_service("awards", settings),
        ):
            await year_2022(nc)
            await asyncio.sleep(0.05)
            known_at = datetime.now(UTC)
            await asyncio.sleep(0.05)
            await january_corrections(nc)
            await asyncio.sleep(0.05)
            corrected_at = datetime.now(UTC)
        export = tmp / "history.jsonl"
        with export.open("wb") as out:
            manifest = await export_live(nc, out)
        cut = Cut(until_seq={s: v["last_seq"] for s, v in manifest["streams"].items()})
        yield World(server, nc, known_at, corrected_at, export, tmp, cut)
    finally:
        await nc.close()
        server.stop()


def _summary(replay_result, query: AnnualSummaryQuery = YEAR) -> dict:
    return replay_result.summary(query)


async def test_replay_twice_is_byte_identical_and_export_equals_live(world: World) -> None:
    outputs = []
    cut = [f"--until-seq={s}:{n}" for s, n in world.cut.until_seq.items()]
    for args in (
        ("replay", "2022", *cut),
        ("replay", "2022", *cut),
        ("replay", "2022", "--from", str(world.export)),
        ("replay", "2022", "--format", "json", "--lang", "vi", *cut),
        ("replay", "2022", "--lang", "vi", *cut),
        ("replay", "2022", "--lang", "en", *cut),
    ):
        done = run_cli(world.url, *args)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    # Vietnamese is the default language, English on request.
    assert outputs[0] == outputs[4] != outputs[5]
    assert "20" in outputs[0] and json.loads(outputs[3])["attendance"]["total_attendances"] == 20
    # The whole read model, not only the rendered summary, is the same from both sources.
    with await replay_live(world.nc, world.cut) as live, replay_export(world.export, Cut()) as off:
        assert live.model.dump() == off.model.dump()
        assert live.digest.hexdigest() == off.digest.hexdigest()
        # The replay's own per-stream running digests are those the read model kept with its
        # positions (what the reporting service's receipts name).
        kept = live.model.cut()
        assert {
            s: {"events": c.events, "digest": c.digest} for s, c in kept.items()
        } == live.digest.streams
        assert (
            sum(c.events for c in kept.values())
            == live.digest.count
            == read_lines(world.export)[-1]["manifest"]["events"]
        )


async def test_as_of_shows_what_was_known_and_diff_shows_the_corrections(world: World) -> None:
    before = Cut(as_of=world.known_at)
    with await replay_live(world.nc, before) as then, await replay_live(world.nc, world.cut) as now:
        known = _summary(then, AnnualSummaryQuery(year=2022, as_of=world.known_at))
        latest = _summary(now)
    assert known["attendance"]["member_attendances"] == 10  # c1 4, c2 4, c3 2
    assert known["attendance"]["guest_attendances"] == 7
    assert latest["attendance"]["member_attendances"] == 10  # c1 3, c2 4, c3 3
    assert latest["attendance"]["total_attendances"] == 20
    done = run_cli(
        world.url,
        "diff",
        "2022",
        "--as-of",
        world.known_at.isoformat(),
        "--against",
        world.corrected_at.isoformat(),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    changes = {c["figure"]: (c["before"], c["after"]) for c in json.loads(done.stdout)}
    assert changes["attendance.total_attendances"] == (17, 20)
    assert changes["conferences.list[c1].member_attendances"] == (4, 3)
    assert changes["conferences.list[c3].member_attendances"] == (2, 3)
    assert "awards.collective" not in changes


async def test_occurred_until_differs_from_as_of(world: World) -> None:
    """Valid time vs record time: the late sheet of November happened before 9 December
    (so occurred-until keeps it) but was entered after (so as-of leaves it out)."""
    review_day = datetime.fromisoformat("2022-12-09T12:00:00+07:00")
    valid_cut = Cut(world.cut.until_seq, occurred_until=review_day)
    with await replay_live(world.nc, valid_cut) as valid:
        summary = _summary(valid)
    c3 = next(c for c in summary["conferences"]["list"] if c["conference_id"] == "c3")
    c1 = next(c for c in summary["conferences"]["list"] if c["conference_id"] == "c1")
    assert c3["member_attendances"] == 3 and c3["guest_attendances"] == 0  # guests: January
    assert c1["member_attendances"] == 4  # the withdrawal occurred in January
    done = run_cli(
        world.url,
        "replay",
        "2022",
        "--occurred-until",
        review_day.isoformat(),
        "--from",
        str(world.export),
        "--format",
        "json",
    )
    assert json.loads(done.stdout)["conferences"]["list"] == summary["conferences"]["list"]


async def test_until_seq_bounds_a_stream(world: World) -> None:
    lines = read_lines(world.export)
    last_before = max(
        o["seq"]
        for o in lines[:-1]
        if o["stream"] == "EVENTS"
        and o["envelope"]["recorded_at"] <= world.known_at.isoformat().replace("+00:00", "Z")
    )
    with (
        await replay_live(world.nc, Cut(until_seq={"EVENTS": last_before})) as cut,
        await replay_live(world.nc, Cut(as_of=world.known_at)) as then,
    ):
        assert cut.cut_vector["EVENTS"] == last_before
        assert cut.model.dump() == then.model.dump()


async def test_receipt_confirmed_tomorrow_refuted_when_one_event_is_altered(
    world: World, tmp_path: Path
) -> None:
    receipt = tmp_path / "receipt.json"
    done = run_cli(
        world.url, "replay", "2022", "--format", "markdown", "--receipt-out", str(receipt)
    )
    assert done.returncode == 0, done.stderr
    issued = json.loads(receipt.read_text())
    assert set(issued) >= {
        "cut",
        "events_digest",
        "projection_version",
        "output_digest",
        "query",
        "format",
        "lang",
    }
    assert issued["cut"] == world.cut.until_seq == {"AWARDS": 2, "EVENTS": 22, "ROSTER": 8}
    # "Tomorrow": the history has grown since; the receipt's cut still gives the same report.
    async with running_service("events", settings_for(world.url, world.tmp / "data")):
        reply = await request(
            world.nc,
            "cmd.events.record_attendance",
            {"command_id": "after-receipt", "conference_id": "c3", "member_id": "p2"},
        )
        assert reply["ok"], reply
    done = run_cli(world.url, "check-receipt", str(receipt))
    assert done.returncode == 0 and "CONFIRMED" in done.stdout, done.stdout + done.stderr
    later = tmp_path / "later.jsonl"
    with later.open("wb") as out:
        await export_live(world.nc, out)
    assert run_cli(world.url, "check-receipt", str(receipt), "--from", str(later)).returncode == 0
    # One event of the cut altered (and the export resealed): refuted.
    objects = read_lines(later)
    at = index_of(objects, "c2", 2)  # the conference c2's second event
    objects[at]["envelope"]["actor"] = "someone-else"
    write_lines(later, objects, reseal=True)
    done = run_cli(world.url, "check-receipt", str(receipt), "--from", str(later), "--json")
    assert done.returncode == 1
    findings = json.loads(done.stdout)["findings"]
    assert any("events of the cut differ" in f for f in findings)
    # An altered count in the rendered report is refuted too (the output digest).
    forged = dict(issued, output_digest=receipts.output_digest("a different report"))
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    done = run_cli(world.url, "check-receipt", str(tmp_path / "forged.json"), "--json")
    assert done.returncode == 1
    assert any("report output differ" in f for f in json.loads(done.stdout)["findings"])


FIGURES = (
    "attendances",
    "member-attendances",
    "guest-attendances",
    "conferences",
    "awards",
    "awards.collective",
    "awards.individual",
    "unit:cb1",
    "unit:city",
    "member:p2",
    "member:r2",
)


@pytest.mark.parametrize("known", [False, True], ids=["latest", "as-known-on-review-day"])
async def test_explain_adds_up_to_every_figure(world: World, known: bool) -> None:
    cut = Cut(as_of=world.known_at) if known else world.cut
    lineage = Lineage()
    with await replay_live(world.nc, cut, also=lineage.add) as result:
        query = AnnualSummaryQuery(year=2022, as_of=cut.as_of)
        summary = result.summary(query)
        participation = result.model.participation(2022)
    lineage.finish()
    for figure in FIGURES:
        found = explain(
            lineage,
            figure,
            summary,
            participation,
            datetime(2022, 1, 1).date(),
            datetime(2022, 12, 31).date(),
        )
        assert found.adds_up, (figure, found.total, found.denominator, found.summary_value)
        assert found.contributions or found.summary_value == 0, figure
        for part in found.contributions:
            assert part.events and all(ref.command_id for ref in part.events)
        assert sum(part.amount for part in found.contributions) == found.total
    # Not vacuous: the figures are those of the history written.
    expected = 17 if known else 20
    assert (
        explain(
            lineage,
            "attendances",
            summary,
            participation,
            datetime(2022, 1, 1).date(),
            datetime(2022, 12, 31).date(),
        ).total
        == expected
    )


async def test_explain_cli_lists_commands_actors_correlations(world: World) -> None:
    done = run_cli(world.url, "explain", "2022", "attendances", "--from", str(world.export))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.rstrip().endswith("= 20; the summary says 20")
    assert "command=late-c3-p3 actor=clerk-hoa correlation=late-sheet-c3" in out
    # p2's attendance at c1 was withdrawn: listed, counted 0, with both its events.
    withdrawn = out.split("+0     member p2 at c1 (2022-03-15): withdrawn\n")[1]
    assert "command=att-c1-p2" in withdrawn.split("+")[0]
    assert "AttendanceCorrected conference/c1 command=fix-c1-p2 actor=clerk-hoa" in withdrawn
