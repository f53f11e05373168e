"""Issue #13 finding 5: people have identities. Commands are signed with the person's ed25519
key; every command service verifies the signature against the registry of public keys kept
as events on ROSTER and records the verified person as the event's actor, never the
client's ``actor`` string (runtime/people.py, docs/audit.md "People")."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from typer.testing import CliRunner

from briefings.cli import app
from briefings.client import Client_, RequestFailed
from briefings.keys import KeyFile
from contracts.envelope import EventEnvelope
from contracts.signing import SIGNATURE_HEADER, SIGNER_HEADER, SigningKey, person_id_for
from runtime.eventstore import EventStore
from runtime.settings import Settings
from tests.security.support import Principal
from tests.support import running_service, wait_healthy

FORGED = "Nguyễn Văn Giả"


def key_file(tmp: Path, name: str, role: str) -> tuple[Path, KeyFile]:
    path = tmp / f"{name}.json"
    person = KeyFile(name, role, SigningKey.generate())
    person.write(path)
    return path, person


async def send(
    s: Settings, subject: str, payload: dict[str, Any], key: Path | None = None
) -> dict[str, Any]:
    """The reply (success or refusal) of a command sent the way the CLI sends it."""
    async with Client_(s.with_(key_file=key)) as client:
        try:
            return await client.request(subject, payload)
        except RequestFailed as exc:
            return exc.reply


async def raw(nc: Client, subject: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    msg = await nc.request(subject, body, timeout=10, headers=headers)
    reply: dict[str, Any] = json.loads(msg.data)
    return reply


async def actors(nc: Client, stream: str, subject: str) -> list[str]:
    events = await EventStore(nc).read_subject(stream, subject)
    return [EventEnvelope.from_bytes(e.data).actor for e in events]


async def stream_last(nc: Client, stream: str) -> int:
    return await EventStore(nc).stream_last_sequence(stream)


def unit(command_id: str, unit_id: str, actor: str = FORGED) -> dict[str, Any]:
    return {
        "command_id": command_id,
        "actor": actor,
        "unit_id": unit_id,
        "kind": "city",
        "name": f"Đơn vị {unit_id}",
    }


def refused(reply: dict[str, Any], rule: str) -> None:
    assert reply["ok"] is False, reply
    assert (reply["code"], reply["rule"]) == ("unauthorized", rule), reply


async def test_finding_5_the_actor_is_the_verified_signer_and_the_rest_is_refused(
    settings: Settings, nc: Client, tmp_path: Path
) -> None:
    alice_file, alice = key_file(tmp_path, "Alice", "operator")
    bob_file, bob = key_file(tmp_path, "Bob", "clerk")
    stranger_file, _ = key_file(tmp_path, "Stranger", "clerk")
    async with (
        running_service("roster", settings),
        running_service("events", settings),
        running_service("awards", settings),
        running_service("reporting", settings),
    ):
        # An empty registry: unsigned commands are accepted (a fresh store being set up).
        assert (await send(settings, "cmd.roster.register_unit", unit("u0", "u0")))["ok"]
        assert await actors(nc, "ROSTER", "ev.roster.unit.u0") == [FORGED]
        # The first operator registers themselves (signed by the key registered).
        first = {"name": "Alice", "role": "operator", "public_key": alice.public_key}
        reply = await send(
            settings, "cmd.roster.register_person", {"command_id": "p1", **first}, alice_file
        )
        assert reply["ok"] and reply["aggregate_id"] == alice.person_id == person_id_for(
            alice.public_key
        )
        # ... and the signature proved her key: she is the actor of her own registration.
        assert await actors(nc, "ROSTER", f"ev.roster.person.{alice.person_id}") == [
            alice.person_id
        ]

        # Sent again once enforcing (briefings up on every start): the first outcome.
        again = await send(
            settings, "cmd.roster.register_person", {"command_id": "p1", **first}, alice_file
        )
        assert again["ok"] and again["replayed"], again

        # Finding 5: a forged actor string, signed by Alice, is recorded as Alice.
        reply = await send(settings, "cmd.roster.register_unit", unit("u1", "u1"), alice_file)
        assert reply["ok"], reply
        assert await actors(nc, "ROSTER", "ev.roster.unit.u1") == [alice.person_id]
        # ... in every command service (events verifies against the same registry).
        conference = {
            "command_id": "c1",
            "actor": FORGED,
            "conference_id": "c1",
            "kinds": ["information"],
            "title": "Thông tin thời sự tháng 1",
            "planned_on": "2022-01-20",
        }
        reply = await send(settings, "cmd.events.schedule_conference", conference, alice_file)
        assert reply["ok"], reply
        assert await actors(nc, "EVENTS", "ev.events.conference.c1") == [alice.person_id]

        before = (await stream_last(nc, "ROSTER"), await stream_last(nc, "EVENTS"))
        # Once a person exists, an unsigned command with a forged actor is refused.
        refused(
            await send(settings, "cmd.roster.register_unit", unit("u2", "u2")), "signature_required"
        )
        refused(
            await send(
                settings,
                "cmd.events.schedule_conference",
                {**conference, "command_id": "c2", "conference_id": "c2"},
            ),
            "signature_required",
        )
        # A valid signature by a key nobody registered.
        refused(
            await send(settings, "cmd.roster.register_unit", unit("u3", "u3"), stranger_file),
            "signer_unknown",
        )
        # A tampered body: Alice's signature of one body sent with another.
        signed = json.dumps(unit("u4", "u4")).encode()
        headers = alice.key.sign(signed)
        tampered = json.dumps(unit("u4", "u4-other")).encode()
        refused(await raw(nc, "cmd.roster.register_unit", tampered, headers), "signature_invalid")
        # A wrong signature: Alice's key named, the stranger's signature.
        wrong = {
            **headers,
            SIGNATURE_HEADER: KeyFile.read(stranger_file).key.sign(signed)[SIGNATURE_HEADER],
        }
        refused(await raw(nc, "cmd.roster.register_unit", signed, wrong), "signature_invalid")
        refused(
            await raw(nc, "cmd.roster.register_unit", signed, {SIGNER_HEADER: "x"}),
            "signature_invalid",
        )
        assert (await stream_last(nc, "ROSTER"), await stream_last(nc, "EVENTS")) == before

        # Alice (operator) registers Bob (clerk); Bob's commands carry Bob's id.
        second = {"name": "Bob", "role": "clerk", "public_key": bob.public_key}
        reply = await send(
            settings, "cmd.roster.register_person", {"command_id": "p2", **second}, alice_file
        )
        assert reply["ok"], reply
        assert await actors(nc, "ROSTER", f"ev.roster.person.{bob.person_id}") == [alice.person_id]
        assert (await send(settings, "cmd.roster.register_unit", unit("u5", "u5"), bob_file))["ok"]
        assert await actors(nc, "ROSTER", "ev.roster.unit.u5") == [bob.person_id]
        # A clerk cannot register or revoke people, even signed.
        stranger = {"name": "X", "role": "operator", "public_key": SigningKey.generate().public_key}
        refused(
            await send(
                settings, "cmd.roster.register_person", {"command_id": "p3", **stranger}, bob_file
            ),
            "operator_required",
        )
        refused(
            await send(
                settings,
                "cmd.roster.revoke_person",
                {"command_id": "r0", "person_id": alice.person_id},
                bob_file,
            ),
            "operator_required",
        )
        # An auditor changes nothing, even signed.
        carol_file, carol = key_file(tmp_path, "Carol", "auditor")
        third = {"name": "Carol", "role": "auditor", "public_key": carol.public_key}
        reply = await send(
            settings, "cmd.roster.register_person", {"command_id": "p4", **third}, alice_file
        )
        assert reply["ok"], reply
        refused(
            await send(settings, "cmd.roster.register_unit", unit("u7", "u7"), carol_file),
            "auditor_read_only",
        )
        # Revoked: Bob's key signs nothing any more, at once.
        revoke = {"command_id": "r1", "person_id": bob.person_id, "reason": "left the Center"}
        assert (await send(settings, "cmd.roster.revoke_person", revoke, alice_file))["ok"]
        refused(
            await send(settings, "cmd.roster.register_unit", unit("u6", "u6"), bob_file),
            "signer_revoked",
        )
        again = await send(
            settings, "cmd.roster.revoke_person", {**revoke, "command_id": "r2"}, alice_file
        )
        assert again["code"] == "rule_violated", again
        # The registry: both people, Bob revoked, each an event.
        people = (await send(settings, "qry.roster.list_people", {}))["data"]
        assert [(p["name"], p["role"], p["revoked"]) for p in people] == [
            ("Alice", "operator", False),
            ("Bob", "clerk", True),
            ("Carol", "auditor", False),
        ]
        assert await actors(nc, "ROSTER", f"ev.roster.person.{bob.person_id}") == [
            alice.person_id,
            alice.person_id,
        ]
        # Every follower of ROSTER reads people's events without setting anything aside.
        last = await stream_last(nc, "ROSTER")
        for service in ("events", "awards", "reporting"):
            while True:  # followers of other contexts' streams poll: wait for them
                health = await wait_healthy(nc, service)
                followers = health["detail"]["followers"].values()
                roster = [f for f in followers if f.get("stream") == "ROSTER"]
                assert roster and not any(f.get("set_aside") for f in followers), health
                if all(f["applied"] >= last for f in roster):
                    break
                await asyncio.sleep(0.1)

        # Operator requests (not aggregate commands) are signed too, by an operator only.
        dan_file, dan = key_file(tmp_path, "Dan", "clerk")
        fourth = {"name": "Dan", "role": "clerk", "public_key": dan.public_key}
        reply = await send(
            settings, "cmd.roster.register_person", {"command_id": "p5", **fourth}, alice_file
        )
        assert reply["ok"], reply
        rebuild = {"actor": FORGED}
        refused(await send(settings, "cmd.reporting.rebuild", rebuild), "signature_required")
        refused(
            await send(settings, "cmd.reporting.rebuild", rebuild, dan_file), "operator_required"
        )
        refused(
            await send(settings, "cmd.reporting.rebuild", rebuild, carol_file), "auditor_read_only"
        )
        refused(
            await send(settings, "cmd.reporting.dlq_retry", {"dead_letter_id": "x"}, bob_file),
            "signer_revoked",
        )
        started = await send(settings, "cmd.reporting.rebuild", rebuild, alice_file)
        assert "generation" in started, started


async def test_people_add_list_revoke_from_the_cli_are_events(
    settings: Settings, nc: Client, tmp_path: Path
) -> None:
    runner = CliRunner()
    data = tmp_path / "cli-data"
    env = {"BRIEFINGS_NATS_URL": settings.nats_url, "BRIEFINGS_DATA_DIR": str(data)}

    async def cli(*args: str, code: int = 0, **more: str) -> Any:
        result = await asyncio.to_thread(
            runner.invoke, app, ["people", *args, "--json"], env={**env, **more}
        )
        assert result.exit_code == code, (args, result.output)
        lines = [line for line in result.output.splitlines() if not line[:4].isdigit()]
        return json.loads("\n".join(lines))

    async with running_service("roster", settings):
        # The first operator: a new key written owner-only under data/credentials/people.
        alice = await cli("add", "Alice", "--role", "operator")
        alice_file = Path(alice["key_file"])
        assert alice_file.parent == data / "credentials" / "people"
        assert stat.S_IMODE(os.stat(alice_file).st_mode) == 0o600
        assert KeyFile.read(alice_file).person_id == alice["person_id"] == alice["aggregate_id"]
        # Now enforcing: an unsigned add is refused, Alice's signed one is accepted.
        refused(await cli("add", "Bob", "--role", "clerk", code=1), "signature_required")
        as_alice = {"BRIEFINGS_KEY_FILE": str(alice_file)}
        bob_file = tmp_path / "bob.json"
        bob = await cli("add", "Bob", "--role", "clerk", "--key-file", str(bob_file), **as_alice)
        assert bob["person_id"] == KeyFile.read(bob_file).person_id
        # The same key again replays (its command id derives from the key).
        again = await cli("add", "Bob", "--role", "clerk", "--key-file", str(bob_file), **as_alice)
        assert again["replayed"] and again["person_id"] == bob["person_id"]
        assert (await cli("revoke", bob["person_id"], "--reason", "left", **as_alice))["ok"]
        listed = await cli("list")
        assert [(p["person_id"], p["revoked"]) for p in listed] == [
            (alice["person_id"], False),
            (bob["person_id"], True),
        ]
        history = await EventStore(nc).read_subject(
            "ROSTER", f"ev.roster.person.{bob['person_id']}"
        )
        assert [EventEnvelope.from_bytes(e.data).type for e in history] == [
            "PersonRegistered",
            "PersonRevoked",
        ]


async def test_only_the_operator_may_send_people_commands(who: dict[str, Principal]) -> None:
    """Server-enforced: a clerk's credential cannot even publish register/revoke_person."""

    async def answer(msg: Any) -> None:
        await msg.respond(b"heard")

    subjects = ("cmd.roster.register_person", "cmd.roster.revoke_person")
    subs = [await who["roster"].client.subscribe(s, cb=answer) for s in subjects]
    await who["roster"].client.flush()
    for subject in subjects:
        await who["clerk"].try_publish(subject)
        reply = await who["operator"].client.request(subject, b"{}", timeout=10)
        assert reply.data == b"heard"
    for sub in subs:
        await sub.unsubscribe()
