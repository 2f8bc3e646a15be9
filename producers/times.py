"""Times as source exports write them, to Unix milliseconds: what every adapter's time parsing shares.

An adapter says which texts it accepts and how it words a refusal; this module does the
reading. A time is read as ISO 8601 first (when the adapter's ``Iso`` rule lets the text be
tried), then with each ``strptime`` format in turn; a time without an offset is in the zone
the adapter gives (``Options.tz``, or UTC where the format says so). The result must lie in
2000-2099 (``EARLIEST_MS``/``LATEST_MS``): anything else is a unit mistake or a broken clock.

Every refusal is a ``ValueError`` with a one-line reason ``"<column> '<text>' <phrase>"``, the
text cut to 40 characters, so a bad record is rejected alone with a reason that names it.

The adapters differ on purpose in what they accept (a bare date, a lower-case ``t``, ``Z``
read anywhere), and each one's event ids hold the times it has always computed, so the
differences are parameters here, named by the constants below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

EARLIEST_MS = 946_684_800_000  # 2000-01-01
LATEST_MS = 4_102_444_800_000  # 2100-01-01

# strptime formats. Day first, as UK spreadsheets save times (Excel en-GB):
DAY_FIRST = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")
DAY_FIRST_OR_DATE = (*DAY_FIRST, "%d/%m/%Y")
# US month first with a 12-hour clock (``11/15/2018 1:44:52 AM``, seconds optional):
US_12_HOUR = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p")

# How a time out of 2000-2099 is refused (the phrase after the column and text).
NOT_PLAUSIBLE = "is not a plausible time (2000-2099)"
OUTSIDE = "is outside 2000-2099"
NOT_BETWEEN = "is not between 2000 and 2099"

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DATE_ONLY = re.compile(r"^\d{4}-\d\d-\d\d$|^\d\d/\d\d/\d{4}$")


@dataclass(frozen=True, slots=True)
class Iso:
    """Which texts are read as ISO 8601 (``datetime.fromisoformat``, which reads far more than ISO 8601).

    ``guard``: a text is tried only when this is true of it. ``z_offset``: every ``Z`` is
    written ``+00:00`` before reading (older adapters did so; it also lets ``2026-01-01Z``
    through as a date).
    """

    guard: Callable[[str], object]
    z_offset: bool = False

    def read(self, text: str) -> datetime | None:
        """``text`` as a datetime (naive when it has no offset), or ``None`` when it is not one."""
        if not self.guard(text):
            return None
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00") if self.z_offset else text)
        except ValueError:
            return None


# A date and a time in the extended form, ``T``, ``t`` or a space between (RFC 3339): xAPI, Caliper.
RFC3339_DATE_TIME = Iso(re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}").match)
# The same with ``T`` or a space only: Panopto, Opencast.
ISO_DATE_TIME = Iso(re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}").match)
# Anything fromisoformat reads that holds a time (a colon), so a bare date is refused: attendance.
ISO_WITH_TIME = Iso(lambda text: ":" in text)
# Ten characters or more starting with a year (a bare date is read, as midnight): coursework, library.
ISO_YEAR_FIRST = Iso(lambda text: len(text) >= 10 and text[:4].isdigit(), z_offset=True)
# Anything fromisoformat reads: Windows event exports.
ISO_ANY = Iso(lambda text: True, z_offset=True)


def unix_ms(stamp: datetime) -> int:
    """An aware time in Unix milliseconds, exactly (no float rounding)."""
    return (stamp - _EPOCH) // timedelta(milliseconds=1)


def plausible_ms(when: datetime | int, column: str, text: str, phrase: str = NOT_PLAUSIBLE, *, exact: bool = True) -> int:
    """``when`` (an aware time, or Unix milliseconds) in milliseconds, if it is in 2000-2099.

    ``ValueError`` ``"<column> '<text>' <phrase>"`` otherwise. ``exact=False`` rounds as
    ``int(stamp.timestamp() * 1000)``, which is 1 ms low for some fractions of a second: the
    adapters that always did so keep it, since their event ids hold the time.
    """
    if isinstance(when, datetime):
        try:
            ms = unix_ms(when) if exact else int(when.timestamp() * 1000)
        except (OverflowError, OSError, ValueError):  # a year pushed past the calendar by its offset
            ms = -1
    else:
        ms = when
    if not EARLIEST_MS <= ms < LATEST_MS:
        raise ValueError(f"{column} {text[:40]!r} {phrase}")
    return ms


def read_time(text: str, *, tz: tzinfo, iso: Iso | None, formats: Sequence[str] = ()) -> datetime | None:
    """``text`` as an aware time: ISO 8601 by ``iso`` (``None``: never), then each strptime format in turn.

    A time without an offset is in ``tz``. ``None`` when nothing reads it. ``text`` is read
    as it is (strip it first).
    """
    stamp = iso.read(text) if iso is not None else None
    for fmt in formats if stamp is None else ():
        try:
            stamp = datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    if stamp is None:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=tz)


def parse_time(
    text: str,
    *,
    column: str,
    tz: tzinfo,
    iso: Iso | None,
    formats: Sequence[str] = (),
    unreadable: str,
    implausible: str = NOT_PLAUSIBLE,
    exact: bool = True,
    end_of_day: bool = False,
) -> int:
    """A time cell (stripped) to Unix milliseconds, read as ``read_time`` does and checked by ``plausible_ms``.

    ``ValueError`` ``"<column> '<text>' <unreadable>"`` when nothing reads it, or ``<implausible>``
    when it is not in 2000-2099. ``end_of_day``: a bare date (``YYYY-MM-DD``, ``DD/MM/YYYY``) is
    the day's last millisecond rather than its midnight (a deadline).
    """
    value = text.strip()
    stamp = read_time(value, tz=tz, iso=iso, formats=formats)
    if stamp is None:
        raise ValueError(f"{column} {value[:40]!r} {unreadable}")
    if end_of_day and _DATE_ONLY.match(value):
        stamp += timedelta(days=1, microseconds=-1000)  # wall-clock arithmetic: the day's last millisecond
    return plausible_ms(stamp, column, value, implausible, exact=exact)


__all__ = [
    "DAY_FIRST",
    "DAY_FIRST_OR_DATE",
    "EARLIEST_MS",
    "ISO_ANY",
    "ISO_DATE_TIME",
    "ISO_WITH_TIME",
    "ISO_YEAR_FIRST",
    "LATEST_MS",
    "NOT_BETWEEN",
    "NOT_PLAUSIBLE",
    "OUTSIDE",
    "RFC3339_DATE_TIME",
    "US_12_HOUR",
    "Iso",
    "parse_time",
    "plausible_ms",
    "read_time",
    "unix_ms",
]
