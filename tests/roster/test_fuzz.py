"""Fuzzed payloads on every roster command (and query) subject, through a real nats-server.

Whatever arrives, the reply has one of the structured shapes; a body the contract refuses
gets ``validation_failed`` and writes no event; the service keeps serving.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client
from pydantic import ValidationError

from contracts import roster as c
from contracts.replies import CommandAccepted, ErrorCode, ErrorReply, QueryResult
from contracts.signing import SigningKey
from runtime.nats_server import NatsServer
from tests.roster.helpers import roster_running, send, setup_units
from tests.support import connect, request, settings_for

OPERATOR = SigningKey.from_seed("b3BlcmF0b3Itb2YtdGhlLWZ1enotdGVzdC0tLS0tLS0")
VALID: dict[str, dict[str, Any]] = {
    "register_unit": {"kind": "party_cell", "name": "Chi bộ mới"},
    "rename_unit": {"unit_id": "cell1", "name": "Chi bộ đổi tên"},
    "dissolve_unit": {"unit_id": "cell9"},
    "enroll_member": {"full_name": "Nguyễn Văn A", "role": "propagandist", "unit_id": "cell1"},
    "reenroll_member": {"member_id": "m1", "role": "propagandist", "unit_id": "cell1"},
    "correct_member_details": {"member_id": "m1", "full_name": "Nguyễn Văn B"},
    "change_member_code": {"member_id": "m1", "external_code": "C-1"},
    "change_member_role": {"member_id": "m1", "role": "reporter"},
    "transfer_member": {"member_id": "m1", "to_unit_id": "city"},
    "set_member_core": {"member_id": "m1", "core": True},
    "retire_member": {"member_id": "m1"},
    # a fuzzed registration may go in (then commands must be signed: by OPERATOR, below)
    "register_person": {
        "name": "Trần Văn Vận Hành",
        "role": "operator",
        "public_key": OPERATOR.public_key,
    },
    "revoke_person": {"person_id": "p-0000000000000000000000000000000"},
}
assert set(VALID) == set(c.COMMANDS), "every command subject is fuzzed"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    body = {"command_id": draw(st.text(min_size=0, max_size=12)), **base}
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["drop", "replace", "add"]))
        name = draw(st.sampled_from(sorted(set(body) | set(fields)) or ["command_id"]))
        if op == "drop":
            body.pop(name, None)
        elif op == "replace":
            body[name] = draw(json_values)
        else:
            body[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
    return body


def bodies(model: type[Any], base: dict[str, Any]) -> st.SearchStrategy[bytes]:
    fields = list(model.model_fields)
    as_json = st.one_of(
        mutated(base, fields),
        json_values,
        st.dictionaries(
            # a query without fields (list_people): only unknown keys to try
            (st.sampled_from(fields) if fields else st.nothing()) | st.text(max_size=8),
            json_values,
            max_size=6,
        ),
    )
    return st.one_of(as_json.map(lambda v: json.dumps(v).encode()), st.binary(max_size=64))


@pytest_asyncio.fixture(scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    server = NatsServer(tmp / "nats", log_file=tmp / "nats.log").start()
    nc = await connect(server.url)
    try:
        async with roster_running(settings_for(server.url, tmp / "data"), nc):
            await setup_units(nc)
            await send(
                nc,
                "enroll_member",
                member_id="m1",
                full_name="Trần Thị C",
                role="propagandist",
                unit_id="cell1",
            )
            yield nc
    finally:
        await nc.close()
        server.stop()


async def stored(nc: Client) -> int:
    return int((await nc.jetstream().stream_info("ROSTER")).state.messages)


def contract_refuses(model: type[Any], body: bytes) -> bool:
    try:
        model.model_validate_json(body or b"{}")
    except (ValidationError, ValueError):
        return True
    return False


@pytest.mark.parametrize("name", sorted(c.COMMANDS))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_fuzzed_commands_get_a_structured_reply_and_invalid_ones_write_nothing(
    service: Client, name: str, data: st.DataObject
) -> None:
    model = c.COMMANDS[name]
    body = data.draw(bodies(model, VALID[name]))
    before = await stored(service)
    reply = await request(service, f"cmd.roster.{name}", body, timeout=20)
    if reply.get("ok") is True:
        accepted = CommandAccepted.model_validate(reply)
        assert accepted.aggregate_id and accepted.version >= 0
    else:
        error = ErrorReply.model_validate(reply)
        assert error.code in set(ErrorCode) and error.code is not ErrorCode.INTERNAL, reply
    if contract_refuses(model, body):
        assert reply["code"] == "validation_failed", reply
        assert reply["details"] or reply["message"], reply
        assert await stored(service) == before


@pytest.mark.parametrize("name", sorted(c.QUERIES))
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_fuzzed_queries_get_a_structured_reply(
    service: Client, name: str, data: st.DataObject
) -> None:
    model = c.QUERIES[name]
    body = data.draw(bodies(model, {}))
    reply = await request(service, f"qry.roster.{name}", body, timeout=20)
    if reply.get("ok") is True:
        QueryResult.model_validate(reply)
    else:
        assert ErrorReply.model_validate(reply).code is not ErrorCode.INTERNAL, reply
        if contract_refuses(model, body):
            assert reply["code"] == "validation_failed"


async def test_the_service_still_serves_after_the_fuzzing(service: Client) -> None:
    assert (await request(service, "health.roster", b"{}"))["healthy"]
    body = json.dumps(
        {
            "command_id": "after-fuzz",
            "full_name": "Sau khi fuzz",
            "role": "propagandist",
            "unit_id": "city",
        }
    ).encode()
    # signed: the fuzzing may have registered OPERATOR (then unsigned commands are refused)
    msg = await service.request(
        "cmd.roster.enroll_member", body, timeout=20, headers=OPERATOR.sign(body)
    )
    reply = json.loads(msg.data)
    assert reply["ok"], reply
