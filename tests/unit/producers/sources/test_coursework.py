"""The coursework adapter: the documented CSV for FASER-like systems."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.exports import open_export
from producers.outcome import Event, Reject, Skip
from producers.readers import ExportError
from producers.sources import Options
from producers.sources import coursework as cw
from tests.unit.producers.test_fuzz import NOISE, decided, half_real

FIXTURES = Path(__file__).parents[3] / "fixtures" / "sources"
HERE = FIXTURES / "coursework"
LONDON = ZoneInfo("Europe/London")
HEADER = ("student_id", "assignment_id", "event", "timestamp", "due", "course", "assignment_name")


def ms(*args: int, tz=timezone.utc) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)


def row(**overrides: str) -> list[str]:
    values = {"student_id": "2300001", "assignment_id": "CE101-ASG1", "event": "submitted", "timestamp": "2026-11-20T09:15:02+00:00",
              "due": "2026-11-20T12:00:00+00:00", "course": "CE101-4-AU", "assignment_name": "Lab report 1"}  # fmt: skip
    values.update(overrides)
    return [values[c] for c in HEADER]


def parse(fields, header=HEADER, site="faser", tz=LONDON):
    return cw.parse_coursework_row(header, fields, site=site, tz=tz, position="faser.csv:2")


def brief(outcome):
    if isinstance(outcome, Event):
        r = outcome.record
        return (r["student_id"], r["action"], r["event_time"], r["object_ref"], r["course"])
    return outcome.reason


# ---------------------------------------------------------------- fixture


def test_fixture_gives_exactly_these_outcomes():
    with open_export(HERE / "faser_coursework.csv", "coursework", Options(tz=LONDON)) as export:
        got = [(record.line, brief(outcome)) for record, outcome in export.outcomes()]
    assert got == [
        (2, ("2300001", "submitted", ms(2026, 11, 20, 9, 15, 2), "CE101-ASG1", "CE101-4-AU")),
        (3, ("2300001", "feedback_viewed", ms(2026, 12, 4, 18, 22, 40), "CE101-ASG1", "CE101-4-AU")),
        (4, ("2300002", "submitted_late", ms(2026, 11, 20, 12, 3, 41), "CE101-ASG1", "CE101-4-AU")),
        (5, "extension: recorded by staff, not the student's activity"),
        (6, "draft save: not a submission"),
        (7, ("2300003", "submitted", ms(2026, 11, 22, 23, 59, 30), "EC111-ESSAY", "EC111-4-FY")),  # due that day: on time
        (8, ("2300004", "submitted_late", ms(2026, 11, 23, 0, 0, 5), "EC111-ESSAY", "EC111-4-FY")),
        (9, ("2300005", "feedback_viewed", ms(2026, 12, 1, 10), "EC111-ESSAY", "EC111-4-FY")),
        (10, "event 'marked' is not one of submitted, feedback_viewed, draft_saved, extension_granted"),
        (11, "student_id is empty"),
        (12, "timestamp '2026-13-22T10:00:00' is not ISO 8601 or DD/MM/YYYY HH:MM:SS"),
        (13, "due 'next friday' is not ISO 8601 or DD/MM/YYYY HH:MM:SS"),
        (14, "6 fields where the header has 7"),
    ]


def test_auto_detection_picks_this_adapter():
    with open_export(HERE / "faser_coursework.csv", "auto") as export:
        assert export.format == "coursework"


def test_a_submission_is_exactly_this_event():
    outcome = parse(row())
    assert isinstance(outcome, Event) and outcome.identity == "student_id"
    assert outcome.record == {
        "event_id": outcome.record["event_id"],
        "student_id": "2300001",
        "source": "coursework",
        "action": "submitted",
        "event_time": ms(2026, 11, 20, 9, 15, 2),
        "course": "CE101-4-AU",
        "object_ref": "CE101-ASG1",
        "quantity": None,
        "attendance_status": None,
        "source_ref": "faser.csv:2",
        "amends": None,
    }


# ---------------------------------------------------------------- header


def test_the_minimal_header_and_any_column_order_are_accepted():
    assert cw.check_header(["timestamp", "event", "assignment_id", "\ufeffStudent_ID"]) == ("timestamp", "event", "assignment_id", "student_id")
    outcome = parse(["2026-11-20T09:00:00Z", "submitted", "A1", "2300001"], header=("timestamp", "event", "assignment_id", "student_id"))
    assert outcome.record["action"] == "submitted" and outcome.record["course"] is None


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (["student_id", "assignment_id", "event"], "missing timestamp"),
        ([*HEADER, "grade"], "unknown grade"),
        (["student_id", "assignment_id", "event", "timestamp", "deadline"], "unknown deadline"),
        (["student_id", "assignment_id", "event", "timestamp", "event"], "a column is repeated"),
        (["USERNAME", "ITEM_ID", "ITEM_NAME", "ITEM_SUBTYPE", "BORROWING_SITE", "TIMESTAMP"], "missing student_id"),
    ],
)
def test_other_headers_are_refused_naming_the_problem(header, problem):
    with pytest.raises(ValueError, match="not a coursework CSV") as excinfo:
        cw.check_header(header)
    assert problem in str(excinfo.value)


@pytest.mark.parametrize("path", [p for name in ("moodle", "events", "windows-logons", "jisc-library") for p in sorted((FIXTURES / name).iterdir())], ids=lambda p: p.name)
def test_other_adapters_files_are_refused(path):
    with pytest.raises(ExportError):
        with open_export(path, "coursework"):
            pass


# ---------------------------------------------------------------- rules


@pytest.mark.parametrize(("event", "action"), [("submitted", "submitted"), ("feedback_viewed", "feedback_viewed"), ("Feedback Viewed", "feedback_viewed"), ("feedback-viewed", "feedback_viewed")])
def test_engagement_events(event, action):
    assert parse(row(event=event)).record["action"] == action


@pytest.mark.parametrize(
    ("event", "reason"),
    [("extension_granted", "extension: recorded by staff, not the student's activity"), ("draft_saved", "draft save: not a submission"), ("Draft Saved", "draft save: not a submission")],
)
def test_events_that_are_not_the_students_engagement_are_skipped(event, reason):
    assert parse(row(event=event)) == Skip(reason)


@pytest.mark.parametrize(
    ("timestamp", "due", "action"),
    [
        ("2026-11-20T12:00:00+00:00", "2026-11-20T12:00:00+00:00", "submitted"),  # at the deadline: on time
        ("2026-11-20T12:00:01+00:00", "2026-11-20T12:00:00+00:00", "submitted_late"),
        ("2026-11-20T12:00:01+00:00", "", "submitted"),  # no deadline known
        ("2026-07-20 12:30:00", "2026-07-20T12:00:00+01:00", "submitted_late"),  # local BST vs offset
        ("2026-07-20 23:59:59", "2026-07-20", "submitted"),  # a date: the end of that day
        ("2026-07-21 00:00:00", "2026-07-20", "submitted_late"),
        ("20/07/2026 23:59", "20/07/2026", "submitted"),
    ],
)
def test_late_submissions(timestamp, due, action):
    assert parse(row(timestamp=timestamp, due=due)).record["action"] == action


def test_feedback_viewed_after_the_deadline_is_not_late():
    assert parse(row(event="feedback_viewed", timestamp="2026-12-20T10:00:00Z")).record["action"] == "feedback_viewed"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T09:15:02+00:00", ms(2026, 11, 20, 9, 15, 2)),
        ("2026-11-20T09:15:02Z", ms(2026, 11, 20, 9, 15, 2)),
        ("2026-07-20T09:15:02", ms(2026, 7, 20, 8, 15, 2)),
        ("2026-07-20 09:15", ms(2026, 7, 20, 8, 15)),
        ("20/07/2026 09:15:02", ms(2026, 7, 20, 8, 15, 2)),
        ("20/07/2026 09:15", ms(2026, 7, 20, 8, 15)),
    ],
)
def test_time_forms(text, expected):
    assert cw.parse_time(text, LONDON, "timestamp") == expected


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"student_id": ""}, "student_id is empty"),
        ({"assignment_id": " "}, "assignment_id is empty"),
        ({"event": ""}, "event is empty"),
        ({"student_id": "9" * 300}, "student_id is longer than 256 characters"),
        ({"event": "graded"}, "event 'graded' is not one of"),
        ({"timestamp": "1795169732"}, "timestamp '1795169732' is not ISO 8601"),
        ({"timestamp": "1999-12-31T12:00:00Z"}, "timestamp '1999-12-31T12:00:00Z' is outside 2000-2099"),
        ({"timestamp": "11/20/2026 09:00"}, "is not ISO 8601 or DD/MM/YYYY"),  # US order: month 20
        ({"due": "soon"}, "due 'soon' is not ISO 8601"),
    ],
)
def test_malformed_rows_are_rejected_with_the_reason(overrides, reason):
    outcome = parse(row(**overrides))
    assert isinstance(outcome, Reject) and reason in outcome.reason


def test_a_row_of_the_wrong_width_is_rejected():
    assert parse(row()[:5]) == Reject("5 fields where the header has 7")


# ---------------------------------------------------------------- event ids


def test_event_id_is_stable_and_differs_by_site_student_assignment_event_and_time():
    first = parse(row()).record["event_id"]
    assert parse(row()).record["event_id"] == first
    assert parse(row(timestamp="2026-11-20 09:15:02", due="")).record["event_id"] == first  # same moment, written otherwise
    others = [parse(row(), site="other"), parse(row(student_id="2300002")), parse(row(assignment_id="A2")),
              parse(row(event="feedback_viewed")), parse(row(timestamp="2026-11-20T09:15:03Z"))]  # fmt: skip
    assert len({first, *(o.record["event_id"] for o in others)}) == 6


# ---------------------------------------------------------------- fuzz


@settings(max_examples=300)
@given(half_real(row()) | half_real(row(event="feedback_viewed", due="")) | st.lists(NOISE, max_size=9))
def test_rows_are_always_decided(fields):
    decided(parse(fields))
