"""Vietnamese number and date forms, as the Center writes them.

Prose counts under 100 take two digits (``08``, as the article and 36-HD/VPTW's dates do);
tables and larger figures group thousands with a dot (``1.779``); decimals take a comma;
"hơn" goes before a figure rounded down.
"""

from __future__ import annotations

from datetime import date


def vi_int(n: int) -> str:
    """Prose counts: ``8`` → ``08``, ``1700`` → ``1.700``."""
    return f"{n:02d}" if 0 <= n < 100 else vi_num(n)


def vi_num(n: int) -> str:
    """Table figures: ``8`` → ``8``, ``1779`` → ``1.779`` (no zero padding)."""
    return f"{n:,}".replace(",", ".")


def vi_dec(x: float, places: int = 2) -> str:
    return f"{x:,.{places}f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def vi_pct(x: float) -> str:
    return vi_dec(x * 100, 1) + "%"


def rounded_down(n: int) -> int:
    """The round figure a report gives: hundreds from 1,000, tens from 100."""
    if n >= 1000:
        return n // 100 * 100
    if n >= 100:
        return n // 10 * 10
    return n


def vi_about(n: int) -> str:
    r = rounded_down(n)
    return f"hơn {vi_int(r)}" if r < n else vi_int(n)


def en_about(n: int) -> str:
    r = rounded_down(n)
    return f"more than {r:,}" if r < n else f"{n:,}"


def vi_date(d: date | str) -> str:
    """``14/01/2022``: the short form, for tables."""
    d = date.fromisoformat(d) if isinstance(d, str) else d
    return f"{d.day:02d}/{d.month:02d}/{d.year}"


def vi_date_long(d: date | str) -> str:
    """``ngày 09 tháng 12 năm 2022``: the date line's form (36-HD/VPTW: day and month under
    10 with a leading zero)."""
    d = date.fromisoformat(d) if isinstance(d, str) else d
    return f"ngày {d.day:02d} tháng {d.month:02d} năm {d.year}"


def en_date(d: date | str) -> str:
    d = date.fromisoformat(d) if isinstance(d, str) else d
    return f"{d.day} {d.strftime('%B')} {d.year}"
