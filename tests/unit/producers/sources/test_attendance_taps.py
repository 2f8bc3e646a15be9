"""Card taps joined to the timetable (``producers.sources.attendance_taps``): presence, skips, absences at the end."""

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
from producers.readers import ExportError
from producers.sources import NotThisFormat, Options
from producers.sources.attendance_taps import (
    AttendanceTaps, Tap, TimetableRow, parse_tap_row, parse_timetable_row, room_key,
)  # fmt: skip
from tests.unit.producers.test_fuzz import NOISE, decided, half_real

LONDON = ZoneInfo("Europe/London")
FIXTURES = Path(__file__).parents[3] / "fixtures" / "sources"
TAPS = FIXTURES / "attendance-taps" / "count_me_in_taps.csv"
TIMETABLE = FIXTURES / "attendance-taps" / "timetable.csv"
HEADER = ["tap_time", "card_number", "reader_id", "room"]
TIMETABLE_HEADER = "session_id,room,start,end,course,card_number\n"


def utc_ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp() * 1000)


def ids(session: str, card: str, status: str, site: str = "attendance-taps") -> str:
    return event_id(mark_reference("attendance-taps", site, session, card, status))


def read(path: Path = TAPS, timetable: Path = TIMETABLE, fmt: str = "attendance-taps", **options) -> list[tuple[str, object]]:
    with open_export(path, fmt, Options(tz=LONDON, timetable=timetable, **options)) as export:
        return [(record.position, outcome) for record, outcome in export.outcomes()]


def summary(outcome) -> tuple:
    if isinstance(outcome, Event):
        r = outcome.record
        return (r["student_id"], r["attendance_status"], r["object_ref"], r["course"], r["source_ref"])
    return (type(outcome).__name__, outcome.reason)


# ---------------------------------------------------------------- the fixture, exactly


def test_the_fixture_gives_exactly_these_outcomes():
    got = [(position, summary(outcome)) for position, outcome in read()]
    assert got == [
        ("line 2", ("Skip", "no session at this room and time")),  # 15 min 1 s before the start
        ("line 3", ("0041822913", "present", "session:CE101-LEC-W2-MON", "CE101", "count_me_in_taps.csv:3")),
        ("line 4", ("0041822914", "present", "session:CE101-LEC-W2-MON", "CE101", "count_me_in_taps.csv:4")),  # room "5n.7.16"
        ("line 5", ("Skip", "already recorded for this session")),
        ("line 6", ("0041822916", "present", "session:CE101-LEC-W2-MON", "CE101", "count_me_in_taps.csv:6")),
        ("line 7", ("Skip", "not expected at this session")),
        ("line 8", ("Reject", "card_number is empty")),
        ("line 9", ("Reject", "tap_time '15/13/2026 09:14:48' is not a date and time (YYYY-MM-DD HH:MM[:SS], ISO 8601 or DD/MM/YYYY HH:MM)")),
        ("line 10", ("0041822915", "present", "session:CE101-LEC-W2-MON", "CE101", "count_me_in_taps.csv:10")),  # exactly +15 min
        ("line 11", ("0041822917", "present", "session:CE204-LAB-W2-MON", "CE204", "count_me_in_taps.csv:11")),  # ISO with offset
        ("line 12", ("0041822913", "present", "session:CE204-LAB-W2-MON", "CE204", "count_me_in_taps.csv:12")),
        ("line 13", ("Skip", "no session at this room and time")),  # 20 min after the start
        ("line 14", ("Skip", "no session at this room and time")),
        ("line 15", ("Reject", "3 fields where the header has 4")),
        ("line 16", ("0041822921", "present", "session:CE152-LEC-W2-MON", "CE152", "count_me_in_taps.csv:16")),
        # derived at the end: the same tap at the simultaneous joint session, the bad timetable rows, the absences
        ("line 6", ("0041822916", "present", "session:CS101-LEC-W2-MON", "CS101", "count_me_in_taps.csv:6")),
        ("timetable.csv line 13", ("Reject", "session_id 'CE101-LEC-W2-MON' has another room, start or course on line 2")),
        ("timetable.csv line 14", ("Reject", "room is empty")),
        ("timetable.csv line 15", ("Reject", "card_number is empty")),
        ("timetable.csv line 2", ("0041822912", "absent", "session:CE101-LEC-W2-MON", "CE101", "timetable.csv:2")),
        ("timetable.csv line 8", ("0041822911", "absent", "session:CS101-LEC-W2-MON", "CS101", "timetable.csv:8")),
        ("timetable.csv line 12", ("0041822918", "absent", "session:CE204-LAB-W2-MON", "CE204", "timetable.csv:12")),
        # no absences for MA114 (nobody tapped at it) nor CE152 (its window was still open at the last tap)
    ]


