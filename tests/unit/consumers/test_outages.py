"""The outage guard as pure judgements: volume on complete days only, and freshness of arrivals."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap.calendar import Calendar, Period
from consumers.outages import feed_quiet, freshness_outages, last_complete_day, outages, quiet_teaching_hours, volume_outages
from leap.policy import OutageGuard

LONDON = ZoneInfo("Europe/London")
TERM = Calendar((Period("Autumn", date(2026, 10, 5), date(2026, 12, 11)),), (Period("Reading week", date(2026, 11, 9), date(2026, 11, 13)),))
WEEKDAYS = Calendar(TERM.terms, TERM.breaks, frozenset(range(5)))
GUARD = OutageGuard()


def at(day: date, hour: float = 12) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LONDON) + timedelta(hours=hour)


def _weeks(source, last, per_week, today_count):
    volumes = {(source, last - timedelta(weeks=k)): n for k, n in enumerate(per_week, start=1)}
    volumes[(source, last)] = today_count
    return volumes


def test_a_source_far_below_its_usual_weekday_volume_is_out():
    last = date(2026, 11, 26)  # a Thursday in term
    # 12 Nov is in reading week and 29 Oct had no data: the usual level is the median of 19 and 5 Nov.
    volumes = _weeks("vle", last, [1000, 1100, 900, 0], 40)
    found = volume_outages(volumes, last + timedelta(days=1), at(last + timedelta(days=2)), TERM, GUARD)
    assert list(found) == ["vle"] and "usually 950" in found["vle"] and "Thursday" in found["vle"]
    assert volume_outages(_weeks("vle", last, [1000, 1100, 900], 600), last + timedelta(days=1), at(last + timedelta(days=2)), TERM, GUARD) == {}


def test_no_judgement_without_history_or_volume_or_in_a_break():
    last = date(2026, 11, 26)
    later = at(last + timedelta(days=5))
    assert volume_outages(_weeks("vle", last, [1000], 0), last + timedelta(days=1), later, TERM, GUARD) == {}
    assert volume_outages(_weeks("vle", last, [20, 30, 25], 0), last + timedelta(days=1), later, TERM, GUARD) == {}
    in_break = date(2026, 11, 11)
    assert volume_outages(_weeks("vle", in_break, [1000, 1000, 1000], 0), in_break + timedelta(days=1), later, TERM, GUARD) == {}


def test_a_day_is_judged_only_once_its_events_have_had_time_to_arrive():
    day = date(2026, 11, 26)
    # vle (6 h): yesterday is complete from 06:00; before then the day before is judged.
    assert last_complete_day("vle", day, at(day, 7), GUARD) == day - timedelta(days=1)
    assert last_complete_day("vle", day, at(day, 5), GUARD) == day - timedelta(days=2)
    # attendance (72 h): at noon on the 26th the latest complete day is the 22nd.
    assert last_complete_day("attendance", day, at(day, 12), GUARD) == date(2026, 11, 22)
    # Deciding about an old day long after: the day before it.
    assert last_complete_day("attendance", day, at(day + timedelta(days=10)), GUARD) == day - timedelta(days=1)


def test_attendance_that_has_not_arrived_yet_is_never_out_on_yesterday():
    yesterday = date(2026, 11, 26)
    volumes = _weeks("attendance", yesterday, [1000, 1000, 1000], 0)  # nothing for yesterday yet
    for k in range(1, 5):  # and the days before it were normal
        volumes.update(_weeks("attendance", yesterday - timedelta(days=k), [1000, 1000, 1000], 1000))
    today = yesterday + timedelta(days=1)
    assert volume_outages(volumes, today, at(today, 12), TERM, GUARD) == {}
    # Three days after yesterday ended it is complete, and still empty: out.
    assert "attendance" in volume_outages(volumes, today, at(yesterday + timedelta(days=4), 1), TERM, GUARD)


@given(st.lists(st.integers(0, 5000), min_size=4, max_size=4), st.integers(0, 5000))
def test_outage_iff_below_ratio_of_the_median_of_usable_weeks(history, seen):
    last = date(2026, 12, 3)
    found = volume_outages(_weeks("vle", last, history, seen), last + timedelta(days=1), at(last + timedelta(days=2)), TERM, GUARD)
    usable = sorted(n for k, n in enumerate(history, start=1) if n > 0 and TERM.non_teaching(last - timedelta(weeks=k)) is None)
    if len(usable) < GUARD.min_history_weeks:
        assert found == {}
        return
    mid = len(usable) // 2
    median = usable[mid] if len(usable) % 2 else (usable[mid - 1] + usable[mid]) / 2
    assert ("vle" in found) == (median >= GUARD.min_usual_events and seen < GUARD.ratio * median)


# ----------------------------------------------------------------- freshness


def test_quiet_hours_count_teaching_hours_of_teaching_days_only():
    friday = date(2026, 11, 20)
    # Friday 16:00 -> Monday 11:00, Mon-Fri teaching 9-18: 2 h on Friday, 2 h on Monday.
    assert quiet_teaching_hours(at(friday, 16), at(friday + timedelta(days=3), 11), WEEKDAYS, GUARD) == 4
    # Every day teaching: 2 + 9 + 9 + 2.
    assert quiet_teaching_hours(at(friday, 16), at(friday + timedelta(days=3), 11), TERM, GUARD) == 22
    # Overnight does not count at all.
    assert quiet_teaching_hours(at(friday, 19), at(friday + timedelta(days=1), 8), TERM, GUARD) == 0


def test_a_feed_that_stops_today_is_out_within_the_hour_and_recovers_when_it_arrives():
    day = date(2026, 11, 25)  # a Wednesday
    last_vle = at(day, 9.5).timestamp()
    assert freshness_outages({"vle": last_vle}, at(day, 12.4), WEEKDAYS, GUARD) == {}
    found = freshness_outages({"vle": last_vle}, at(day, 12.6), WEEKDAYS, GUARD)
    assert list(found) == ["vle"] and "3 teaching hours" in found["vle"]
    assert freshness_outages({"vle": at(day, 12.5).timestamp()}, at(day, 12.6), WEEKDAYS, GUARD) == {}


def test_a_weekend_or_a_break_is_not_a_quiet_feed():
    friday = date(2026, 11, 6)  # reading week follows
    last = at(friday, 17.9).timestamp()
    assert freshness_outages({"vle": last}, at(date(2026, 11, 16), 9.5), WEEKDAYS, GUARD) == {}


def test_freshness_holds_decisions_about_today_only_and_never_seen_sources_are_not_judged():
    day = date(2026, 11, 25)
    arrivals = {"vle": at(day - timedelta(days=2), 10).timestamp()}
    assert list(outages({}, arrivals, day, at(day, 12), WEEKDAYS, GUARD)) == ["vle"]
    assert outages({}, arrivals, day - timedelta(days=3), at(day, 12), WEEKDAYS, GUARD) == {}
    assert outages({}, {}, day, at(day, 12), WEEKDAYS, GUARD) == {}


@given(st.floats(0, 200), st.floats(0.5, 100))
def test_out_exactly_when_quiet_longer_than_allowed(hours_ago, limit):
    guard = OutageGuard(max_quiet_hours={"vle": limit})
    now = at(date(2026, 11, 25), 15)
    since = now - timedelta(hours=hours_ago)
    found = freshness_outages({"vle": since.timestamp()}, now, TERM, guard)
    assert ("vle" in found) == (quiet_teaching_hours(since, now, TERM, guard) > limit)


def test_feed_quiet_reports_teaching_hours_and_limit_for_judged_sources_only():
    friday = date(2026, 11, 6)  # reading week follows: its days add nothing
    arrivals = {"vle": at(friday, 17).timestamp(), "attendance": at(friday, 9).timestamp(), "library": at(friday, 9).timestamp()}
    guard = OutageGuard(max_quiet_hours={"vle": 3, "attendance": 27})
    assert guard.quiet_hours("library") is None or "library" in feed_quiet(arrivals, at(friday, 12), WEEKDAYS, guard)
    found = feed_quiet({k: v for k, v in arrivals.items() if k != "library"}, at(date(2026, 11, 16), 10), WEEKDAYS, guard)
    # vle: 17-18 on Friday and 9-10 on Monday; attendance: 9-18 on Friday and 9-10 on Monday.
    assert found == {"vle": (pytest.approx(2.0), 3), "attendance": (pytest.approx(10.0), 27)}
    assert feed_quiet({}, at(friday, 12), WEEKDAYS, guard) == {}


@given(st.floats(0, 300), st.floats(0.5, 100))
def test_feed_quiet_agrees_with_the_freshness_judgement(hours_ago, limit):
    guard = OutageGuard(max_quiet_hours={"vle": limit})
    now = at(date(2026, 11, 25), 15)
    arrivals = {"vle": (now - timedelta(hours=hours_ago)).timestamp()}
    quiet, allowed = feed_quiet(arrivals, now, TERM, guard)["vle"]
    assert allowed == limit
    assert (quiet > allowed) == ("vle" in freshness_outages(arrivals, now, TERM, guard))
