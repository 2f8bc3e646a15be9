"""Reading exports: format detection, events CSV, and the one outcome stream both produce and replay use."""

import csv
import json
from zoneinfo import ZoneInfo

import pytest

from producers.sources import moodle
from producers.exports import ExportError, ReadCounts, open_export, read_events
from producers.identities import IdentityMap
from producers.outcome import Event, Reject, Skip
from producers.sources import Options
from producers.sources.events import EVENT_COLUMNS, check_event_header, parse_event_row
from tests.unit.producers.test_moodle import logstore_row, report_row

LONDON = ZoneInfo("Europe/London")
EVENT = {
    "event_id": "e1",
    "student_id": "s1",
    "source": "lecture_capture",
    "action": "viewed",
    "event_time": "2026-11-20T10:00:00+00:00",
    "quantity": 12.5,
}


def write_csv(path, rows):
    with path.open("w", newline="") as out:
        csv.writer(out).writerows(rows)
    return path


def jsonl(path, objects, extra_lines=()):
    path.write_text("".join(json.dumps(o) + "\n" for o in objects) + "".join(extra_lines))
    return path


def kinds(path, fmt="auto", **options):
    with open_export(path, fmt, Options(**options)) as export:
        return export.format, export.label, [(r.line, type(o).__name__) for r, o in export.outcomes()]


# ---------------------------------------------------------------- detection


def test_json_lines_are_detected_and_bad_lines_rejected_with_their_line(tmp_path):
    path = jsonl(tmp_path / "e.txt", [EVENT], ["\n", "not json\n"])
    assert kinds(path) == ("events", "events", [(1, "Event"), (3, "Reject")])


@pytest.mark.parametrize("header", [True, False])
def test_a_logstore_dump_is_detected_with_or_without_header(tmp_path, header):
    rows = ([list(moodle.LOGSTORE_COLUMNS)] if header else []) + [logstore_row(), logstore_row(id="2", userid="0"), logstore_row(id="x")]
    fmt, label, got = kinds(write_csv(tmp_path / "dump.csv", rows))
    first = 2 if header else 1
    assert (fmt, label) == ("moodle", "logstore_standard_log")
    assert got == [(first, "Event"), (first + 1, "Skip"), (first + 2, "Reject")]


def test_a_logs_report_is_detected_and_read_in_the_given_zone(tmp_path):
    path = write_csv(tmp_path / "logs.csv", [list(moodle.REPORT_COLUMNS), report_row()])
    with open_export(path, options=Options(tz=LONDON)) as export:
        (record, outcome), = export.outcomes()
    assert export.label == "logs_report" and isinstance(outcome, Event)
    with open_export(path, options=Options(tz=ZoneInfo("UTC"))) as export:
        (_, utc), = export.outcomes()
    assert utc.record["event_time"] - outcome.record["event_time"] == 3600 * 1000  # 7 Sep: London is UTC+1


def test_events_csv_is_detected_with_nulls_and_numbers(tmp_path):
    path = write_csv(tmp_path / "e.csv", [list(EVENT_COLUMNS), ["e1", "s1", "vle", "v", "1795000000000", "", "", "", "", "", ""]])
    fmt, label, got = kinds(path)
    assert (fmt, label, got) == ("events", "events (CSV)", [(2, "Event")])
    (event,) = read_events([path])
    assert event["event_time"] == 1795000000000 and event["course"] is None and event["source_ref"] == "e.csv:2"


def test_a_file_of_no_known_format_is_an_error_naming_what_was_expected(tmp_path):
    path = write_csv(tmp_path / "x.csv", [["student", "when"], ["1", "2"]])
    with pytest.raises(ExportError) as caught:
        kinds(path)
    message = str(caught.value)
    assert str(path) in message and "not JSON lines" in message and "logstore_standard_log" in message and "event_id" in message


def test_an_explicit_format_is_not_second_guessed(tmp_path):
    path = jsonl(tmp_path / "e.jsonl", [EVENT])
    fmt = "moodle"
    with pytest.raises(ExportError, match="e.jsonl"):
        kinds(path, fmt)


@pytest.mark.parametrize("fmt", ["auto", "moodle", "events"])
def test_an_empty_file_has_nothing_in_it_not_an_error(tmp_path, fmt):
    path = tmp_path / "empty.csv"
    path.write_text("")  # an hourly export of a quiet hour
    assert kinds(path, fmt)[2] == []


def test_unknown_format_names_the_choices(tmp_path):
    with pytest.raises(ExportError, match="moodle"):
        kinds(jsonl(tmp_path / "e.jsonl", [EVENT]), "xml")


# ---------------------------------------------------------------- events CSV


def test_event_header_names_missing_and_unknown_columns():
    with pytest.raises(ValueError, match="missing event_time; unknown quantiy"):
        check_event_header(["event_id", "student_id", "source", "action", "quantiy"])
    assert check_event_header(["\ufeffevent_id", "student_id", "source", "action", "event_time"])[0] == "event_id"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (["e", "s", "vle", "a"], "4 fields where the header has 5"),
        (["e", "s", "vle", "a", "yesterday"], "yesterday"),
        (["e", "s", "gym", "a", "1795000000000"], "source 'gym'"),
        (["e", "", "vle", "a", "1795000000000"], "student_id"),
    ],
)
def test_bad_event_rows_are_rejected_with_the_reason(fields, reason):
    outcome = parse_event_row(EVENT_COLUMNS[:5], fields, position="f:2")
    assert isinstance(outcome, Reject) and reason in outcome.reason


