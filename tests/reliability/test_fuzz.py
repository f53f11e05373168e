"""Bad input at every door: hypothesis sends random bytes, wrong JSON types, huge strings,
deep nesting, invalid UTF-8 and out-of-range dates to every command and query subject.
Every reply is one of the structured shapes, no request crashes a service, and nothing is
written unless the command was accepted (then exactly its events)."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.errors import MaxPayloadError
from pydantic import BaseModel

from contracts import awards, events, reporting, roster
from contracts.replies import CommandAccepted, ErrorReply, QueryResult
from contracts.subjects import command_subject, query_subject
from tests.reliability.conftest import Report
from tests.reliability.harness import Harness, service_exists
from tests.reliability.helpers import message_counts
from tests.support import request

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))

DOORS: list[tuple[str, str, str, type[BaseModel]]] = [
    *(("roster", "command", n, m) for n, m in roster.COMMANDS.items()),
    *(("roster", "query", n, m) for n, m in roster.QUERIES.items()),
    *(("events", "command", n, m) for n, m in events.COMMANDS.items()),
    *(("events", "query", n, m) for n, m in events.QUERIES.items()),
    *(("awards", "command", n, m) for n, m in awards.COMMANDS.items()),
    *(("awards", "query", n, m) for n, m in awards.QUERIES.items()),
    *(("reporting", "query", n, m) for n, m in reporting.QUERIES.items()),
    *(("reporting", "operation", n, m) for n, m in reporting.OPERATIONS.items()),
]


def subject_of(service: str, kind: str, name: str) -> str:
    return query_subject(service, name) if kind == "query" else command_subject(service, name)


# ------------------------------------------------------------------ strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=12,
)
bad_dates = st.sampled_from(
    [
        "0000-01-01",
        "0001-01-01",
        "9999-12-31",
        "10000-01-01",
        "-0001-01-01",
        "2022-13-01",
        "2022-02-30",
        "2022-1-1",
        "",
        "yesterday",
        "2022-01-01T00:00:00",
        "9999-12-31T23:59:59+14:00",
        "0001-01-01T00:00:00-14:00",
        "2022-01-01T25:00:00Z",
        20220101,
        -1,
        1e308,
        True,
    ]
)
huge_text = st.integers(1_000, 400_000).map(lambda n: "ư" * n)
deep = st.integers(50, 20_000).map(
    lambda d: json.loads("[" * min(d, 900) + "]" * min(d, 900)) if d < 900 else None
)


def _field_values(model: type[BaseModel], name: str) -> st.SearchStrategy[Any]:
    annotation = str(model.model_fields[name].annotation).lower()
    plausible: list[st.SearchStrategy[Any]] = [json_values, huge_text]
    if "date" in annotation:
        plausible += [
            bad_dates,
            st.dates().map(date.isoformat),
            st.datetimes().map(datetime.isoformat),
        ]
    if "int" in annotation or "float" in annotation:
        plausible += [st.integers(-(2**64), 2**64), st.floats()]
    if "str" in annotation:
        plausible += [st.text(max_size=80), st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)]
    if "bool" in annotation:
        plausible += [st.booleans()]
    return st.one_of(plausible)


def model_bodies(model: type[BaseModel]) -> st.SearchStrategy[bytes]:
    """JSON objects over the model's own fields: right names, wrong (or right) values."""
    fields = sorted(model.model_fields)

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        chosen = draw(st.lists(st.sampled_from(fields), unique=True)) if fields else []
        body: dict[str, Any] = {name: draw(_field_values(model, name)) for name in chosen}
        if "command_id" in fields and draw(st.booleans()):
            body["command_id"] = draw(st.text(min_size=1, max_size=20))
        if draw(st.integers(0, 9)) == 0:
            body[draw(st.text(max_size=10))] = draw(json_values)  # an unknown field
        if draw(st.integers(0, 9)) == 0 and chosen:
            body[chosen[0]] = draw(deep)
        return json.dumps(body, ensure_ascii=draw(st.booleans())).encode()

    return build()


def raw_bodies() -> st.SearchStrategy[bytes]:
    deep_raw = st.integers(100, 100_000).map(lambda d: b"[" * d + b"]" * d)
    deep_obj = st.integers(100, 50_000).map(lambda d: b'{"a":' * d + b"1" + b"}" * d)
    invalid_utf8 = st.binary(min_size=1, max_size=30).map(
        lambda b: b'{"command_id": "\xff\xfe' + b + b'", "name": "\xc3\x28"}'
    )
    return st.one_of(
        st.binary(max_size=2_000),
        invalid_utf8,
        deep_raw,
        deep_obj,
        json_values.map(lambda v: json.dumps(v).encode()),
        huge_text.map(lambda t: json.dumps({"command_id": t}).encode()),
        st.just(b""),
        st.just(b"null"),
        st.just(b"{}"),
    )


def bodies(model: type[BaseModel]) -> st.SearchStrategy[bytes]:
    return st.one_of(model_bodies(model), raw_bodies())


# ----------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    h = Harness(tmp_path_factory.mktemp("fuzz")).start()
    yield h
    h.stop()


REPLY_MODELS = {"command": (CommandAccepted, ErrorReply), "query": (QueryResult, ErrorReply)}


def _check_reply(kind: str, reply: dict[str, Any]) -> None:
    if reply.get("ok") is False:
        ErrorReply.model_validate(reply)
        assert reply["code"] != "internal", reply  # a handler crashed (caught at the edge)
    elif kind == "command":
        CommandAccepted.model_validate(reply)
    elif kind == "query":
        QueryResult.model_validate(reply)
    else:
        assert reply.get("ok") is True, reply


@pytest.mark.parametrize(
    ("service", "kind", "name", "model"), DOORS, ids=[f"{s}.{k}.{n}" for s, k, n, _ in DOORS]
)
def test_fuzzed_requests_get_structured_replies_and_write_nothing(
    harness: Harness,
    report: Report,
    service: str,
    kind: str,
    name: str,
    model: type[BaseModel],
) -> None:
    assert service_exists(service), f"services/{service} is not built: its doors are untested"
    subject = subject_of(service, kind, name)
    outcomes: Counter[str] = Counter()
    nc = harness.nc
    assert nc is not None

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(body=bodies(model))
    def probe(body: bytes) -> None:
        before = harness.call(message_counts(nc))
        try:
            reply = harness.call(request(nc, subject, body, timeout=30))
        except MaxPayloadError:  # over the server's max_payload: refused before it is sent
            assert len(body) > nc.max_payload
            outcomes["refused_max_payload"] += 1
            return
        after = harness.call(message_counts(nc))
        _check_reply(kind, reply)
        written = sum(after.values()) - sum(before.values())
        if reply.get("ok") and kind == "command":
            assert written == (0 if reply.get("replayed") else len(reply["event_ids"])), reply
            outcomes["accepted"] += 1
        else:
            assert written == 0, (reply, before, after)
            outcomes[reply.get("code", "ok")] += 1

    probe()
    health = harness.call(request(nc, f"health.{service}", b"{}"))
    assert health["healthy"], health
    report.add(
        "input",
        f"fuzz {subject}",
        sum(outcomes.values()),
        "structured replies, no crash, no stray event: "
        + ", ".join(f"{k}={v}" for k, v in sorted(outcomes.items())),
    )
