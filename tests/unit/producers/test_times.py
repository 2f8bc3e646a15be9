"""producers.times: the time reading every adapter shares, tested on its own."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.times import (
    DAY_FIRST, DAY_FIRST_OR_DATE, EARLIEST_MS, ISO_ANY, ISO_DATE_TIME, ISO_WITH_TIME, ISO_YEAR_FIRST,
    LATEST_MS, NOT_BETWEEN, NOT_PLAUSIBLE, OUTSIDE, RFC3339_DATE_TIME, US_12_HOUR, Iso, parse_time,
    plausible_ms, read_time, unix_ms,
)  # fmt: skip

LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc
ISO_RULES = [None, RFC3339_DATE_TIME, ISO_DATE_TIME, ISO_WITH_TIME, ISO_YEAR_FIRST, ISO_ANY]


def ms(*args: int, tz=UTC) -> int:
    return unix_ms(datetime(*args, tzinfo=tz))


def parse(text: str, **options) -> int:
    return parse_time(text, **{"column": "when", "tz": LONDON, "iso": ISO_ANY, "unreadable": "is unreadable", **options})


# ---------------------------------------------------------------- bounds and milliseconds


def test_the_plausible_range_is_2000_to_2099():
    assert EARLIEST_MS == ms(2000, 1, 1) and LATEST_MS == ms(2100, 1, 1)


@pytest.mark.parametrize("value", [EARLIEST_MS, EARLIEST_MS + 1, LATEST_MS - 1])
def test_plausible_milliseconds_pass_through(value):
    assert plausible_ms(value, "when", str(value)) == value


@pytest.mark.parametrize("value", [EARLIEST_MS - 1, LATEST_MS, 0, -1, 1_700_000_000, 10**20])
def test_implausible_milliseconds_are_refused_with_a_one_line_reason(value):
    with pytest.raises(ValueError) as caught:
        plausible_ms(value, "when", str(value))
    assert str(caught.value) == f"when {str(value)!r} is not a plausible time (2000-2099)"


@pytest.mark.parametrize(("phrase", "expected"), [(NOT_PLAUSIBLE, "is not a plausible time (2000-2099)"), (OUTSIDE, "is outside 2000-2099"), (NOT_BETWEEN, "is not between 2000 and 2099")])
def test_the_refusal_is_worded_as_the_adapter_words_it(phrase, expected):
    with pytest.raises(ValueError, match=f"^created '1999-12-31' {re.escape(expected)}$"):
        plausible_ms(datetime(1999, 12, 31, tzinfo=UTC), "created", "1999-12-31", phrase)


def test_the_text_in_a_reason_is_cut_to_40_characters():
    with pytest.raises(ValueError) as caught:
        plausible_ms(0, "when", "9" * 100)
    assert str(caught.value) == f"when {'9' * 40!r} {NOT_PLAUSIBLE}"


@pytest.mark.parametrize(
    ("stamp", "ok"),
    [
        (datetime(2000, 1, 1, tzinfo=UTC), True),
        (datetime(1999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), False),
        (datetime(2099, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), True),
        (datetime(2100, 1, 1, tzinfo=UTC), False),
        (datetime(2000, 1, 1, tzinfo=LONDON), True),  # GMT in January: UTC midnight
        (datetime(2000, 1, 1, tzinfo=timezone(timedelta(hours=1))), False),  # 23:00 UTC on 31 December 1999
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), False),  # before year 1 in UTC
        (datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-23, minutes=-59))), False),  # after 9999 in UTC
    ],
)
def test_aware_times_are_checked_in_utc_at_both_ends(stamp, ok):
    for exact in (True, False):
        if ok:
            assert plausible_ms(stamp, "when", "t", exact=exact) == unix_ms(stamp)
        else:
            with pytest.raises(ValueError, match=re.escape(NOT_PLAUSIBLE)):
                plausible_ms(stamp, "when", "t", exact=exact)


def test_exact_milliseconds_and_the_float_rounding_older_adapters_keep():
    stamp = datetime(2004, 1, 17, 6, 11, 5, 751000, tzinfo=UTC)
    assert unix_ms(stamp) == plausible_ms(stamp, "when", "t") == 1_074_319_865_751
    assert plausible_ms(stamp, "when", "t", exact=False) == int(stamp.timestamp() * 1000) == 1_074_319_865_750


# ---------------------------------------------------------------- formats, naive and aware


@pytest.mark.parametrize(
    ("text", "formats", "expected"),
    [
        ("05/10/2026 09:00:15", DAY_FIRST, ms(2026, 10, 5, 8, 0, 15)),  # BST: an hour ahead of UTC
        ("05/10/2026 09:00", DAY_FIRST, ms(2026, 10, 5, 8, 0)),
        ("07/12/2026 09:00", DAY_FIRST, ms(2026, 12, 7, 9, 0)),  # GMT
        ("05/10/2026", DAY_FIRST_OR_DATE, ms(2026, 10, 4, 23, 0)),  # local midnight
        ("11/15/2018 1:44:52 AM", US_12_HOUR, ms(2018, 11, 15, 1, 44, 52)),
        ("6/1/2026 1:44:52 PM", US_12_HOUR, ms(2026, 6, 1, 12, 44, 52)),
        ("11/15/2018 12:05 AM", US_12_HOUR, ms(2018, 11, 15, 0, 5)),  # 12 AM is just after midnight
        ("11/15/2018 12:05 PM", US_12_HOUR, ms(2018, 11, 15, 12, 5)),
    ],
)
def test_each_format_list_is_read_as_local_time(text, formats, expected):
    assert parse(text, iso=None, formats=formats) == expected


@pytest.mark.parametrize(
    ("text", "formats"),
    [("05/10/2026", DAY_FIRST), ("31/09/2026 09:00", DAY_FIRST), ("11/20/2026 09:00", DAY_FIRST), ("20/11/2026 1:00 PM", US_12_HOUR), ("11/15/2018 13:44 PM", US_12_HOUR), ("2026-10-05 09:00", US_12_HOUR)],
)
def test_a_text_no_format_reads_is_refused(text, formats):
    with pytest.raises(ValueError) as caught:
        parse(text, iso=None, formats=formats)
    assert str(caught.value) == f"when {text!r} is unreadable"


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("2026-10-05T09:00:00", LONDON, ms(2026, 10, 5, 8, 0)),  # naive: in tz
        ("2026-10-05T09:00:00", UTC, ms(2026, 10, 5, 9, 0)),
        ("2026-10-05T09:00:00+02:00", LONDON, ms(2026, 10, 5, 7, 0)),  # aware: its own offset, whatever tz
        ("2026-10-05T09:00:00Z", LONDON, ms(2026, 10, 5, 9, 0)),
        ("2026-10-05T09:00:00.250Z", LONDON, ms(2026, 10, 5, 9, 0) + 250),
        ("  2026-10-05 09:00  ", LONDON, ms(2026, 10, 5, 8, 0)),  # stripped
    ],
)
def test_naive_times_are_in_the_zone_given_and_aware_ones_keep_their_offset(text, tz, expected):
    assert parse(text, tz=tz) == expected


def test_iso_is_tried_before_the_formats():
    # 2026-01-02 read as ISO 8601; the formats are not reached.
    assert parse("2026-01-02 03:04", formats=("%Y-%d-%m %H:%M",), tz=UTC) == ms(2026, 1, 2, 3, 4)
    assert parse("2026-01-02 03:04", iso=None, formats=("%Y-%d-%m %H:%M",), tz=UTC) == ms(2026, 2, 1, 3, 4)


def test_a_naive_strptime_result_is_in_tz_and_an_offset_it_reads_is_kept():
    assert read_time("05/10/2026 09:00", tz=LONDON, iso=None, formats=DAY_FIRST) == datetime(2026, 10, 5, 9, 0, tzinfo=LONDON)
    assert read_time("05/10/2026 09:00 +0200", tz=LONDON, iso=None, formats=("%d/%m/%Y %H:%M %z",)) == datetime(2026, 10, 5, 7, 0, tzinfo=UTC)
    assert read_time("not a time", tz=LONDON, iso=ISO_ANY, formats=DAY_FIRST) is None


# ---------------------------------------------------------------- the ISO rules


@pytest.mark.parametrize(
    ("text", "accepted_by"),
    [
        ("2026-10-05T09:00:00Z", {RFC3339_DATE_TIME, ISO_DATE_TIME, ISO_WITH_TIME, ISO_YEAR_FIRST, ISO_ANY}),
        ("2026-10-05 09:00", {RFC3339_DATE_TIME, ISO_DATE_TIME, ISO_WITH_TIME, ISO_YEAR_FIRST, ISO_ANY}),
        ("2026-10-05t09:00", {RFC3339_DATE_TIME, ISO_WITH_TIME, ISO_YEAR_FIRST, ISO_ANY}),  # lower-case t: RFC 3339 allows it
        ("2026-10-05", {ISO_YEAR_FIRST, ISO_ANY}),  # a bare date
        ("2026-10-05T09", {ISO_YEAR_FIRST, ISO_ANY}),  # an hour without minutes
        ("20261005", {ISO_ANY}),  # the basic form, fewer than ten characters
        ("20261005T09:00", {ISO_WITH_TIME, ISO_YEAR_FIRST, ISO_ANY}),
        ("2026-10-05Z", {ISO_YEAR_FIRST, ISO_ANY}),  # Z made +00:00 first: read as a date
        ("05/10/2026 09:00", set()),
    ],
)
def test_which_iso_rule_reads_what(text, accepted_by):
    rules = {RFC3339_DATE_TIME, ISO_DATE_TIME, ISO_WITH_TIME, ISO_YEAR_FIRST, ISO_ANY}
    assert {rule for rule in rules if rule.read(text) is not None} == accepted_by


def test_z_offset_is_only_a_rewrite_before_reading():
    assert Iso(lambda text: True).read("2026-10-05Z") is None
    assert Iso(lambda text: True, z_offset=True).read("2026-10-05Z") == datetime(2026, 10, 5)
    assert Iso(lambda text: True).read("2026-10-05T09:00Z") == Iso(lambda text: True, z_offset=True).read("2026-10-05T09:00Z")


def test_without_an_iso_rule_iso_8601_is_not_read():
    with pytest.raises(ValueError, match="is unreadable"):
        parse("2026-10-05T09:00:00Z", iso=None, formats=US_12_HOUR)


# ---------------------------------------------------------------- bare dates as deadlines


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-05", ms(2026, 10, 5, 22, 59, 59) + 999),  # BST: the local day ends at 22:59:59.999 UTC
        ("05/12/2026", ms(2026, 12, 5, 23, 59, 59) + 999),
        ("2026-03-29", ms(2026, 3, 29, 22, 59, 59) + 999),  # the clocks go forward: a 23-hour day
        ("2026-10-05 17:00", ms(2026, 10, 5, 16, 0)),  # a time is kept as it is
    ],
)
def test_end_of_day_makes_a_bare_date_the_days_last_millisecond(text, expected):
    assert parse(text, iso=ISO_YEAR_FIRST, formats=DAY_FIRST_OR_DATE, end_of_day=True, exact=False) == expected


def test_without_end_of_day_a_bare_date_is_midnight():
    assert parse("2026-10-05", iso=ISO_YEAR_FIRST) == ms(2026, 10, 4, 23, 0)


def test_end_of_day_cannot_push_2099_into_2100():
    assert parse("2099-12-31", iso=ISO_YEAR_FIRST, tz=UTC, end_of_day=True) == LATEST_MS - 1
    with pytest.raises(ValueError, match="is not a plausible time"):
        parse("2100-01-01", iso=ISO_YEAR_FIRST, tz=UTC, end_of_day=True)


# ---------------------------------------------------------------- reasons


@pytest.mark.parametrize(
    ("text", "options", "reason"),
    [
        ("", {}, "when '' is unreadable"),
        ("   ", {}, "when '' is unreadable"),
        ("next friday", {}, "when 'next friday' is unreadable"),
        ("x" * 60, {}, f"when {'x' * 40!r} is unreadable"),
        ("1999-12-31 23:59", {}, "when '1999-12-31 23:59' is not a plausible time (2000-2099)"),
        (" 2100-01-01T00:00Z ", {"implausible": OUTSIDE}, "when '2100-01-01T00:00Z' is outside 2000-2099"),
        ("0001-01-01 00:00", {"implausible": NOT_BETWEEN}, "when '0001-01-01 00:00' is not between 2000 and 2099"),
        ("9999-12-31T23:59:59-23:59", {}, "when '9999-12-31T23:59:59-23:59' is not a plausible time (2000-2099)"),
    ],
)
def test_reasons_name_the_column_and_the_stripped_text(text, options, reason):
    with pytest.raises(ValueError) as caught:
        parse(text, **options)
    assert str(caught.value) == reason


# ---------------------------------------------------------------- anything at all


TEXT = st.text(max_size=40) | st.from_regex(r"\A[0-9 :/\-TtZz+.,APM]{0,32}\Z") | st.sampled_from(["2026-10-05", "05/10/2026", "20261005", "0001-01-01T00:00+01:00"])


@settings(max_examples=400, deadline=None)
@given(
    text=TEXT,
    iso=st.sampled_from(ISO_RULES),
    formats=st.sampled_from([(), DAY_FIRST, DAY_FIRST_OR_DATE, US_12_HOUR, (*DAY_FIRST, *US_12_HOUR)]),
    tz=st.sampled_from([UTC, LONDON, ZoneInfo("Pacific/Kiritimati"), timezone(timedelta(hours=-23, minutes=-59))]),
    exact=st.booleans(),
    end_of_day=st.booleans(),
)
def test_parse_time_never_raises_anything_but_value_error(text, iso, formats, tz, exact, end_of_day):
    try:
        result = parse_time(text, column="when", tz=tz, iso=iso, formats=formats, unreadable="is unreadable", exact=exact, end_of_day=end_of_day)
    except ValueError as exc:
        assert str(exc).startswith("when ") and "\n" not in str(exc)  # one line: the text is shown by its repr
    else:
        assert EARLIEST_MS <= result < LATEST_MS


@given(st.integers())
def test_plausible_ms_of_any_integer_is_it_or_a_value_error(value):
    try:
        assert plausible_ms(value, "when", str(value)) == value
    except ValueError:
        assert not EARLIEST_MS <= value < LATEST_MS
