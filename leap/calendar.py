"""The academic calendar: which days are teaching days (terms minus reading weeks and holidays).

A teaching day is inside a term, outside every break, and on one of the
``teaching_weekdays`` (every day of the week when the file does not say).

Read from the calendar file the institution policy names (see deploy/calendar.toml). Alerts
are suppressed on non-teaching days, and days of silence in non-teaching periods do not
count towards a "no engagement" alert: a student who rests over the holidays is not
reported on the first Monday back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path

from leap.policy import read_toml

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CalendarError(ValueError):
    """The calendar file is missing or invalid; the message names the file and the entry."""


@dataclass(frozen=True)
class Period:
    """A named, inclusive range of days."""

    name: str
    starts: date
    ends: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.starts <= day <= self.ends


@dataclass(frozen=True)
class Calendar:
    """Terms, the non-teaching periods inside them and the teaching weekdays (0 = Monday).

    No terms at all means every day outside the breaks teaches.
    """

    terms: tuple[Period, ...] = ()
    breaks: tuple[Period, ...] = ()
    weekdays: frozenset[int] = frozenset(range(7))

    def non_teaching(self, day: date) -> str | None:
        """Why ``day`` is not a teaching day (the period's name), or None when it is one."""
        for period in self.breaks:
            if day in period:
                return period.name
        if self.terms and not any(day in term for term in self.terms):
            return "outside term"
        if day.weekday() not in self.weekdays:
            return f"no teaching on {day:%A}s"
        return None

    def term_start(self, day: date) -> date | None:
        """The first day of the term ``day`` is in; None outside every term or without terms."""
        return next((term.starts for term in self.terms if day in term), None)

    def latest_term(self, day: date) -> Period | None:
        """The term that started last on or before ``day`` (the one a term-to-date view covers
        in the holidays after it too); None without terms or before the first."""
        started = [term for term in self.terms if term.starts <= day]
        return max(started, key=lambda term: term.starts) if started else None

    def teaching_days(self, after: date, upto: date) -> int:
        """Teaching days in ``(after, upto]``: the days of silence that count."""
        count = 0
        day = after + timedelta(days=1)
        while day <= upto:
            if self.non_teaching(day) is None:
                count += 1
            day += timedelta(days=1)
        return count


def _period(entry: object, where: str) -> Period:
    if not isinstance(entry, dict):
        raise CalendarError(f"{where}: expected a table with name, starts and ends")
    try:
        period = Period(str(entry["name"]), _date(entry["starts"]), _date(entry["ends"]))
    except KeyError as exc:
        raise CalendarError(f"{where}: missing {exc.args[0]!r}") from None
    except ValueError as exc:
        raise CalendarError(f"{where}: {exc}") from None
    if period.ends < period.starts:
        raise CalendarError(f"{where} ({period.name}): ends {period.ends} before it starts {period.starts}")
    return period


def _date(value: object) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _weekdays(value: object, source: str) -> frozenset[int]:
    if not isinstance(value, list) or not value:
        raise CalendarError(f"{source}: teaching_weekdays must be a non-empty list such as {list(WEEKDAYS[:5])}")
    found = set()
    for name in value:
        key = str(name).strip().lower()[:3]
        if key not in WEEKDAYS:
            raise CalendarError(f"{source}: teaching_weekdays: {name!r} is not one of {list(WEEKDAYS)}")
        found.add(WEEKDAYS.index(key))
    return frozenset(found)


def parse_calendar(data: dict, source: str = "calendar") -> Calendar:
    """Build a calendar from the file's parsed TOML (``[[term]]``, ``[[break]]``, ``teaching_weekdays``)."""
    unknown = set(data) - {"term", "break", "teaching_weekdays"}
    if unknown:
        raise CalendarError(f"{source}: unknown entries {sorted(unknown)} (expected [[term]], [[break]] and teaching_weekdays)")
    terms = tuple(_period(e, f"{source}: term {i + 1}") for i, e in enumerate(data.get("term", [])))
    breaks = tuple(_period(e, f"{source}: break {i + 1}") for i, e in enumerate(data.get("break", [])))
    weekdays = _weekdays(data["teaching_weekdays"], source) if "teaching_weekdays" in data else frozenset(range(7))
    return Calendar(terms, breaks, weekdays)


def load_calendar(path: Path) -> Calendar:
    """Read and validate a calendar file."""
    return parse_calendar(read_toml(path, CalendarError, "calendar file (calendar_file in the policy)"), str(path))


def local_instant(text: str, tz: tzinfo) -> datetime:
    """A local date and time as people type it ("2026-12-01T10:00", "2026-12-01 10:00") made aware in ``tz``.

    Raises ``ValueError`` with a one-line message. A time in the hour skipped when clocks go
    forward, or repeated when they go back, is taken as the first of its kind (``fold=0``).
    """
    try:
        naive = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time (YYYY-MM-DD HH:MM)") from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=tz)