def test_fixture_events_carry_the_session_start_identity_and_ids():
    events = {(o.record["object_ref"], o.record["student_id"]): o for _, o in read() if isinstance(o, Event)}
    tap = events[("session:CE101-LEC-W2-MON", "0041822913")]
    assert tap.identity == "card_number"
    assert tap.record["event_time"] == utc_ms(2026, 10, 5, 8, 0)  # 09:00 in London (BST) is the session start
    assert tap.record["source"] == "attendance" and tap.record["action"] == "card_tap"
    assert tap.record["event_id"] == ids("CE101-LEC-W2-MON", "0041822913", PRESENT)
    assert tap.record["amends"] == ids("CE101-LEC-W2-MON", "0041822913", ABSENT)
    absence = events[("session:CE204-LAB-W2-MON", "0041822918")]
    assert absence.record["event_id"] == ids("CE204-LAB-W2-MON", "0041822918", ABSENT) and absence.record["amends"] is None
    assert absence.record["action"] == "no_card_tap" and absence.record["event_time"] == utc_ms(2026, 10, 5, 10, 0)


def test_ids_are_stable_and_depend_on_the_site():
    first, again = read(), read()
    assert first == again
    kent = read(site="kent")
    first_ids = {o.record["event_id"] for _, o in first if isinstance(o, Event)}
    kent_ids = {o.record["event_id"] for _, o in kent if isinstance(o, Event)}
    assert len(first_ids) == 11 and not first_ids & kent_ids
    assert ids("CE101-LEC-W2-MON", "0041822913", PRESENT, "kent") in kent_ids


def test_auto_detection_picks_taps_only_with_their_header(tmp_path):
    with open_export(TAPS, "auto", Options(timetable=TIMETABLE)) as export:
        assert export.format == "attendance-taps"
    with open_export(FIXTURES / "moodle" / "logs_report.csv", "auto", Options(timetable=TIMETABLE)) as export:
        assert export.format == "moodle"


# ---------------------------------------------------------------- starting: header and timetable


def _adapter(timetable: Path | None, header: list[str] = HEADER, **options) -> AttendanceTaps:
    adapter = AttendanceTaps(Options(tz=LONDON, timetable=timetable, **options), "taps.csv")
    assert adapter.start(CsvRecord(1, ",".join(header), header)) is True
    return adapter


@pytest.mark.parametrize(
    "header",
    [["\ufeffTap_Time", "Card_Number", "Reader_ID", "Room"], ["room", "tap_time", "card_number"], [*HEADER, "building"]],
)
def test_the_taps_header_is_matched_ignoring_case_order_and_extra_columns(header):
    adapter = _adapter(TIMETABLE, header)
    fields = {"tap_time": "2026-10-05 08:50", "card_number": "0041822913", "room": "5N.7.16"}
    row = [fields.get(name.lstrip("\ufeff").lower(), "x") for name in header]
    assert summary(adapter.parse(CsvRecord(2, "", row)))[:2] == ("0041822913", "present")


