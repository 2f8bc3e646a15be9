"""Reading dead letters again through their adapters: what comes out now, or why it cannot."""

from __future__ import annotations

import csv
import io
import json
from zoneinfo import ZoneInfo

from producers.dead_letter_replay import as_record, reread
from producers.outcome import Event, Reject
from producers.sources import Options
from producers.sources.moodle import LOGSTORE_COLUMNS, REPORT_COLUMNS
from tests.unit.producers.test_moodle import logstore_row, report_row


def line(fields) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue().encode()


def letter(source, raw, position="line 2", context=None, location="x.csv"):
    return {"source": source, "raw": raw, "position": position, "context": context, "location": location}


def test_a_report_row_rejected_for_its_time_format_reads_with_the_right_one():
    raw = line(report_row(Time="2026-09-07 21:40:58"))
    context = line(REPORT_COLUMNS)
    assert isinstance(reread(letter("moodle", raw, context=context), Options()), Reject)
    fixed = reread(letter("moodle", raw, context=context), Options(time_formats=("%Y-%m-%d %H:%M:%S",), tz=ZoneInfo("Europe/London")))
    assert isinstance(fixed, Event) and fixed.identity == "moodle_user_id" and fixed.record["student_id"] == "1046"


def test_a_headerless_row_is_read_alone_and_json_as_a_line():
    assert isinstance(reread(letter("moodle", line(logstore_row())), Options()), Event)
    event = {"event_id": "e1", "student_id": "s1", "source": "vle", "action": "v", "event_time": 1_795_000_000_000}
    assert isinstance(reread(letter("events", json.dumps(event).encode() + b"\n"), Options()), Event)
    assert isinstance(reread(letter("ingest-events", json.dumps(event).encode(), position="item 0"), Options()), Event)


def test_what_cannot_be_read_again_says_why():
    assert reread(letter("engine", b"\x00"), Options()) == "no adapter reads engine records"
    assert reread(letter("roster", b"x"), Options()) == "no adapter reads roster records"
    assert "needs its file's header" in reread(letter("moodle", line(LOGSTORE_COLUMNS)), Options())
    assert "not one record" in reread(letter("attendance-taps", b"x", position="timetable.csv line 3"), Options())
    assert reread(letter("panopto", b"a\tb\n", context=b"USER\tTIME\n"), Options()).startswith("panopto cannot read it on its own")


def test_records_keep_their_line_and_bytes():
    record = as_record(b"a,b\n", "line 12")
    assert (record.line, record.fields, record.data) == (12, ["a", "b"], b"a,b\n")
    assert as_record(b"\x07\x00" * 10, "record 3").unit == "record"
