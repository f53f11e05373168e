"""Export and verify: a clean history verifies; every kind of tampering is caught, in an export
file and in a stream written around the service."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nats.aio.client import Client

from briefings.audit.export import export_live
from briefings.audit.verify import verify_export, verify_live
from contracts.canonical import GENESIS_HASH, canonical_json, sha256_hex
from runtime.settings import Settings
from tests.audit.history import index_of, read_lines, roster_history, run_cli, write_lines
from tests.support import running_service


@pytest.fixture
async def history(settings: Settings, nc: Client) -> None:
    async with running_service("roster", settings):
        await roster_history(nc)


async def exported(nc: Client, path: Path) -> dict:
    with path.open("wb") as out:
        return await export_live(nc, out)


async def test_export_is_canonical_ordered_and_sealed(
    history: None, nc: Client, tmp_path: Path
) -> None:
    path = tmp_path / "history.jsonl"
    manifest = await exported(nc, path)
    raw = path.read_bytes().splitlines()
    objects = [json.loads(line) for line in raw]
    assert "manifest" in objects[-1] and objects[-1]["manifest"] == manifest
    records = objects[:-1]
    # Each line is already canonical and carries stream, seq, subject, server time, envelope.
    assert all(canonical_json(o) == line for o, line in zip(objects, raw, strict=True))
    assert [o["seq"] for o in records] == list(range(1, len(records) + 1))
    assert {o["stream"] for o in records} == {"ROSTER"}
    assert all(o["time"].endswith("Z") and o["envelope"]["event_id"] for o in records)
    # The digest, recomputed here from HASHING.md's wording.
    assert (
        manifest["digest"]
        == hashlib.sha256(b"".join(line + b"\n" for line in raw[:-1])).hexdigest()
    )
    assert manifest["streams"]["ROSTER"] == {
        "events": len(records),
        "first_seq": 1,
        "last_seq": len(records),
    }
    assert manifest["streams"]["EVENTS"]["events"] == 0 and manifest["complete"]
    # The chain, recomputed independently of briefings.audit.
    last: dict[str, str] = {}
    for o in records:
        env = o["envelope"]
        assert env["prev_hash"] == last.get(o["subject"], GENESIS_HASH)
        last[o["subject"]] = sha256_hex(canonical_json(env))
    report = verify_export(path)
    assert report.ok and report.events == len(records) and report.aggregates == 5


async def test_verify_live_and_file_via_cli(history: None, nats_server, tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    done = run_cli(nats_server.url, "export", "-o", str(path))
    assert done.returncode == 0, done.stderr
    assert "digest" in done.stderr
    for args in (("verify",), ("verify", str(path)), ("verify", "--json", str(path))):
        done = run_cli(nats_server.url, *args)
        assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"] is True


# ------------------------------------------------------------------ tampering with an export


def _alter(objects: list[dict]) -> None:
    objects[index_of(objects, "city", 2)]["envelope"]["payload"]["name"] = "Forged name"


def _drop(objects: list[dict]) -> None:
    del objects[index_of(objects, "city", 2)]


def _reorder(objects: list[dict]) -> None:
    a, b = index_of(objects, "city", 2), index_of(objects, "city", 3)
    objects[a], objects[b] = objects[b], objects[a]


def _insert(objects: list[dict]) -> None:
    at = index_of(objects, "city", 2)
    forged = json.loads(json.dumps(objects[at]))
    forged["envelope"]["event_id"] = "00000000-0000-4000-8000-000000000001"
    forged["envelope"]["payload"]["name"] = "Inserted"
    objects.insert(at + 1, forged)


TAMPERS = {
    "alter": (_alter, {"prev_hash_mismatch"}),
    "drop": (_drop, {"prev_hash_mismatch", "version_gap", "sequence_gap"}),
    "reorder": (_reorder, {"prev_hash_mismatch", "version_gap", "out_of_order"}),
    "insert": (_insert, {"prev_hash_mismatch", "version_gap", "out_of_order"}),
}


@pytest.mark.parametrize("reseal", [False, True], ids=["manifest-kept", "manifest-resealed"])
@pytest.mark.parametrize("kind", sorted(TAMPERS))
async def test_each_tamper_of_an_export_is_caught(
    history: None, nc: Client, tmp_path: Path, kind: str, reseal: bool
) -> None:
    path = tmp_path / "h.jsonl"
    await exported(nc, path)
    assert verify_export(path).ok
    objects = read_lines(path)
    tamper, expected_kinds = TAMPERS[kind]
    tamper(objects)
    write_lines(path, objects, reseal=reseal)
    report = verify_export(path)
    kinds = {b.kind for b in report.breaks}
    assert not report.ok
    assert expected_kinds <= kinds, report.breaks
    assert ("digest_mismatch" in kinds) != reseal
    chain = next(b for b in report.breaks if b.kind in {"prev_hash_mismatch", "version_gap"})
    assert chain.stream == "ROSTER" and chain.aggregate == "unit/city" and chain.seq
    assert chain.expected != chain.found


async def test_altered_last_event_needs_the_recorded_digest(
    history: None, nc: Client, tmp_path: Path
) -> None:
    """No later link covers an aggregate's last event: the digest kept out of band does."""
    path = tmp_path / "h.jsonl"
    manifest = await exported(nc, path)
    objects = read_lines(path)
    objects[index_of(objects, "city", 3)]["envelope"]["payload"]["name"] = "Forged"
    write_lines(path, objects, reseal=True)
    assert verify_export(path).ok  # the documented limit of chains alone
    report = verify_export(path, expect_digest=manifest["digest"])
    assert [b.kind for b in report.breaks] == ["digest_mismatch"]