def test_a_quantity_that_is_not_a_number_is_rejected():
    header = (*EVENT_COLUMNS[:5], "quantity")
    assert isinstance(parse_event_row(header, ["e", "s", "lecture_capture", "a", "1795000000000", "lots"], position="p"), Reject)
    ok = parse_event_row(header, ["e", "s", "lecture_capture", "a", "1795000000000", "7.5"], position="p")
    assert isinstance(ok, Event) and ok.record["quantity"] == 7.5


# ---------------------------------------------------------------- reading for replay


def test_read_events_yields_events_and_none_for_rejects_and_counts_skips_by_reason(tmp_path):
    dump = write_csv(tmp_path / "dump.csv", [list(moodle.LOGSTORE_COLUMNS), logstore_row(), logstore_row(id="2", userid="0"), logstore_row(id="3", ip="nope")])
    events = jsonl(tmp_path / "e.jsonl", [EVENT], ["{}\n"])
    counts = ReadCounts()
    known = IdentityMap({"moodle_user_id:1046": "2300001"})
    got = list(read_events([dump, events], counts=counts, options=Options(site="essex"), identities=known))
    assert [e if e is None else e["student_id"] for e in got] == ["2300001", None, "s1", None]
    assert counts.summary() == {"read": 5, "events": 2, "skipped": 1, "rejected": 2}
    assert counts.read == counts.events + counts.skipped + counts.rejected
    assert dict(counts.formats) == {"logstore_standard_log": 1, "events": 1}
    assert sum(counts.rejected_by_reason.values()) == 2 and len(counts.skipped_by_reason) == 1


def test_the_same_moodle_row_gives_the_same_event_whether_produced_or_replayed(tmp_path):
    dump = write_csv(tmp_path / "dump.csv", [logstore_row()])
    (replayed,) = read_events([dump], options=Options(site="essex"), identities=IdentityMap({"moodle_user_id:1046": "2300001"}))
    assert replayed == {**moodle.parse_logstore_row(logstore_row(), site="essex").record, "student_id": "2300001"}


def test_an_event_whose_person_the_map_does_not_know_is_counted_not_scored(tmp_path):
    dump = write_csv(tmp_path / "dump.csv", [logstore_row(), logstore_row(id="2", userid="77")])
    counts = ReadCounts()
    got = list(read_events([dump], counts=counts, identities=IdentityMap({"moodle_user_id:77": "2300077"})))
    assert [e["student_id"] for e in got] == ["2300077"] and counts.unknown == 1 and counts.events == 2


def test_unreadable_bytes_are_a_rejection_not_a_crash(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_bytes(json.dumps(EVENT).encode() + b"\n\xff\xfe{}\n")
    counts = ReadCounts()
    assert [e is None for e in read_events([path], counts=counts)] == [False, True]
    assert "not valid UTF-8 text" in counts.rejected_by_reason


def test_skip_is_counted_not_yielded():
    counts = ReadCounts()
    for outcome in (Skip("teaching"), Skip("teaching"), Reject("bad 'x'"), Reject("bad 'y'")):
        counts.add(outcome)
    assert counts.skipped_by_reason == {"teaching": 2} and counts.rejected_by_reason == {"bad …": 2}


def test_reasons_group_by_kind_not_value():
    from leap.dead_letter import reason_kind

    assert reason_kind("source 'gym' is not one of vle") == "source … is not one of vle"
    assert reason_kind("4 fields where the header has 5") == "… fields where the header has …"
    assert reason_kind("userid -1 is the system") == "userid … is the system"
    assert reason_kind("not valid UTF-8 text") == "not valid UTF-8 text"


# ---------------------------------------------------------------- text encodings


def test_a_windows_logs_report_is_read_with_its_encoding_and_rejected_line_by_line_without(tmp_path):
    rows = [list(moodle.REPORT_COLUMNS), report_row(**{"User full name": "José Müller", "Event context": "Page: Café reading"}), report_row()]
    path = tmp_path / "logs.csv"
    with path.open("w", newline="", encoding="cp1252") as out:
        csv.writer(out).writerows(rows)
    assert kinds(path, encoding="cp1252")[2] == [(2, "Event"), (3, "Event")]
    with open_export(path) as export:  # read as UTF-8: the accented row alone is rejected, naming why
        outcomes = [(r.line, o) for r, o in export.outcomes()]
    assert [type(o).__name__ for _, o in outcomes] == ["Reject", "Event"] and outcomes[0][1].reason == "not valid UTF-8 text"


def test_utf16_with_its_byte_order_mark_is_recognised(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes((json.dumps({**EVENT, "action": "viewed — Ünïcode"}) + "\n").encode("utf-16"))
    fmt, _, got = kinds(path)
    assert fmt == "events" and got == [(1, "Event")]


def test_an_unknown_encoding_is_an_error_naming_it(tmp_path):
    path = jsonl(tmp_path / "e.jsonl", [EVENT])
    with pytest.raises(ExportError, match="unknown encoding 'klingon'"):
        kinds(path, encoding="klingon")


def test_bytes_the_named_encoding_cannot_decode_name_that_encoding(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_bytes(json.dumps(EVENT).encode("ascii") + b"\n\x81{}\n")  # 0x81 is not a cp1252 character
    counts = ReadCounts()
    assert [e is None for e in read_events([path], counts=counts, options=Options(encoding="cp1252"))] == [False, True]
    assert "not valid cp1252 text" in counts.rejected_by_reason


def test_a_superscript_digit_time_is_a_rejection_not_a_crash():
    # Found by the fuzz suite: "²".isdigit() is true, int("²") raises.
    header = list(EVENT_COLUMNS)
    fields = ["e1", "s1", "vle", "viewed", "²"] + [""] * (len(header) - 5)
    outcome = parse_event_row(header, fields, position="e.csv:2")
    assert isinstance(outcome, Reject) and "event_time" in outcome.reason
