"""The contracts refuse, with a named rule, what would be unreadable or harmful once stored
(issue #14): out-of-range dates, control and bidirectional characters, invisible names,
spreadsheet formulas, duplicate JSON keys; every Vietnamese form passes. And what was stored
before a rule existed stays readable: the rules are the commands', not the events'."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import awards, events, roster
from contracts.canonical import DuplicateKey, format_datetime, refuse_duplicate_keys
from contracts.envelope import EventEnvelope
from contracts.registry import registry

pytestmark = pytest.mark.fast

ENROLL = {"command_id": "c1", "full_name": "Nguyễn Thị Hoa", "role": "reporter", "unit_id": "u1"}


def rules(model: type, **fields: object) -> list[str]:
    try:
        model.model_validate(fields)  # type: ignore[attr-defined]
    except ValidationError as exc:
        return [str(e["type"]) for e in exc.errors()]
    return []


def enroll_rules(**extra: object) -> list[str]:
    return rules(roster.EnrollMember, **{**ENROLL, **extra})


# ------------------------------------------------------------------------------- dates


def test_timestamps_always_carry_four_digit_years() -> None:
    assert format_datetime(datetime(202, 4, 30, 17, tzinfo=UTC)) == "0202-04-30T17:00:00.000000Z"
    assert format_datetime(datetime(9, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == (
        "0009-01-02T03:04:05.000006Z"
    )
    assert format_datetime(datetime(2022, 1, 1, tzinfo=UTC)) == "2022-01-01T00:00:00.000000Z"


@pytest.mark.parametrize(
    "day", ["0202-05-01", "0001-01-01", "9999-12-31", "1899-12-31", "2200-01-01"]
)
def test_business_dates_outside_1900_2199_are_refused_by_the_contract(day: str) -> None:
    assert enroll_rules(effective_on=day) == ["date.out_of_range"]
    assert rules(events.HoldConference, command_id="c", conference_id="x", held_on=day) == [
        "date.out_of_range"
    ]
    assert "date.out_of_range" in rules(
        awards.RevokeAward, command_id="c", award_id="a", decision_number="1", decision_date=day
    )


@pytest.mark.parametrize("day", ["1900-01-01", "2022-05-01", "2199-12-31"])
def test_business_dates_inside_the_range_pass(day: str) -> None:
    assert enroll_rules(effective_on=day) == []


@pytest.mark.parametrize(
    "instant", ["0001-01-01T00:00:00+07:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-07:00"]
)
def test_an_occurred_at_without_a_business_instant_is_refused_not_a_crash(instant: str) -> None:
    assert enroll_rules(occurred_at=instant) == ["date.out_of_range"]


def test_stored_timestamps_with_unpadded_years_are_still_read() -> None:
    """What ``strftime("%Y")`` wrote before the fix is stored for ever."""
    stored = _envelope(occurred_at="202-04-30T17:00:00.000000Z")
    envelope = EventEnvelope.from_bytes(stored)
    assert envelope.occurred_at == datetime(202, 4, 30, 17, tzinfo=UTC)
    # and an event whose payload holds an out-of-range business date decodes as stored
    event = registry.decode(envelope)
    assert isinstance(event, roster.UnitRegistered) and event.effective_on == date(202, 5, 1)


# ----------------------------------------------------------------------- strict reading


def _envelope(**changes: object) -> bytes:
    obj: dict[str, object] = {
        "actor": "clerk",
        "aggregate_id": "u1",
        "aggregate_type": "unit",
        "aggregate_version": 1,
        "causation_id": "c1",
        "command_id": "c1",
        "correlation_id": "c1",
        "event_id": "6f1c2a4e-0d5b-4c43-9a51-3d3f0c8e2b10",
        "occurred_at": "2021-12-31T17:00:00.000000Z",
        "payload": {
            "effective_on": "0202-05-01",
            "external_code": None,
            "kind": "city",
            "name": "Cấp thành phố",
            "parent_id": None,
            "unit_id": "u1",
        },
        "prev_hash": "0" * 64,
        "recorded_at": "2022-01-03T02:15:07.120000Z",
        "schema_version": 1,
        "type": "UnitRegistered",
    }
    obj.update(changes)
    return json.dumps(obj, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    "change",
    [{"aggregate_version": "1"}, {"schema_version": "1"}, {"aggregate_version": 1.0}],
)
def test_the_envelope_is_read_strictly(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        EventEnvelope.from_bytes(_envelope(**change))


@pytest.mark.parametrize(
    "payload",
    [
        {"member_id": "m1", "effective_on": 20220101},
        {"member_id": 1, "effective_on": "2022-01-01"},
    ],
)
def test_payloads_are_decoded_strictly(payload: dict[str, object]) -> None:
    envelope = EventEnvelope.from_bytes(
        _envelope(type="MemberCoreFlagSet", aggregate_type="member", payload=payload)
    )
    with pytest.raises(ValidationError):
        registry.decode(envelope)


def test_a_bool_is_not_a_number_in_a_payload() -> None:
    envelope = EventEnvelope.from_bytes(
        _envelope(
            type="AttendanceCorrected",
            aggregate_type="conference",
            payload={"conference_id": "c", "member_id": "m", "attended": 1},
        )
    )
    with pytest.raises(ValidationError):
        registry.decode(envelope)


# -------------------------------------------------------------------------------- text

TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"  # huyền, sắc, ngã, hỏi, nặng
VOWELS = "aăâeêioôơuưyAĂÂEÊIOÔƠUƯY"
CONSONANTS = "bcdđghklmnpqrstvxBCDĐGHKLMNPQRSTVX"


@st.composite
def vietnamese_names(draw: st.DrawFn) -> str:
    """Words of consonants and vowels, each vowel with or without any of the five tone
    marks, in NFC or NFD (how some keyboards and files send it)."""
    words = []
    for _ in range(draw(st.integers(1, 5))):
        syllable = draw(st.text(CONSONANTS, max_size=2))
        vowel = draw(st.sampled_from(VOWELS)) + draw(st.sampled_from(["", *TONE_MARKS]))
        syllable += vowel + draw(st.text(CONSONANTS + VOWELS, max_size=2))
        words.append(syllable)
    form = draw(st.sampled_from(["NFC", "NFD"]))
    return unicodedata.normalize(form, " ".join(words))


@settings(max_examples=300, deadline=None)
@given(vietnamese_names())
def test_every_vietnamese_form_passes_and_is_stored_in_nfc(name: str) -> None:
    if name.lstrip()[:1] in "+-=@":  # pragma: no cover - no such letters in the alphabet
        return
    command = roster.EnrollMember.model_validate({**ENROLL, "full_name": name, "contact": name})
    assert command.full_name == unicodedata.normalize("NFC", name).strip()
    unit = roster.RegisterUnit.model_validate(
        {"command_id": "c", "kind": "city", "name": name, "external_code": name[:64]}
    )
    assert unicodedata.is_normalized("NFC", unit.name)


def test_a_200_character_nfd_name_counts_after_nfc() -> None:
    nfc = "Nguyễn" * 33  # 198 characters
    nfd = unicodedata.normalize("NFD", nfc)
    assert len(nfd) > 200
    assert enroll_rules(full_name=nfd) == []
    assert enroll_rules(full_name=nfc + "abc") == ["text.too_long"]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("Nguyễn\x00Hoa", "text.control_character"),
        ("\x1b[31mNguyễn Hoa\x1b[0m", "text.control_character"),
        ("Nguyễn\x7fHoa", "text.control_character"),
        ("Nguyễn\x85Hoa", "text.control_character"),
        ("Nguyễn\nHoa", "text.control_character"),
        *[(f"Hoa {chr(c)}gnp.exe", "text.bidi_control") for c in range(0x202A, 0x202F)],
        *[(f"Hoa {chr(c)}x", "text.bidi_control") for c in range(0x2066, 0x206A)],
        ("\u200b", "text.nothing_visible"),
        ("\u200b\u200c\u200d\u2060\ufeff", "text.nothing_visible"),
        (" \u200b ", "text.nothing_visible"),
        ("\u0301\u0301", "text.nothing_visible"),
        ("   ", "text.empty"),
        ("=cmd|' /C calc'!A0", "text.formula"),
        ("+SUM(1,2)", "text.formula"),
        ("-2+3+cmd|' /C calc'!A0", "text.formula"),
        ("@SUM(A1:A2)", "text.formula"),
        ('=HYPERLINK("http://evil","x")', "text.formula"),
    ],
)
def test_harmful_names_are_refused_with_a_named_rule(text: str, rule: str) -> None:
    assert enroll_rules(full_name=text) == [rule]
    assert rules(roster.RenameUnit, command_id="c", unit_id="u", name=text) == [rule]
    assert rule in rules(
        events.ScheduleConference,
        command_id="c",
        kinds=["information"],
        title="Hội nghị",
        planned_on="2022-01-01",
        presenters=[{"name": text}],
    )


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("gọi \x1b]8;;http://x\x07đây", "text.control_character"),
        ("a\x00b", "text.control_character"),
        ("x \u202e y", "text.bidi_control"),
        ("=1+1", "text.formula"),
        ("\t=1+1", "text.formula"),
        ("@x", "text.formula"),
    ],
)
def test_free_text_follows_the_same_rules_at_every_command(text: str, rule: str) -> None:
    assert enroll_rules(contact=text) == [rule]
    assert rules(roster.RetireMember, command_id="c", member_id="m", reason=text) == [rule]
    assert rule in rules(
        awards.GrantAward,
        command_id="c",
        recipient_type="individual",
        recipient_id="m",
        title="Giấy khen",
        period="2022",
        decision_number="12/QĐ",
        decision_date="2022-12-01",
        reason=text,
    )


def test_a_lone_surrogate_is_not_text() -> None:
    body = b'{"command_id":"c","unit_id":"u","name":"\\ud800x"}'
    with pytest.raises(ValidationError):
        roster.RenameUnit.model_validate_json(body)


@pytest.mark.parametrize(
    "contact", ["+84 912 345 678", "-", "0901 234 567", "(028) 3822 1234", "-5", "Số 1, Lê Lợi"]
)
def test_phone_numbers_and_plain_text_pass(contact: str) -> None:
    assert enroll_rules(contact=contact) == []


def test_free_text_may_span_lines() -> None:
    assert (
        rules(roster.RetireMember, command_id="c", member_id="m", reason="dòng 1\n\tdòng 2") == []
    )


def test_command_ids_refuse_control_characters_kept_otherwise_as_sent() -> None:
    assert enroll_rules(command_id="a\x00b") == ["text.control_character"]
    command = roster.EnrollMember.model_validate({**ENROLL, "command_id": " Lệnh-1 "})
    assert command.command_id == " Lệnh-1 "


def test_stored_events_keep_text_the_door_now_refuses() -> None:
    """An event accepted before the rules (a bidi override, a formula) stays readable."""
    payload = {
        "effective_on": "2022-01-01",
        "external_code": None,
        "kind": "city",
        "name": "=\u202eodd\u200b",
        "parent_id": None,
        "unit_id": "u1",
    }
    event = registry.decode(EventEnvelope.from_bytes(_envelope(payload=payload)))
    assert isinstance(event, roster.UnitRegistered) and event.name == payload["name"]


# ---------------------------------------------------------------------- duplicate keys


@pytest.mark.parametrize(
    "body",
    [
        b'{"unit_id": "a", "unit_id": "b"}',
        b'{"presenters": [{"name": "a", "name": "b"}]}',
        '{"name": "Hoa", "name": "Hòa"}'.encode(),
    ],
)
def test_duplicate_json_keys_are_refused(body: bytes) -> None:
    with pytest.raises(DuplicateKey):
        refuse_duplicate_keys(body)


def test_json_without_duplicates_or_unreadable_json_is_left_to_the_model() -> None:
    refuse_duplicate_keys(b'{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}')
    refuse_duplicate_keys(b"{not json")


def test_queries_take_years_and_dates_of_the_business_range_only() -> None:
    from contracts import reporting

    assert rules(reporting.AnnualSummaryQuery, year=9999) == ["less_than_equal"]
    assert rules(reporting.AnnualSummaryQuery, start="0001-01-01", end="2022-12-31") == [
        "date.out_of_range"
    ]
    assert rules(reporting.ParticipationQuery, year=2199) == []
    assert rules(events.ListConferences, year=9999) == ["less_than_equal"]


def test_a_reports_narrative_is_kept_as_written_but_refuses_control_characters() -> None:
    from contracts import reporting

    prose = "- Kết quả:\r\n\tđạt 95%\n\n=tốt \u202a"[:-2] + "  "
    assert reporting.Narrative(results=prose).results == prose  # not normalised, not trimmed
    assert rules(reporting.Narrative, results="a\x00b") == ["text.control_character"]
    assert rules(reporting.Narrative, lessons="\x1b[2J") == ["text.control_character"]
    assert rules(reporting.Narrative, orientations="x\u202ey") == ["text.bidi_control"]
