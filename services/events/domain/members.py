"""What the events context knows of the roster: each member's effective-dated history.

The model and its fold are the roster copy the awards service keeps too
(``runtime/rostercopy.py``): folded from the roster's published events (contracts only,
never the roster's code), so "was this member on the roster on the conference date, and in
which unit" can be decided for any date, including conferences recorded long after.
"""

from __future__ import annotations

import unicodedata

from runtime.rostercopy import Change, HistoryEntry, MemberCopy, MemberStanding, name_key
from runtime.rostercopy import evolve_member as apply_roster_event

KnownMember = MemberCopy

__all__ = [
    "Change",
    "HistoryEntry",
    "KnownMember",
    "MemberStanding",
    "apply_roster_event",
    "name_key",
    "plain_key",
]


def plain_key(name: str) -> str:
    """Without diacritics: only for suggestions, never for a match (Hoa is not Hòa)."""
    decomposed = unicodedata.normalize("NFD", name_key(name)).replace("đ", "d")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
