"""contracts/HASHING.md's worked example is recomputed from the page itself, both with our
code and with a from-scratch canonicaliser written from the page's rules."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from contracts.canonical import GENESIS_HASH, canonical_json

pytestmark = pytest.mark.fast

PAGE = Path(__file__).resolve().parents[2] / "contracts" / "HASHING.md"


def _example() -> tuple[list[bytes], list[str]]:
    text = PAGE.read_text(encoding="utf-8")
    lines = [b.encode("utf-8") for b in re.findall(r"^e\d = (\{.*\})$", text, re.M)]
    hashes = re.findall(r"^hash\(e\d\) = ([0-9a-f]{64})$", text, re.M)
    return lines, hashes


def _by_the_rules(value: Any) -> str:
    """Section 2, written independently of json.dumps."""
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{_by_the_rules(k)}:{_by_the_rules(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_by_the_rules(v) for v in value) + "]"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    short = {
        '"': '\\"',
        "\\": "\\\\",
        "\b": "\\b",
        "\f": "\\f",
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
    }
    out = []
    for ch in value:
        if ch in short:
            out.append(short[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def test_worked_example_hashes_and_chain() -> None:
    lines, hashes = _example()
    assert len(lines) == len(hashes) == 2
    previous = GENESIS_HASH
    for line, expected in zip(lines, hashes, strict=True):
        envelope = json.loads(line)
        assert canonical_json(envelope) == line
        assert _by_the_rules(envelope).encode("utf-8") == line
        assert hashlib.sha256(line).hexdigest() == expected
        assert envelope["prev_hash"] == previous
        previous = expected


def test_rules_agree_with_the_code_on_awkward_strings() -> None:
    value = {
        "é": "\u007f\u2028/\U0001f600",
        "a": ["\x00\x1f", -5, 0, True, None],
        "Z": {"y": 'Cấp thành phố "x" \\ \n'},
    }
    assert _by_the_rules(value).encode("utf-8") == canonical_json(value)


def test_worked_example_of_receipt_digests() -> None:
    """Section 6: running digests and events_digest, from the page's own numbers, and as the
    read model keeps them."""
    from contracts.reporting import AnnualSummaryQuery
    from runtime.eventstore import StoredEvent
    from services.reporting.read_model import ReadModel, memory_engine, receipt_basis

    text = PAGE.read_text(encoding="utf-8")
    lines, hashes = _example()
    d1, d2 = re.findall(r"^d\d\(ROSTER\) = ([0-9a-f]{64})$", text, re.M)
    digests = re.search(r"^digests = (\{.*\})$", text, re.M).group(1).encode("utf-8")
    expected = re.search(r"^events_digest = ([0-9a-f]{64})$", text, re.M).group(1)
    assert hashlib.sha256((GENESIS_HASH + hashes[0]).encode("ascii")).hexdigest() == d1
    assert hashlib.sha256((d1 + hashes[1]).encode("ascii")).hexdigest() == d2
    assert canonical_json(json.loads(digests)) == digests and json.loads(digests)["ROSTER"] == d2
    assert hashlib.sha256(digests).hexdigest() == expected

    model = ReadModel(memory_engine())
    model.apply(
        [StoredEvent("ROSTER", i + 1, "ev.roster.unit.city", line) for i, line in enumerate(lines)]
    )
    basis = receipt_basis(AnnualSummaryQuery(year=2022), model.cut())
    assert basis["events_digest"] == expected and basis["events"] == 2
    assert basis["streams"]["ROSTER"] == {"events": 2, "digest": d2}