@pytest.mark.parametrize(
    "header",
    [["tap_time", "card_number", "reader_id"], ["Time", "User", "Where"], ["STUDENT_ID", "EVENT_ID"], ["event_id", "student_id"], []],
)
def test_other_files_are_not_taps(header):
    with pytest.raises(NotThisFormat, match="not a card-taps export"):
        AttendanceTaps(Options(timetable=TIMETABLE)).start(CsvRecord(1, "", header))


def test_without_a_timetable_taps_do_not_start():
    with pytest.raises(NotThisFormat, match="card taps need --timetable"):
        AttendanceTaps(Options()).start(CsvRecord(1, "", HEADER))
    with pytest.raises(ExportError, match="card taps need --timetable"):
        read(timetable=None)


def test_a_timetable_that_cannot_be_read_stops_with_one_line_naming_it(tmp_path):
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(NotThisFormat, match=r"timetable .*nowhere\.csv: No such file"):
        _adapter(missing)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("module,room,day\nCE101,5N.7.16,Mon\n")
    with pytest.raises(NotThisFormat, match=r"wrong\.csv: not a timetable: no session_id, start, card_number column"):
        _adapter(wrong)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(NotThisFormat, match="empty.csv: is empty"):
        _adapter(empty)


def write_timetable(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "timetable.csv"
    path.write_text(TIMETABLE_HEADER + rows)
    return path


def tap(adapter: AttendanceTaps, line: int, when: str, card: str, room: str = "5N.7.16"):
    return adapter.parse(CsvRecord(line, "", [when, card, "R1", room]))


# ---------------------------------------------------------------- the rules, one by one


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-10-05 08:45:00", "present"),  # the window opens 15 minutes before the start
        ("2026-10-05 08:44:59", "no session at this room and time"),
        ("2026-10-05 09:15:00", "present"),  # and closes 15 minutes after it
        ("2026-10-05 09:15:01", "no session at this room and time"),
        ("2026-10-05T08:10:00+00:00", "present"),  # an offset: 09:10 in London
        ("05/10/2026 09:05", "present"),
    ],
)
def test_the_tap_window_is_fifteen_minutes_either_side_of_the_start(tmp_path, when, expected):
    adapter = _adapter(write_timetable(tmp_path, "S1,5N.7.16,2026-10-05 09:00,2026-10-05 10:00,CE101,C1\n"))
    outcome = tap(adapter, 2, when, "C1")
    assert (outcome.record["attendance_status"] if isinstance(outcome, Event) else outcome.reason) == expected


def test_rooms_are_compared_ignoring_case_and_spacing():
    assert room_key("  LTB   6 ") == room_key("ltb 6")


def test_a_tap_in_another_room_or_by_a_stranger_is_skipped(tmp_path):
    adapter = _adapter(write_timetable(tmp_path, "S1,5N.7.16,2026-10-05 09:00,,CE101,C1\n"))
    assert tap(adapter, 2, "2026-10-05 09:00", "C1", "5N.7.17") == Skip("no session at this room and time")
    assert tap(adapter, 3, "2026-10-05 09:00", "C2") == Skip("not expected at this session")


