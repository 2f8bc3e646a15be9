import pytest

from producers.sources.events import parse_line
from producers.outcome import Event, Reject
from producers.roster import check_header, cohort_of, parse_roster_row

GOOD = '{"event_id": "e1", "student_id": "s1", "source": "lecture_capture", "action": "viewed", "event_time": "2026-11-20T10:00:00+00:00", "quantity": 12}'


def test_a_json_line_becomes_an_event():
    outcome = parse_line(GOOD, position="f:1")
    assert isinstance(outcome, Event)
    assert outcome.record["event_time"] == 1795168800000
    assert outcome.record["quantity"] == 12.0
    assert outcome.record["source_ref"] == "f:1"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{nope", "not JSON"),
        ("[1]", "not a JSON object"),
        (GOOD.replace('"e1"', "1"), "event_id is missing"),
        (GOOD.replace("lecture_capture", "telepathy"), "source 'telepathy'"),
        (GOOD.replace("+00:00", ""), "has no UTC offset"),
        (GOOD.replace('"quantity": 12', '"quantity": "lots"'), "quantity is not a number"),
        (GOOD.replace('"quantity": 12', '"attendance_status": "asleep"'), "attendance_status 'asleep'"),
        (GOOD.replace('"2026-11-20T10:00:00+00:00"', "true"), "boolean"),
    ],
)
def test_bad_json_lines_are_rejected_with_reasons(line, reason):
    outcome = parse_line(line, position="f:1")
    assert isinstance(outcome, Reject) and reason in outcome.reason


def test_event_time_may_be_milliseconds():
    assert parse_line(GOOD.replace('"2026-11-20T10:00:00+00:00"', "1795168800000"), position="x").record["event_time"] == 1795168800000


HEADER = ["student_id", "programme", "year_of_study", "mode_of_study", "personal_tutor_id", "department", "status"]


def test_roster_row_and_cohort():
    entry = parse_roster_row(HEADER, ["2300001", "BSC-CS", "2", "PT", "T1", "CSEE", "Active"])
    assert entry["mode_of_study"] == "part_time" and entry["status"] == "active"
    assert cohort_of(entry) == "BSC-CS/Y2"
    assert cohort_of(None) == "unassigned"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (["", "P", "1", "FT", "", "", "active"], "student_id is empty"),
        (["s", "P", "one", "FT", "", "", "active"], "year_of_study is not a number"),
        (["s", "P", "1", "sometimes", "", "", "active"], "mode_of_study"),
        (["s", "P", "1", "FT", "", "", "asleep"], "status 'asleep'"),
        (["s", "P"], "expected 7 columns"),
    ],
)
def test_bad_roster_rows(fields, reason):
    outcome = parse_roster_row(HEADER, fields)
    assert isinstance(outcome, Reject) and reason in outcome.reason


def test_roster_header_must_name_required_columns():
    with pytest.raises(ValueError, match="lacks mode_of_study"):
        check_header(["student_id", "programme", "year_of_study", "status"])
