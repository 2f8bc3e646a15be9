"""The attendance adapters' shared rules: session times, ids, and mark ids that let a later mark replace an absence."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from producers.attendance_marks import (
    ABSENT, AUTHORISED_ABSENCE, LATE, MARKS, NOT_REQUIRED, PRESENT, checked_id, mark_event, mark_key,
    mark_reference, session_time_ms,
)  # fmt: skip
from producers.outcome import event_id
from streams.day import ATTENDANCE, ATTENDANCE_MARKS, ATTENDED, EXPECTED
from streams.model import StudentState, apply_event

LONDON = ZoneInfo("Europe/London")


def ms(*args: int, tz=timezone.utc) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-05 09:00", ms(2026, 10, 5, 8, 0)),  # British Summer Time: UTC+1
        ("2026-10-05 09:00:30", ms(2026, 10, 5, 8, 0, 30)),
        ("2026-12-07 09:00", ms(2026, 12, 7, 9, 0)),  # winter: UTC
        ("2026-10-05T09:00:00", ms(2026, 10, 5, 8, 0)),
        ("2026-10-05T09:00:00+02:00", ms(2026, 10, 5, 7, 0)),
        ("2026-10-05T09:00:00Z", ms(2026, 10, 5, 9, 0)),
        ("2026-10-05T09:00:00.250Z", ms(2026, 10, 5, 9, 0) + 250),
        ("05/10/2026 09:00", ms(2026, 10, 5, 8, 0)),  # day first, as UK spreadsheets save
        ("05/10/2026 09:00:15", ms(2026, 10, 5, 8, 0, 15)),
        ("  2026-10-05 09:00  ", ms(2026, 10, 5, 8, 0)),
    ],
)
def test_session_times_in_every_accepted_shape(text, expected):
    assert session_time_ms(text, LONDON, "start") == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "start is empty"),
        ("   ", "start is empty"),
        ("2026-10-05", "is not a date and time"),
        ("10/05/2026", "is not a date and time"),
        ("31/09/2026 09:00", "is not a date and time"),
        ("2026-10-05 25:00", "is not a date and time"),
        ("yesterday 9:00", "is not a date and time"),
        ("1999-12-31 23:59", "is not a plausible time (2000-2099)"),
        ("2100-01-01 00:00", "is not a plausible time (2000-2099)"),
        ("0001-01-01 00:00", "is not a plausible time (2000-2099)"),
        ("9999-12-31T23:59:59-23:59", "is not a plausible time (2000-2099)"),
    ],
)
def test_times_that_are_not_session_times_are_refused_naming_the_column(text, reason):
    with pytest.raises(ValueError) as caught:
        session_time_ms(text, LONDON, "start")
    assert str(caught.value).startswith("start") and reason in str(caught.value)


def test_ids_are_stripped_and_must_be_one_printable_word():
    assert checked_id("  0041822913 ", "card_number") == "0041822913"
    for bad, reason in [("", "is empty"), ("12 34", "spaces"), ("12\x0034", "control"), ("9" * 65, "longer than 64")]:
        with pytest.raises(ValueError, match=reason):
            checked_id(bad, "card_number")


def test_marks_are_read_whatever_their_case_and_spacing():
    assert mark_key("  authorised   absence ") == "AUTHORISED ABSENCE"
    assert MARKS["AUTHORISED ABSENCE"] == AUTHORISED_ABSENCE and MARKS["P"] == PRESENT and MARKS["L"] == LATE and MARKS["A"] == ABSENT
    assert set(MARKS.values()) == {PRESENT, LATE, ABSENT, AUTHORISED_ABSENCE}
    assert not NOT_REQUIRED & set(MARKS)


def test_present_and_late_share_an_id_and_every_other_mark_has_its_own():
    ref = {s: mark_reference("reg", "essex", "EV1", "2300001", s) for s in (PRESENT, LATE, ABSENT, AUTHORISED_ABSENCE)}
    assert ref[PRESENT] == ref[LATE]
    assert len({ref[PRESENT], ref[ABSENT], ref[AUTHORISED_ABSENCE]}) == 3
    assert mark_reference("reg", "kent", "EV1", "2300001", ABSENT) != ref[ABSENT]


def test_ids_holding_colons_cannot_run_into_each_other():
    assert mark_reference("reg", "s", "a:b", "c", ABSENT) != mark_reference("reg", "s", "a", "b:c", ABSENT)


def _event(status: str):
    return mark_event(
        adapter="reg", site="essex", session="EV1", person="2300001", identity="student_id", status=status,
        action="session_marked", event_time_ms=ms(2026, 10, 5, 8), source_ref="r.csv:2", course="CE101",
    )  # fmt: skip


def test_every_mark_but_absent_amends_the_absence():
    absent = _event(ABSENT).record
    assert absent["amends"] is None
    for status in (PRESENT, LATE, AUTHORISED_ABSENCE):
        record = _event(status).record
        assert record["amends"] == absent["event_id"] == event_id(mark_reference("reg", "essex", "EV1", "2300001", ABSENT))
        assert record["attendance_status"] == status and record["source"] == "attendance"
        assert record["object_ref"] == "session:EV1" and record["course"] == "CE101"


def _totals(statuses: list[str]) -> tuple[int, int]:
    """What the engine counts after receiving these marks of one session, in this order."""
    state = StudentState()
    for status in statuses:
        record = _event(status).record
        apply_event(state, 1, record["event_id"], ATTENDANCE, ATTENDANCE_MARKS[status], record["amends"])
    day = state.days[1]
    return day.totals[ATTENDED], day.totals[EXPECTED]


@pytest.mark.parametrize(
    ("marks", "counted"),
    [
        ([ABSENT], (0, 1)),
        ([ABSENT, PRESENT], (1, 1)),  # a challenge upheld
        ([PRESENT, ABSENT], (1, 1)),  # the same, files read in the other order
        ([ABSENT, LATE], (1, 1)),
        ([ABSENT, AUTHORISED_ABSENCE], (0, 0)),  # a sick note
        ([AUTHORISED_ABSENCE, ABSENT], (0, 0)),
        ([PRESENT, LATE], (1, 1)),  # one event: counted once
        ([ABSENT, PRESENT, ABSENT, PRESENT], (1, 1)),  # re-exports
        ([ABSENT, LATE, PRESENT], (1, 1)),
        # The changes the scheme cannot express (module doc): the first attended mark stays.
        ([PRESENT, AUTHORISED_ABSENCE], (1, 1)),
    ],
)
def test_the_engine_counts_the_mark_a_change_leaves(marks, counted):
    assert _totals(marks) == counted
