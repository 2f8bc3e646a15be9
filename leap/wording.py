"""Figures and dates for people, en-GB: the rounding and date rules every explanation follows.

Whole numbers from 10 up (with thousands separators), one decimal below 10 without a
trailing ".0", never more; halves round up. Dates "23 Nov 2026", ranges "23–29 Nov 2026".
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _decimal(value: float, places: int, rounding: str = ROUND_HALF_UP) -> Decimal:
    # repr: the shortest decimal that is the float, so 4.45 rounds as people expect (4.5).
    # The precision holds any float's whole digits (up to 309), so nothing finite can fail.
    with localcontext(prec=340):
        return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), rounding=rounding)


def _show(d: Decimal) -> str:
    if d == d.to_integral_value():
        return f"{int(d):,}"
    return f"{d:f}"


def _places(value: float) -> int:
    return 0 if abs(_decimal(value, 1)) >= 10 else 1


def number(value: float) -> str:
    """A figure: whole from 10 up, else one decimal without ".0"; "less than 0.1" for tiny ones."""
    if 0 < value < 0.05:
        return "less than 0.1"
    return _show(_decimal(value, _places(value)))


def bounded(value: float, low: float | None, high: float | None) -> str:
    """``number(value)``, rounded down instead when rounding would take it out of [low, high).

    So a score of 79.6 in a band that ends at 80 reads 79, and a part score of 99.7 is not
    shown as a full 100.
    """
    text = number(value)
    if text.startswith("less"):
        return text
    shown = float(text.replace(",", ""))
    if not ((high is not None and value < high <= shown) or (low is not None and shown < low <= value)):
        return text
    down = _decimal(value, 0 if abs(value) >= 10 else 1, ROUND_FLOOR)
    if low is not None and float(down) < low <= value:  # a bound with a decimal: keep one
        down = _decimal(value, 1, ROUND_FLOOR)
    return _show(down)


def one_decimal(value: float) -> str:
    """A figure with at most one decimal, rounded down (a score next to a boundary)."""
    return _show(_decimal(value, 1, ROUND_FLOOR))


def bound(value: float) -> str:
    """A policy number (a band bound, a cap) as written: whole, or with one decimal."""
    return _show(_decimal(value, 1))


def day_text(d: date) -> str:
    """A date as "23 Nov 2026"."""
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def range_text(first: date, last: date) -> str:
    """Two dates as a range: "23–29 Nov 2026", "28 Nov – 4 Dec 2026", "29 Dec 2026 – 4 Jan 2027"."""
    first, last = min(first, last), max(first, last)
    if first == last:
        return day_text(first)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {_MONTHS[last.month - 1]} {last.year}"
    if first.year == last.year:
        return f"{first.day} {_MONTHS[first.month - 1]} – {day_text(last)}"
    return f"{day_text(first)} – {day_text(last)}"


def join(names: list[str]) -> str:
    """"a", "a and b", "a, b and c" (no serial comma)."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def capital(text: str) -> str:
    """The text with its first letter in upper case (the rest untouched: "Listen Again")."""
    return text[:1].upper() + text[1:]


def plural(names: list[str]) -> bool:
    """Whether names take a plural verb: several, or one that looks plural ("PC logins")."""
    # A guess for custom names; right for the default ones.
    return len(names) > 1 or (names[0].endswith("s") and not names[0].endswith("ss"))
