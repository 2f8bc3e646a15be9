"""Register exports (``producers.sources.attendance_register``): marks to attendance events."""

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
from producers.sources.attendance_register import AttendanceRegister, parse_register_row, register_columns
from tests.unit.producers.test_fuzz import NOISE, decided, half_real

LONDON = ZoneInfo("Europe/London")
FOLDER = Path(__file__).parents[3] / "fixtures" / "sources" / "attendance-register"
HEADER = ["Student ID", "Forename", "Surname", "Module Code", "Module Title", "Event ID", "Event Type",
          "Event Start", "Event End", "Location", "Mark", "Marked By"]  # fmt: skip
COLUMNS = register_columns(HEADER)


def utc_ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp() * 1000)


def ids(session: str, student: str, status: str, site: str = "attendance-register") -> str:
    return event_id(mark_reference("attendance-register", site, session, student, status))


def row(**overrides: str) -> list[str]:
    values = dict(zip(HEADER, ["2300001", "Amira", "Khan", "CE101-4-AU", "Intro", "EV-1", "Lecture",
                               "05/10/2026 09:00", "05/10/2026 10:00", "5N.7.16", "Present", "Card reader"]))  # fmt: skip
    values.update({key.replace("_", " "): value for key, value in overrides.items()})
    return [values[name] for name in HEADER]


def parse(fields: list[str], site: str = "essex"):
    return parse_register_row(COLUMNS, len(HEADER), fields, site=site, tz=LONDON, position="r.csv:2")


def read(name: str, **options) -> list[tuple[str, object]]:
    with open_export(FOLDER / name, "attendance-register", Options(tz=LONDON, **options)) as export:
        return [(record.position, outcome) for record, outcome in export.outcomes()]


def summary(outcome) -> tuple:
    if isinstance(outcome, Event):
        r = outcome.record
        return (r["student_id"], r["attendance_status"], r["object_ref"], r["course"], r["event_time"])
    return (type(outcome).__name__, outcome.reason)


MON_9 = utc_ms(2026, 10, 5, 8)  # 09:00 in London (BST)
MON_11 = utc_ms(2026, 10, 5, 10)
TUE_14 = utc_ms(2026, 10, 6, 13)


def test_the_fixture_gives_exactly_these_outcomes():
    got = [(position, summary(outcome)) for position, outcome in read("seats_register.csv")]
    assert got == [
        ("line 2", ("2300001", "present", "session:EV-2026-004417", "CE101-4-AU", MON_9)),
        ("line 3", ("2300002", "late", "session:EV-2026-004417", "CE101-4-AU", MON_9)),
        ("line 4", ("2300003", "absent", "session:EV-2026-004417", "CE101-4-AU", MON_9)),
        ("line 5", ("2300004", "authorised_absence", "session:EV-2026-004417", "CE101-4-AU", MON_9)),
        ("line 6", ("Skip", "not marked yet")),
        ("line 7", ("2300001", "present", "session:EV-2026-004523", "CE204-5-AU", MON_11)),
        ("line 8", ("2300002", "late", "session:EV-2026-004523", "CE204-5-AU", MON_11)),
        ("line 9", ("2300003", "absent", "session:EV-2026-004523", "CE204-5-AU", MON_11)),
        ("line 10", ("2300004", "authorised_absence", "session:EV-2026-004523", "CE204-5-AU", MON_11)),
        ("line 11", ("2300006", "authorised_absence", "session:EV-2026-004523", "CE204-5-AU", MON_11)),
        ("line 12", ("Skip", "session cancelled or not required")),
        ("line 13", ("Reject", "Mark 'Q' is not a known attendance mark")),
        ("line 14", ("Reject", "Event Start '31/09/2026 14:00' is not a date and time (YYYY-MM-DD HH:MM[:SS], ISO 8601 or DD/MM/YYYY HH:MM)")),
        ("line 15", ("Reject", "Student ID is empty")),
        ("line 16", ("Reject", "10 fields where the header has 12")),
        ("line 17", ("2300006", "absent", "session:EV-2026-004611", "CE152-4-AU", TUE_14)),
    ]


