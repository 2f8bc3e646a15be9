"""The Jisc attendance file (``producers.sources.jisc_attendance``): flags and categories to attendance events."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.attendance_marks import ABSENT, PRESENT, mark_reference
from producers.exports import open_export
from producers.outcome import CsvRecord, Event, Reject, Skip, event_id
from producers.sources import NotThisFormat, Options
from producers.sources.jisc_attendance import JISC_COLUMNS, JiscAttendance, jisc_columns, parse_jisc_row
from tests.unit.producers.test_fuzz import NOISE, decided, half_real

LONDON = ZoneInfo("Europe/London")
FIXTURE = Path(__file__).parents[3] / "fixtures" / "sources" / "jisc-attendance" / "jisc_attendance.tsv"
COLUMNS = jisc_columns(list(JISC_COLUMNS))
REAL = {
    "STUDENT_ID": "2300001", "EVENT_ID": "CE101-LEC-20261005-0900", "EVENT_NAME": "CE101 Lecture",
    "EVENT_DESCRIPTION": "Introduction to Programming", "EVENT_TYPE": "LEC", "EVENT_TYPE_DESCRIPTION": "Lecture",
    "EVENT_MAX_COUNT": "120", "EVENT_MANDATORY": "1", "START_TIME": "2026-10-05T09:00:00", "END_TIME": "2026-10-05T10:00:00",
    "EVENT_ATTENDED": "1", "ATTENDANCE_LATE": "0", "ATTENDANCE_CATEGORY": "", "STAFF_ID": "s.jones",
    "MOD_INSTANCE_ID": "CE101-4-AU-2026", "COURSE_INSTANCE_ID": "G400-2026",
}  # fmt: skip


def utc_ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp() * 1000)


MON_9 = utc_ms(2026, 10, 5, 8)  # 09:00 in London (BST)
TUE_14 = utc_ms(2026, 10, 6, 13)
WED_11Z = utc_ms(2026, 10, 7, 11)


def ids(session: str, student: str, status: str, site: str = "jisc-attendance") -> str:
    return event_id(mark_reference("jisc-attendance", site, session, student, status))


def row(**overrides: str) -> list[str]:
    return [{**REAL, **overrides}[name] for name in JISC_COLUMNS]


def parse(fields: list[str]):
    return parse_jisc_row(COLUMNS, fields, site="essex", tz=LONDON, position="j.tsv:2")


def status(**overrides: str) -> str:
    outcome = parse(row(**overrides))
    return outcome.record["attendance_status"] if isinstance(outcome, Event) else f"{type(outcome).__name__}: {outcome.reason}"


def read(**options) -> list[tuple[str, object]]:
    with open_export(FIXTURE, "jisc-attendance", Options(tz=LONDON, **options)) as export:
        return [(record.position, outcome) for record, outcome in export.outcomes()]


def summary(outcome) -> tuple:
    if isinstance(outcome, Event):
        r = outcome.record
        return (r["student_id"], r["attendance_status"], r["object_ref"].removeprefix("session:"), r["course"], r["event_time"])
    return (type(outcome).__name__, outcome.reason)


LEC, SEM, DROP = "CE101-LEC-20261005-0900", "CE204-SEM-20261006-1400", "CE-DROPIN-20261007-1200"


def test_the_fixture_gives_exactly_these_outcomes():
    got = [(position, summary(outcome)) for position, outcome in read()]
    assert got == [
        ("line 2", ("2300001", "present", LEC, "CE101-4-AU-2026", MON_9)),
        ("line 3", ("2300002", "late", LEC, "CE101-4-AU-2026", MON_9)),  # ATTENDANCE_LATE 1
        ("line 4", ("2300003", "late", LEC, "CE101-4-AU-2026", MON_9)),  # category L
        ("line 5", ("2300004", "absent", LEC, "CE101-4-AU-2026", MON_9)),
        ("line 6", ("2300005", "authorised_absence", LEC, "CE101-4-AU-2026", MON_9)),  # AA
        ("line 7", ("2300006", "authorised_absence", LEC, "CE101-4-AU-2026", MON_9)),  # false + Sick
        ("line 8", ("2300007", "present", LEC, "G400-2026", MON_9)),  # true; no module: the course instance
        ("line 9", ("2300001", "present", SEM, "CE204-5-AU-2026", TUE_14)),  # START_TIME with +01:00
        ("line 10", ("Skip", "not marked yet")),
        ("line 11", ("2300003", "authorised_absence", SEM, "CE204-5-AU-2026", TUE_14)),  # authorised in advance
        ("line 12", ("Skip", "session cancelled or not required")),
        ("line 13", ("2300001", "present", DROP, "G400-2026", WED_11Z)),  # optional, attended: counted
        ("line 14", ("Skip", "absent from an optional event")),
        ("line 15", ("Reject", "EVENT_ATTENDED '2' is not 1 or 0")),
        ("line 16", ("Reject", "ATTENDANCE_CATEGORY 'ZZ' is not a known attendance code")),
        ("line 17", ("Reject", "EVENT_ATTENDED is 1 but ATTENDANCE_CATEGORY is an absence")),
        ("line 18", ("Reject", "STUDENT_ID is empty")),
        ("line 19", ("Reject", "START_TIME '2026-10-06' is not a date and time (YYYY-MM-DD HH:MM[:SS], ISO 8601 or DD/MM/YYYY HH:MM)")),
        ("line 20", ("Reject", "12 fields where the header has 16")),
    ]


def test_fixture_events_are_attendance_by_student_id_with_ids_from_event_and_student():
    [first] = [o for p, o in read() if p == "line 2"]
    assert first.identity == "student_id"
    assert first.record["source"] == "attendance" and first.record["action"] == "session_marked"
    assert first.record["source_ref"] == "jisc_attendance.tsv:2"
    assert first.record["event_id"] == ids(LEC, "2300001", PRESENT)
    assert first.record["amends"] == ids(LEC, "2300001", ABSENT)


def test_ids_are_stable_and_depend_on_the_site():
    assert read() == read()
    jisc = {o.record["event_id"] for _, o in read() if isinstance(o, Event)}
    kent = {o.record["event_id"] for _, o in read(site="kent") if isinstance(o, Event)}
    assert len(jisc) == len(kent) == 10 and not jisc & kent


def test_auto_detection_picks_the_jisc_file():
    with open_export(FIXTURE, "auto", Options()) as export:
        assert export.format == "jisc-attendance"


# ---------------------------------------------------------------- header


def test_the_header_may_be_lower_case_and_reordered():
    header = ["\ufeff" + JISC_COLUMNS[-1].lower(), *reversed(JISC_COLUMNS[:-1])]
    adapter = JiscAttendance(Options(tz=LONDON), "j.csv")
    assert adapter.start(CsvRecord(1, "", header)) is True
    fields = [REAL[name.lstrip("\ufeff").upper()] for name in header]
    assert adapter.parse(CsvRecord(2, "", fields)).record["attendance_status"] == "present"


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (list(JISC_COLUMNS[:-1]), "missing COURSE_INSTANCE_ID"),
        ([*JISC_COLUMNS, "EXTRA"], "17 columns"),
        ([*JISC_COLUMNS[:-1], "STUDENT_ID"], "missing COURSE_INSTANCE_ID"),
        (["Student ID", "Event ID", "Event Start", "Mark"], "missing STUDENT_ID"),
        (["tap_time", "card_number", "reader_id", "room"], "missing STUDENT_ID"),
        ([], "missing STUDENT_ID"),
    ],
)
def test_other_files_are_not_jisc_attendance(header, detail):
    with pytest.raises(NotThisFormat, match=f"not a Jisc attendance file \\({detail}"):
        JiscAttendance(Options()).start(CsvRecord(1, "", header))


# ---------------------------------------------------------------- the mark


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "present"),
        ({"EVENT_ATTENDED": "true"}, "present"),
        ({"EVENT_ATTENDED": "Y", "ATTENDANCE_CATEGORY": "P"}, "present"),
        ({"ATTENDANCE_LATE": "1"}, "late"),
        ({"ATTENDANCE_LATE": "TRUE"}, "late"),
        ({"ATTENDANCE_CATEGORY": "l"}, "late"),
        ({"ATTENDANCE_LATE": ""}, "present"),
        ({"EVENT_ATTENDED": "0"}, "absent"),
        ({"EVENT_ATTENDED": "no", "ATTENDANCE_CATEGORY": "U"}, "absent"),
        ({"EVENT_ATTENDED": "0", "ATTENDANCE_CATEGORY": "AA"}, "authorised_absence"),
        ({"EVENT_ATTENDED": "0", "ATTENDANCE_CATEGORY": "Authorised Absence"}, "authorised_absence"),
        ({"EVENT_ATTENDED": "0", "ATTENDANCE_CATEGORY": "EC"}, "authorised_absence"),
        ({"EVENT_ATTENDED": "", "ATTENDANCE_CATEGORY": "Sick"}, "authorised_absence"),
        ({"EVENT_ATTENDED": "", "ATTENDANCE_CATEGORY": "A"}, "absent"),
        ({"EVENT_ATTENDED": "", "ATTENDANCE_CATEGORY": "L"}, "late"),
        ({"EVENT_ATTENDED": "", "ATTENDANCE_LATE": "1"}, "late"),
        ({"EVENT_MANDATORY": "0"}, "present"),
        ({"EVENT_MANDATORY": ""}, "present"),
    ],
)
def test_flags_and_categories_make_the_mark(overrides, expected):
    assert status(**overrides) == expected


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"EVENT_ATTENDED": "", "ATTENDANCE_LATE": "0"}, "Skip: not marked yet"),
        ({"EVENT_ATTENDED": " ", "ATTENDANCE_LATE": ""}, "Skip: not marked yet"),
        ({"ATTENDANCE_CATEGORY": "Cancelled"}, "Skip: session cancelled or not required"),
        ({"EVENT_ATTENDED": "0", "ATTENDANCE_CATEGORY": "NR"}, "Skip: session cancelled or not required"),
        ({"EVENT_ATTENDED": "0", "EVENT_MANDATORY": "0"}, "Skip: absent from an optional event"),
        ({"EVENT_ATTENDED": "0", "EVENT_MANDATORY": "N", "ATTENDANCE_CATEGORY": "AA"}, "Skip: absent from an optional event"),
    ],
)
def test_rows_without_a_mark_to_count_are_skipped(overrides, reason):
    assert status(**overrides) == reason


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"EVENT_ATTENDED": "yes please"}, "EVENT_ATTENDED 'yes please' is not 1 or 0"),
        ({"ATTENDANCE_LATE": "2"}, "ATTENDANCE_LATE '2' is not 1 or 0"),
        ({"EVENT_MANDATORY": "maybe"}, "EVENT_MANDATORY 'maybe' is not 1 or 0"),
        ({"ATTENDANCE_CATEGORY": "Z9"}, "ATTENDANCE_CATEGORY 'Z9' is not a known attendance code"),
        ({"ATTENDANCE_CATEGORY": "A"}, "EVENT_ATTENDED is 1 but ATTENDANCE_CATEGORY is an absence"),
        ({"EVENT_ATTENDED": "0", "ATTENDANCE_LATE": "1"}, "ATTENDANCE_LATE is 1 but EVENT_ATTENDED is 0"),
        ({"EVENT_ATTENDED": "0", "ATTENDANCE_CATEGORY": "L"}, "EVENT_ATTENDED is 0 but ATTENDANCE_CATEGORY is attendance"),
        ({"EVENT_ATTENDED": "", "ATTENDANCE_CATEGORY": "AA", "ATTENDANCE_LATE": "1"}, "ATTENDANCE_LATE is 1 but EVENT_ATTENDED is 0"),
        ({"STUDENT_ID": ""}, "STUDENT_ID is empty"),
        ({"EVENT_ID": "CE101 LEC"}, "EVENT_ID 'CE101 LEC' has spaces or control characters"),
        ({"START_TIME": ""}, "START_TIME is empty"),
        ({"START_TIME": "2026-10-05"}, "START_TIME '2026-10-05' is not a date and time"),
        ({"START_TIME": "1970-01-01T00:00:00Z"}, "START_TIME '1970-01-01T00:00:00Z' is not a plausible time (2000-2099)"),
    ],
)
def test_bad_rows_are_rejected_naming_the_field(overrides, reason):
    outcome = parse(row(**overrides))
    assert isinstance(outcome, Reject) and outcome.reason.startswith(reason)


def test_a_row_of_another_width_is_rejected():
    assert parse(row()[:15]) == Reject("15 fields where the header has 16")


@pytest.mark.parametrize(
    ("start", "expected"),
    [("2026-10-05T09:00:00", MON_9), ("2026-10-05T08:00:00Z", MON_9), ("2026-10-05T10:00:00+02:00", MON_9),
     ("2026-10-05 09:00", MON_9), ("2026-10-05T09:00:00.000", MON_9)],
)  # fmt: skip
def test_start_time_with_or_without_an_offset_is_the_event_time(start, expected):
    assert parse(row(START_TIME=start)).record["event_time"] == expected


def test_the_course_is_the_module_instance_else_the_course_instance():
    assert parse(row()).record["course"] == "CE101-4-AU-2026"
    assert parse(row(MOD_INSTANCE_ID=" ")).record["course"] == "G400-2026"
    assert parse(row(MOD_INSTANCE_ID="", COURSE_INSTANCE_ID="")).record["course"] is None


def test_a_later_attended_mark_amends_the_absence_and_late_is_the_same_event_as_present():
    absent = parse(row(EVENT_ATTENDED="0")).record
    present, late = parse(row()).record, parse(row(ATTENDANCE_LATE="1")).record
    assert absent["amends"] is None and present["amends"] == late["amends"] == absent["event_id"]
    assert present["event_id"] == late["event_id"] == ids("CE101-LEC-20261005-0900", "2300001", PRESENT, "essex")
    assert parse(row(EVENT_ATTENDED="0", ATTENDANCE_CATEGORY="AA")).record["amends"] == absent["event_id"]
    assert parse(row(STUDENT_ID="2300002")).record["event_id"] != present["event_id"]
    assert parse(row(EVENT_NAME="renamed", STAFF_ID="x")).record["event_id"] == present["event_id"]


# ---------------------------------------------------------------- fuzzing


@settings(max_examples=300)
@given(half_real(row()) | half_real(row(EVENT_ATTENDED="0", ATTENDANCE_CATEGORY="AA", EVENT_MANDATORY="0")) | st.lists(NOISE, max_size=18))
def test_jisc_rows_never_raise(fields):
    decided(parse(fields))