def test_a_second_tap_for_one_session_is_skipped_and_a_tap_for_the_next_session_counts(tmp_path):
    adapter = _adapter(write_timetable(tmp_path, "S1,5N.7.16,2026-10-05 09:00,,CE101,C1\nS2,5N.7.16,2026-10-05 09:20,,CE102,C1\n"))
    assert tap(adapter, 2, "2026-10-05 08:55", "C1").record["object_ref"] == "session:S1"
    assert tap(adapter, 3, "2026-10-05 08:56", "C1") == Skip("already recorded for this session")
    # 09:10 is in both windows: S1 is recorded already, so the tap is S2's
    assert tap(adapter, 4, "2026-10-05 09:10", "C1").record["object_ref"] == "session:S2"
    assert tap(adapter, 5, "2026-10-05 09:12", "C1") == Skip("already recorded for this session")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (["2026-10-05 09:00", "C1", "R1"], "3 fields where the header has 4"),
        (["", "C1", "R1", "5N.7.16"], "tap_time is empty"),
        (["1999-10-05 09:00", "C1", "R1", "5N.7.16"], "tap_time '1999-10-05 09:00' is not a plausible time (2000-2099)"),
        (["2026-10-05", "C1", "R1", "5N.7.16"], "tap_time '2026-10-05' is not a date and time"),
        (["2026-10-05 09:00", " ", "R1", "5N.7.16"], "card_number is empty"),
        (["2026-10-05 09:00", "12 34", "R1", "5N.7.16"], "card_number '12 34' has spaces or control characters"),
        (["2026-10-05 09:00", "C1", "R1", "  "], "room is empty"),
    ],
)
def test_bad_taps_are_rejected_naming_the_field(fields, reason):
    columns = {"tap_time": 0, "card_number": 1, "reader_id": 2, "room": 3}
    outcome = parse_tap_row(columns, 4, fields, tz=LONDON)
    assert isinstance(outcome, Reject) and outcome.reason.startswith(reason)


def test_a_good_tap_is_read():
    columns = {"tap_time": 0, "card_number": 1, "room": 2}
    assert parse_tap_row(columns, 3, ["2026-10-05 09:00", " 0041 ", " 5N.7.16 "], tz=LONDON) == Tap(utc_ms(2026, 10, 5, 8), "0041", "5n.7.16")


def test_timetable_rows_are_read_or_rejected_naming_the_field():
    columns = {"session_id": 0, "room": 1, "start": 2, "card_number": 3, "course": 4}
    row = parse_timetable_row(columns, 5, ["S1", "5N.7.16", "2026-10-05 09:00", "C1", " CE101 "], tz=LONDON)
    assert row == TimetableRow("S1", "5n.7.16", utc_ms(2026, 10, 5, 8), "CE101", "C1")
    assert parse_timetable_row(columns, 5, ["S1", "5N.7.16", "Monday 9am", "C1", ""], tz=LONDON).reason.startswith("start 'Monday 9am'")
    assert parse_timetable_row(columns, 5, ["", "5N.7.16", "2026-10-05 09:00", "C1", ""], tz=LONDON) == Reject("session_id is empty")
    assert parse_timetable_row(columns, 5, ["S1"], tz=LONDON) == Reject("1 fields where the header has 5")


def test_an_unreadable_timetable_line_is_rejected_with_its_position_and_the_rest_is_used(tmp_path):
    path = write_timetable(tmp_path, 'S1,5N.7.16,2026-10-05 09:00,,CE101,C1\nS1,"5N.7.16,2026-10-05 09:00,,CE101,C2\n')
    adapter = _adapter(path)
    assert tap(adapter, 2, "2026-10-05 09:00", "C1").record["attendance_status"] == "present"
    derived = list(adapter.finish())
    assert [(record.position, type(outcome).__name__) for record, outcome in derived] == [("timetable.csv line 3", "Reject")]
    assert derived[0][1].reason.startswith("unreadable CSV")


# ---------------------------------------------------------------- absences


def test_absences_only_for_sessions_the_file_covers(tmp_path):
    path = write_timetable(
        tmp_path,
        "S1,5N.7.16,2026-10-05 09:00,,CE101,C1\n"
        "S1,5N.7.16,2026-10-05 09:00,,CE101,C2\n"
        "S2,4S.2.3,2026-10-05 09:00,,CE102,C3\n"  # nobody tapped here: no absences
        "S3,5N.7.16,2026-10-05 11:00,,CE103,C1\n"  # the window is still open at the last tap
        "S3,5N.7.16,2026-10-05 11:00,,CE103,C2\n",
    )
    adapter = _adapter(path)
    assert tap(adapter, 2, "2026-10-05 08:50", "C1").record["attendance_status"] == "present"
    assert tap(adapter, 3, "2026-10-05 10:50", "C1").record["object_ref"] == "session:S3"
    derived = [(record.position, summary(outcome)) for record, outcome in adapter.finish()]
    assert derived == [("timetable.csv line 3", ("C2", "absent", "session:S1", "CE101", "timetable.csv:3"))]