def test_fixture_events_are_attendance_by_student_id_with_the_row_as_reference():
    [(_, first)] = [(p, o) for p, o in read("seats_register.csv") if p == "line 2"]
    assert first.identity == "student_id"
    assert first.record["source"] == "attendance" and first.record["action"] == "session_marked"
    assert first.record["source_ref"] == "seats_register.csv:2"
    assert first.record["event_id"] == ids("EV-2026-004417", "2300001", PRESENT)
    assert first.record["amends"] == ids("EV-2026-004417", "2300001", ABSENT)


def test_a_re_export_repeats_unchanged_marks_and_replaces_changed_absences():
    before = {o.record["student_id"]: o.record for _, o in read("seats_register.csv")[:5] if isinstance(o, Event)}
    after = {o.record["student_id"]: o.record for _, o in read("seats_register_reexport.csv") if isinstance(o, Event)}
    assert after["2300001"]["event_id"] == before["2300001"]["event_id"]  # unchanged: the same event
    assert after["2300002"]["event_id"] == before["2300002"]["event_id"]  # late -> present: the same effect, one event
    assert after["2300003"]["amends"] == before["2300003"]["event_id"]  # absent -> present after a challenge
    assert after["2300003"]["attendance_status"] == "present"
    assert after["2300004"]["event_id"] == before["2300004"]["event_id"]
    assert after["2300005"]["attendance_status"] == "authorised_absence"  # was not marked; now extenuating circumstances


def test_ids_are_stable_and_depend_on_the_site():
    assert read("seats_register.csv") == read("seats_register.csv")
    essex = {o.record["event_id"] for _, o in read("seats_register.csv") if isinstance(o, Event)}
    kent = {o.record["event_id"] for _, o in read("seats_register.csv", site="kent") if isinstance(o, Event)}
    assert len(essex) == len(kent) == 10 and not essex & kent
    assert ids("EV-2026-004417", "2300001", PRESENT, "kent") in kent


def test_auto_detection_picks_the_register():
    for name in ("seats_register.csv", "seats_register_reexport.csv"):
        with open_export(FOLDER / name, "auto", Options()) as export:
            assert export.format == "attendance-register"


# ---------------------------------------------------------------- header


@pytest.mark.parametrize(
    "header",
    [
        ["\ufeffSTUDENT ID", "event id", "Event  Start", "Mark"],
        ["Event ID", "Student ID", "Module", "Event Start", "Attendance Mark"],
        ["Student ID", "Event ID", "Event Start", "Attendance Status", "Room"],
    ],
)
def test_the_header_is_matched_ignoring_case_spacing_order_and_other_columns(header):
    adapter = AttendanceRegister(Options(tz=LONDON), "r.csv")
    assert adapter.start(CsvRecord(1, "", header)) is True
    values = {"student id": "2300001", "event id": "EV-1", "event start": "2026-10-05 09:00", "module": "CE101"}
    fields = [values.get(" ".join(name.lstrip("\ufeff").split()).lower(), "L") for name in header]
    outcome = adapter.parse(CsvRecord(2, "", fields))
    assert summary(outcome)[:2] == ("2300001", "late")
    assert outcome.record["course"] == ("CE101" if "Module" in header else None)


@pytest.mark.parametrize(
    "header",
    [
        ["Student ID", "Event ID", "Event Start"],  # no mark
        ["STUDENT_ID", "EVENT_ID", "START_TIME", "EVENT_ATTENDED"],  # Jisc
        ["tap_time", "card_number", "reader_id", "room"],
        ["event_id", "student_id", "source", "action", "event_time"],
        [],
    ],
)
def test_other_files_are_not_registers(header):
    with pytest.raises(NotThisFormat, match="not an attendance register export"):
        AttendanceRegister(Options()).start(CsvRecord(1, "", header))


