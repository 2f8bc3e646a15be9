"""The academic calendar: teaching days, breaks, and the file's validation."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap.calendar import Calendar, CalendarError, Period, load_calendar, parse_calendar
from leap.policy import load_policy
from leap.settings import PROJECT_ROOT

TERM = Period("Autumn", date(2026, 10, 5), date(2026, 12, 11))
READING = Period("Reading week", date(2026, 11, 9), date(2026, 11, 13))
CAL = Calendar((TERM,), (READING,))


def test_days_in_term_teach_and_breaks_and_vacations_do_not():
    assert CAL.non_teaching(date(2026, 10, 5)) is None
    assert CAL.non_teaching(date(2026, 12, 11)) is None
    assert CAL.non_teaching(date(2026, 11, 9)) == "Reading week"
    assert CAL.non_teaching(date(2026, 11, 13)) == "Reading week"
    assert CAL.non_teaching(date(2026, 11, 14)) is None
    assert CAL.non_teaching(date(2026, 12, 12)) == "outside term"
    assert CAL.non_teaching(date(2026, 10, 4)) == "outside term"


def test_without_terms_every_day_outside_breaks_teaches():
    cal = Calendar((), (READING,))
    assert cal.non_teaching(date(2030, 1, 1)) is None
    assert cal.non_teaching(date(2026, 11, 10)) == "Reading week"


def test_only_teaching_weekdays_teach():
    cal = parse_calendar({"term": [{"name": "Autumn", "starts": "2026-10-05", "ends": "2026-12-11"}], "teaching_weekdays": ["mon", "tue", "wed", "thu", "fri"]})
    assert cal.non_teaching(date(2026, 11, 20)) is None  # a Friday
    assert cal.non_teaching(date(2026, 11, 21)) == "no teaching on Saturdays"
    assert cal.teaching_days(date(2026, 11, 20), date(2026, 11, 27)) == 5
    assert parse_calendar({}).weekdays == frozenset(range(7))
    assert cal.term_start(date(2026, 11, 21)) == date(2026, 10, 5) and cal.term_start(date(2027, 1, 1)) is None


def test_teaching_days_skip_the_break():
    # 2 Nov .. 16 Nov: 14 days after 2 Nov, 5 of them in reading week
    assert CAL.teaching_days(date(2026, 11, 2), date(2026, 11, 16)) == 9
    assert CAL.teaching_days(date(2026, 11, 2), date(2026, 11, 2)) == 0


@given(st.dates(date(2026, 9, 1), date(2027, 1, 31)), st.integers(0, 60))
def test_teaching_days_count_each_teaching_day_once(start, length):
    end = start + timedelta(days=length)
    expected = sum(1 for i in range(1, length + 1) if CAL.non_teaching(start + timedelta(days=i)) is None)
    assert CAL.teaching_days(start, end) == expected <= length


def test_the_shipped_calendar_loads_through_the_policy():
    policy = load_policy(PROJECT_ROOT / "deploy" / "institution.toml")
    calendar = load_calendar(policy.alerts.calendar_file)
    assert calendar.terms and calendar.breaks
    assert calendar.weekdays == frozenset(range(5))
    assert all(b.starts >= min(t.starts for t in calendar.terms) for b in calendar.breaks)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"term": [{"name": "x", "starts": "2026-10-05"}]}, "missing 'ends'"),
        ({"term": [{"name": "x", "starts": "2026-10-05", "ends": "2026-10-01"}]}, "before it starts"),
        ({"term": [{"name": "x", "starts": "05/10/2026", "ends": "2026-10-01"}]}, "term 1"),
        ({"terms": []}, "unknown entries"),
        ({"break": ["reading week"]}, "break 1"),
        ({"teaching_weekdays": ["mon", "funday"]}, "'funday' is not one of"),
        ({"teaching_weekdays": []}, "non-empty list"),
    ],
)
def test_a_bad_calendar_names_the_entry(data, message):
    with pytest.raises(CalendarError, match=message):
        parse_calendar(data)


def test_a_missing_calendar_file_says_where_it_is_configured(tmp_path):
    with pytest.raises(CalendarError, match="calendar_file"):
        load_calendar(tmp_path / "nope.toml")
