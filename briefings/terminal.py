"""The terminal the CLI and the demo print to: results on stdout, messages on stderr.

Text from data (names, messages, reasons) is printed literally: rich markup in it is escaped
(a unit named ``[/] x`` is a name, not a closing tag), and control characters (ANSI escapes,
bidi overrides, zero-width characters) are shown as visible ``\\x1b``/``\\u202e`` escapes so
they never act on the terminal.
"""

from __future__ import annotations

import re
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape as _escape_markup
from rich.text import Text

console = Console()
err_console = Console(stderr=True)

# C0 and C1 controls except tab and newline; DEL; bidi embeddings, overrides and isolates;
# zero-width and invisible formatting characters; line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def literal(value: Any) -> str:
    """``value`` as text whose every character is printable: controls become escapes."""
    text = "" if value is None else str(value)
    return _UNSAFE.sub(_visible, text)


def escape(value: Any) -> str:
    """``value`` for a rich markup string: literal, with markup brackets escaped."""
    return _escape_markup(literal(value))


def plain(value: Any) -> Text:
    """``value`` as a rich ``Text``: never parsed as markup, controls made visible."""
    return Text(literal(value))


def json_text(text: str) -> str:
    """A JSON document with every control, bidi and invisible character inside its strings
    written as a ``\\uXXXX`` escape: the same JSON value, inert on a terminal."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def write_out(text: str, stream: TextIO | None = None) -> None:
    """Write a rendered document (a report, a replayed summary) to stdout as it is — its
    bytes are what a receipt's digest covers — except on a terminal, where control, bidi
    and zero-width characters from data are shown as escapes instead of acting."""
    out = stream or sys.stdout
    if out.isatty():
        text = literal(text)
    out.write(text)
    out.flush()


def say(text: str = "") -> None:
    """``print`` for a line that carries data: controls shown as escapes, no markup."""
    print(literal(text))