def test_a_window_closing_exactly_at_the_last_tap_is_not_covered_yet(tmp_path):
    adapter = _adapter(write_timetable(tmp_path, "S1,5N.7.16,2026-10-05 09:00,,CE101,C1\nS1,5N.7.16,2026-10-05 09:00,,CE101,C2\n"))
    tap(adapter, 2, "2026-10-05 09:15:00", "C1")
    assert list(adapter.finish()) == []
    tap(adapter, 3, "2026-10-05 09:15:01", "C9")  # a later tap anywhere closes it
    assert [summary(o)[:2] for _, o in adapter.finish()] == [("C2", "absent")]


def test_a_file_of_only_rejected_taps_derives_no_absences(tmp_path):
    adapter = _adapter(write_timetable(tmp_path, "S1,5N.7.16,2026-10-05 09:00,,CE101,C1\n"))
    assert isinstance(tap(adapter, 2, "not a time", "C1"), Reject)
    assert list(adapter.finish()) == []


def test_a_tap_read_in_a_later_file_replaces_the_absence_published_earlier(tmp_path):
    path = write_timetable(tmp_path, "S1,5N.7.16,2026-10-05 09:00,,CE101,C1\nS1,5N.7.16,2026-10-05 09:00,,CE101,C2\n")
    morning = _adapter(path)
    tap(morning, 2, "2026-10-05 08:50", "C1")
    tap(morning, 3, "2026-10-05 09:30", "C9", "LTB 6")
    [(_, absence)] = list(morning.finish())
    # the afternoon file holds C2's tap, late off the reader's queue
    afternoon = _adapter(path)
    presence = tap(afternoon, 2, "2026-10-05 09:14", "C2")
    assert presence.record["amends"] == absence.record["event_id"] and presence.record["student_id"] == "C2"
    # and a later file finding C1 absent gives the id C1's presence already amends
    later = _adapter(path)
    tap(later, 2, "2026-10-05 09:10", "C2")
    tap(later, 3, "2026-10-05 12:00", "C9", "LTB 6")
    [(_, c1_absent)] = list(later.finish())
    assert c1_absent.record["event_id"] == ids("S1", "C1", ABSENT)


# ---------------------------------------------------------------- fuzzing


@pytest.fixture(scope="module")
def fuzz_timetable(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("taps") / "timetable.csv"
    path.write_text(TIMETABLE_HEADER + "S1,5N.7.16,2026-10-05 09:00,,CE101,0041822913\nS2,5N.7.16,2026-10-05 09:10,,CE102,0041822913\n")
    return path


REAL_TAP = ["2026-10-05 09:01:12", "0041822913", "CMI-5N716-01", "5N.7.16"]


@settings(max_examples=300)
@given(rows=st.lists(half_real(REAL_TAP) | st.lists(NOISE, max_size=6), min_size=1, max_size=6))
def test_taps_never_raise_whatever_the_rows(fuzz_timetable, rows):
    adapter = _adapter(fuzz_timetable)
    for line, fields in enumerate(rows, start=2):
        decided(adapter.parse(CsvRecord(line, "", fields)))
    for record, outcome in adapter.finish():
        decided(outcome)
        assert record.position


@settings(max_examples=300)
@given(half_real(["S1", "5N.7.16", "2026-10-05 09:00", "2026-10-05 10:00", "CE101", "0041822913"]) | st.lists(NOISE, max_size=8))
def test_timetable_rows_never_raise(fields):
    columns = {"session_id": 0, "room": 1, "start": 2, "end": 3, "course": 4, "card_number": 5}
    outcome = parse_timetable_row(columns, 6, fields, tz=LONDON)
    assert isinstance(outcome, (TimetableRow, Reject))
    if isinstance(outcome, Reject):
        assert outcome.reason.strip()