# ---------------------------------------------------------------- marks and rules


@pytest.mark.parametrize(
    ("mark", "status"),
    [
        ("P", "present"), ("Present", "present"), ("attended", "present"), ("Online", "present"),
        ("L", "late"), ("LATE", "late"),
        ("A", "absent"), ("Absent", "absent"), ("Unexplained", "absent"), ("U", "absent"), ("Unauthorised Absence", "absent"),
        ("AA", "authorised_absence"), ("Authorised", "authorised_absence"), ("authorized absence", "authorised_absence"),
        ("Explained", "authorised_absence"), ("E", "authorised_absence"), ("Sick", "authorised_absence"),
        ("EC", "authorised_absence"), (" Excused ", "authorised_absence"),
    ],
)  # fmt: skip
def test_marks_map_to_attendance_statuses(mark, status):
    assert parse(row(Mark=mark)).record["attendance_status"] == status


@pytest.mark.parametrize(("mark", "reason"), [("", "not marked yet"), ("  ", "not marked yet"), ("Cancelled", "session cancelled or not required"),
                                              ("NR", "session cancelled or not required"), ("Not Required", "session cancelled or not required"),
                                              ("N/A", "session cancelled or not required"), ("exempt", "session cancelled or not required")])  # fmt: skip
def test_rows_without_a_mark_to_count_are_skipped(mark, reason):
    assert parse(row(Mark=mark)) == Skip(reason)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"Mark": "Present?"}, "Mark 'PRESENT?' is not a known attendance mark"),
        ({"Mark": "7"}, "Mark '7' is not a known attendance mark"),
        ({"Student ID": ""}, "Student ID is empty"),
        ({"Student ID": "23 00001"}, "Student ID '23 00001' has spaces or control characters"),
        ({"Event ID": ""}, "Event ID is empty"),
        ({"Event Start": ""}, "Event Start is empty"),
        ({"Event Start": "05/10/26 09:00"}, "Event Start '05/10/26 09:00' is not a date and time"),
        ({"Event Start": "1999-10-05 09:00"}, "Event Start '1999-10-05 09:00' is not a plausible time (2000-2099)"),
    ],
)
def test_bad_rows_are_rejected_naming_the_field(overrides, reason):
    outcome = parse(row(**{k.replace(" ", "_"): v for k, v in overrides.items()}))
    assert isinstance(outcome, Reject) and outcome.reason.startswith(reason)


def test_a_row_of_another_width_is_rejected():
    assert parse(row()[:-1]) == Reject("11 fields where the header has 12")
    assert parse([*row(), "extra"]) == Reject("13 fields where the header has 12")


def test_event_start_in_every_shape_is_the_event_time():
    for start in ("05/10/2026 09:00", "2026-10-05 09:00:00", "2026-10-05T09:00:00+01:00", "2026-10-05T08:00:00Z"):
        assert parse(row(Event_Start=start)).record["event_time"] == MON_9


def test_an_absent_mark_amends_nothing_and_other_marks_amend_it():
    absent = parse(row(Mark="A")).record
    assert absent["amends"] is None and absent["event_id"] == ids("EV-1", "2300001", ABSENT, "essex")
    for mark in ("P", "L", "AA"):
        assert parse(row(Mark=mark)).record["amends"] == absent["event_id"]
    assert parse(row(Mark="P")).record["event_id"] == parse(row(Mark="L")).record["event_id"]


def test_the_event_id_names_the_session_and_student():
    base = parse(row()).record["event_id"]
    assert parse(row(Student_ID="2300002")).record["event_id"] != base
    assert parse(row(Event_ID="EV-2")).record["event_id"] != base
    assert parse(row(Forename="Amy", Location="LTB 6")).record["event_id"] == base  # other columns are not the record's identity


# ---------------------------------------------------------------- fuzzing


@settings(max_examples=300)
@given(half_real(row()) | st.lists(NOISE, max_size=14))
def test_register_rows_never_raise(fields):
    decided(parse(fields))