async def test_truncated_export_is_caught(history: None, nc: Client, tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    await exported(nc, path)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-3]))  # the manifest and two events lost
    report = verify_export(path)
    assert "manifest" in {b.kind for b in report.breaks}


async def test_cli_verify_exits_nonzero_and_names_the_break(
    history: None, nats_server, nc: Client, tmp_path: Path
) -> None:
    path = tmp_path / "h.jsonl"
    await exported(nc, path)
    objects = read_lines(path)
    _alter(objects)
    write_lines(path, objects, reseal=True)
    done = run_cli(nats_server.url, "verify", str(path))
    assert done.returncode == 1
    line = next(x for x in done.stdout.splitlines() if "prev_hash_mismatch" in x)
    seq = objects[index_of(objects, "city", 3)]["seq"]
    assert f"ROSTER:{seq}" in line and "unit/city" in line and "expected" in line


# ------------------------------------------------------- a stream written around the service


async def test_forged_events_published_around_the_service_are_caught(
    history: None, nc: Client, nats_server, tmp_path: Path
) -> None:
    js = nc.jetstream()
    last = json.loads((await js.get_last_msg("ROSTER", "ev.roster.unit.city")).data)
    # 1. An altered copy of the last event, appended as if it were the next one.
    altered = dict(
        last,
        event_id="00000000-0000-4000-8000-0000000000aa",
        payload={**last["payload"], "name": "Forged"},
    )
    await js.publish("ev.roster.unit.city", canonical_json(altered), stream="ROSTER")
    # 2. A forged first event of a new aggregate with a made-up prev_hash.
    forged = dict(
        last,
        event_id="00000000-0000-4000-8000-0000000000bb",
        aggregate_id="ghost",
        aggregate_version=1,
        prev_hash="ab" * 32,
    )
    ack = await js.publish("ev.roster.unit.ghost", canonical_json(forged), stream="ROSTER")
    # 3. Bytes that are not an envelope at all.
    junk = await js.publish("ev.roster.member.m0", b"not json", stream="ROSTER")
    # 4. An old event replayed verbatim at the end (a re-ordering: the store cannot move one).
    first = await js.get_last_msg("ROSTER", "ev.roster.member.m1")
    again = await js.publish("ev.roster.member.m1", first.data, stream="ROSTER")
    report = await verify_live(nc)
    kinds = {(b.kind, b.seq) for b in report.breaks}
    assert ("prev_hash_mismatch", again.seq) in kinds and ("version_gap", again.seq) in kinds
    assert ("prev_hash_mismatch", ack.seq - 1) in kinds and ("version_gap", ack.seq - 1) in kinds
    assert ("not_genesis", ack.seq) in kinds
    assert ("unreadable", junk.seq) in kinds
    brk = next(b for b in report.breaks if b.kind == "prev_hash_mismatch")
    assert brk.aggregate == "unit/city" and brk.found == last["prev_hash"]
    assert brk.expected == sha256_hex(canonical_json(last))
    done = run_cli(nats_server.url, "verify")
    assert done.returncode == 1 and "not_genesis" in done.stdout
    # The export carries the forgeries faithfully, and verifying it finds the same breaks.
    path = tmp_path / "h.jsonl"
    await exported(nc, path)
    assert {(b.kind, b.seq) for b in verify_export(path).breaks} == kinds


async def test_windowed_export_anchors_chains_at_the_window(
    history: None, nc: Client, tmp_path: Path
) -> None:
    js = nc.jetstream()
    fifth = await js.get_msg("ROSTER", 5)
    path = tmp_path / "window.jsonl"
    with path.open("wb") as out:
        manifest = await export_live(nc, out, ("ROSTER",), since=fifth.time)
    records = read_lines(path)[:-1]
    assert records[0]["seq"] == 5 and not manifest["complete"]
    report = verify_export(path)
    assert report.ok and report.unanchored >= 1


async def test_cli_export_of_one_stream_within_a_window(
    history: None, nats_server, nc: Client, tmp_path: Path
) -> None:
    js = nc.jetstream()
    fourth = (await js.get_msg("ROSTER", 4)).time
    path = tmp_path / "w.jsonl"
    done = run_cli(
        nats_server.url,
        "export",
        "-o",
        str(path),
        "--stream",
        "roster",
        "--until",
        fourth.isoformat(),
    )
    assert done.returncode == 0, done.stderr
    objects = read_lines(path)
    assert [o["seq"] for o in objects[:-1]] == [1, 2, 3, 4]
    manifest = objects[-1]["manifest"]
    assert list(manifest["streams"]) == ["ROSTER"] and not manifest["complete"]
    assert run_cli(nats_server.url, "verify", str(path)).returncode == 0
    # A window after the last event holds nothing, and says so.
    late = tmp_path / "late.jsonl"
    with late.open("wb") as out:
        empty = await export_live(nc, out, since=datetime.now(UTC) + timedelta(hours=1))
    assert empty["events"] == 0 and verify_export(late).ok
