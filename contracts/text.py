"""What text a command may carry: the rules every door shares (docs/reliability.md).

Text is data. It is printed to terminals, Markdown, HTML and spreadsheets, so a command is
refused, with a named rule, when its text could act on any of them: control characters
(ANSI escapes, NUL, which PostgreSQL cannot even store), bidirectional overrides and
isolates (they reorder what a reader sees), lone surrogates (not encodable as UTF-8), names
with nothing visible in them, and cells a spreadsheet would run as a formula. Text is
stored in NFC, and lengths are counted after that normalisation, so NFD input (how some
keyboards type Vietnamese) is the same name as NFC input.

These rules apply at the door (commands). Stored events are read with the lenient types of
``contracts.types``: an event accepted before a rule existed stays readable for ever.
"""

from __future__ import annotations

import re
import unicodedata

from pydantic_core import PydanticCustomError

BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
"""Embeddings and overrides (U+202A–U+202E) and isolates (U+2066–U+2069)."""

FORMULA_START = ("=", "@", "+", "-")
PLAIN_NUMBER = re.compile(r"^[+-]?[\d\s().-]+$")
"""``+84 912 345 678``, ``-`` or ``-5``: a phone number or a number, not a formula."""

VISIBLE_CATEGORIES = ("L", "N", "P", "S")

RULE_CONTROL = "text.control_character"
RULE_BIDI = "text.bidi_control"
RULE_SURROGATE = "text.surrogate"
RULE_INVISIBLE = "text.nothing_visible"
RULE_FORMULA = "text.formula"
RULE_TOO_LONG = "text.too_long"
RULE_EMPTY = "text.empty"


def _refuse(rule: str, message: str, value: str, position: int | None = None) -> None:
    where = f" at position {position}" if position is not None else ""
    raise PydanticCustomError(rule, message + where, {"rule": rule})


_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f"
_OTHER = "\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_REFUSED_IN_LINE = re.compile(f"[\t\n{_CONTROL}{_OTHER}]")
_REFUSED_IN_TEXT = re.compile(f"[{_CONTROL}{_OTHER}]")
"""One scan finds the first refused character (the usual answer: none); ``_refuse_char``
says which rule it breaks."""


def _refuse_char(value: str, position: int) -> None:
    char = value[position]
    code = ord(char)
    if char in BIDI_CONTROLS:
        _refuse(
            RULE_BIDI,
            f"bidirectional control U+{code:04X} is not allowed (it reorders what is shown)",
            value,
            position,
        )
    if 0xD800 <= code <= 0xDFFF:
        _refuse(RULE_SURROGATE, f"lone surrogate U+{code:04X} is not text", value, position)
    _refuse(RULE_CONTROL, f"control character U+{code:04X} is not allowed", value, position)


def check_token(value: str) -> str:
    """An opaque key (command id, correlation id): kept as sent, but no control,
    bidirectional-control or surrogate character (PostgreSQL cannot store NUL)."""
    found = _REFUSED_IN_LINE.search(value)
    if found is not None:
        _refuse_char(value, found.start())
    return value


def check_prose(value: str) -> str:
    """Prose kept exactly as written (its documents are digested as written): no control
    character but tab, line feed and carriage return, no bidirectional control."""
    found = _REFUSED_IN_TEXT.search(value.replace("\r", ""))
    if found is not None:
        _refuse_char(value.replace("\r", ""), found.start())
    return value


def check_text(value: str, *, max_length: int, multiline: bool, name: bool) -> str:
    """``value`` in NFC, stripped, or a ``PydanticCustomError`` naming the broken rule.

    ``multiline``: tab and line feed are allowed (free text such as a reason); ``name``: at
    least one visible character (a letter, digit, punctuation or symbol) is required.
    """
    found = (_REFUSED_IN_TEXT if multiline else _REFUSED_IN_LINE).search(value)
    if found is not None:
        _refuse_char(value, found.start())
    text = (value if value.isascii() else unicodedata.normalize("NFC", value)).strip()
    if len(text) > max_length:
        _refuse(
            RULE_TOO_LONG,
            f"{len(text)} characters after normalisation (NFC); at most {max_length}",
            value,
        )
    if name and not text:
        _refuse(RULE_EMPTY, "required: empty after trimming spaces", value)
    if name and not any(unicodedata.category(c).startswith(VISIBLE_CATEGORIES) for c in text):
        _refuse(
            RULE_INVISIBLE, "nothing visible: only spaces, marks or zero-width characters", value
        )
    if text.startswith(FORMULA_START) and not PLAIN_NUMBER.match(text):
        _refuse(
            RULE_FORMULA,
            f"starts with {text[0]!r} and would run as a spreadsheet formula; "
            f"remove the leading {text[0]!r}",
            value,
        )
    return text
