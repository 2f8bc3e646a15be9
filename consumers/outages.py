"""The source-outage guard: pure judgements of whether a source's feed looks broken.

A failed load makes everybody look disengaged, so alerts that depend on a broken source
are held. Two judgements, numbers from ``[alerts.outage_guard]`` in the policy:

- *volume*: a source's events on its last complete day far below its usual level for that
  weekday. A day is complete for a source once the day has ended and the source's
  ``arrival_lag_hours`` have passed (attendance registers are uploaded 24-72 h late: its
  last complete day is three or four days back, never yesterday);
- *freshness*: nothing has arrived from a source for longer than its ``max_quiet_hours``,
  counting only teaching hours of teaching days, so a feed that stops today is out within
  the hour instead of after its day is complete. It applies to decisions about today only:
  older days are judged on their volumes.

A source never seen is never judged (the institution may not have it).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, tzinfo

from leap.calendar import Calendar
from leap.policy import OutageGuard


def day_end(day: date, tz: tzinfo) -> datetime:
    """The instant ``day`` ends (local midnight after it)."""
    return datetime.combine(day + timedelta(days=1), time(0), tz)


def last_complete_day(source: str, day: date, now: datetime, guard: OutageGuard) -> date:
    """The latest day before ``day`` whose events from ``source`` have all arrived by ``now``."""
    lag = timedelta(hours=guard.lag_hours(source))
    checked = day - timedelta(days=1)
    tz = now.tzinfo
    assert tz is not None, "now must be timezone-aware"
    while day_end(checked, tz) + lag > now:
        checked -= timedelta(days=1)
    return checked


def volume_outage(volumes: Mapping[tuple[str, date], int], source: str, checked: date, calendar: Calendar, guard: OutageGuard) -> str | None:
    """Why ``source`` looks broken on the complete day ``checked``, or None.

    Usual = the median over the previous ``lookback_weeks`` of the same weekday, teaching
    days only. Without ``min_history_weeks`` of such days, or when the usual volume is
    below ``min_usual_events``, there is no judgement (no outage).
    """
    if calendar.non_teaching(checked) is not None:
        return None
    history = [
        volumes.get((source, checked - timedelta(weeks=k)), 0)
        for k in range(1, guard.lookback_weeks + 1)
        if calendar.non_teaching(checked - timedelta(weeks=k)) is None
    ]
    history = [n for n in history if n > 0]
    if len(history) < guard.min_history_weeks:
        return None
    usual = statistics.median(history)
    if usual < guard.min_usual_events:
        return None
    seen = volumes.get((source, checked), 0)
    if seen < guard.ratio * usual:
        return f"{seen} events on {checked.isoformat()} ({checked:%A}), usually {usual:.0f}"
    return None


def volume_outages(volumes: Mapping[tuple[str, date], int], day: date, now: datetime, calendar: Calendar, guard: OutageGuard) -> dict[str, str]:
    """Sources whose volume on their last complete day before ``day`` (as of ``now``) is far below usual."""
    found = {}
    for source in sorted({s for s, _ in volumes}):
        why = volume_outage(volumes, source, last_complete_day(source, day, now, guard), calendar, guard)
        if why is not None:
            found[source] = why
    return found


def quiet_teaching_hours(since: datetime, now: datetime, calendar: Calendar, guard: OutageGuard, limit: float | None = None) -> float:
    """Teaching hours in ``(since, now]``: inside ``teaching_hours`` on teaching days (stops counting past ``limit``)."""
    tz = now.tzinfo
    assert tz is not None, "now must be timezone-aware"
    start_hour, end_hour = guard.teaching_hours
    total = 0.0
    day = since.astimezone(tz).date()
    while day <= now.date():
        if calendar.non_teaching(day) is None:
            opens = datetime.combine(day, time(start_hour), tz)
            closes = day_end(day, tz) if end_hour == 24 else datetime.combine(day, time(end_hour), tz)
            overlap = (min(closes, now) - max(opens, since)).total_seconds()
            total += max(0.0, overlap) / 3600
            if limit is not None and total > limit:
                return total
        day += timedelta(days=1)
    return total


def freshness_outages(last_arrivals: Mapping[str, float], now: datetime, calendar: Calendar, guard: OutageGuard) -> dict[str, str]:
    """Sources quiet (nothing arrived, by Unix time of arrival) for longer than their ``max_quiet_hours``."""
    found = {}
    for source, seconds in sorted(last_arrivals.items()):
        limit = guard.quiet_hours(source)
        if limit is None:
            continue
        since = datetime.fromtimestamp(seconds, now.tzinfo)
        quiet = quiet_teaching_hours(since, now, calendar, guard, limit)
        if quiet > limit:
            found[source] = f"nothing arrived since {since:%Y-%m-%d %H:%M} (more than {limit:g} teaching hours)"
    return found


def feed_quiet(last_arrivals: Mapping[str, float], now: datetime, calendar: Calendar, guard: OutageGuard) -> dict[str, tuple[float, float]]:
    """Each judged source's (teaching hours quiet since its last arrival, its ``max_quiet_hours``).

    For ``leap_source_quiet_teaching_hours``: holidays, weekends and nights add nothing, so a
    feed that is quiet when nobody works is not reported. Sources without a limit, and
    sources never seen, are left out.
    """
    found = {}
    for source, seconds in sorted(last_arrivals.items()):
        limit = guard.quiet_hours(source)
        if limit is not None:
            found[source] = (quiet_teaching_hours(datetime.fromtimestamp(seconds, now.tzinfo), now, calendar, guard), limit)
    return found


def outages(
    volumes: Mapping[tuple[str, date], int],
    last_arrivals: Mapping[str, float],
    day: date,
    now: datetime,
    calendar: Calendar,
    guard: OutageGuard,
) -> dict[str, str]:
    """Sources out for a decision about ``day``, judged at ``now``: volume, and freshness for today."""
    found = volume_outages(volumes, day, now, calendar, guard)
    if day >= now.date():
        for source, why in freshness_outages(last_arrivals, now, calendar, guard).items():
            found.setdefault(source, why)
    return found
