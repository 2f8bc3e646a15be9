"""Every parser, fed anything: no exception escapes, and every rejection says why.

Inputs are half real, half noise: each field is either a value a real export holds or an
arbitrary string, so the fuzzing reaches past the first check into every rule.
"""

from __future__ import annotations

import io
import json
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from producers.sources import moodle
from producers.sources.events import parse_line
from producers.readers import read_csv, read_lines
from producers.sources.events import EVENT_COLUMNS, parse_event_row
from producers.mysql_text import read_mysql
from producers.outcome import Event, Reject, Skip
from producers.roster import COLUMNS as ROSTER_COLUMNS
from producers.roster import parse_roster_row
from tests.unit.producers.test_moodle import logstore_row, report_row

NOISE = st.text(max_size=40) | st.sampled_from(["", "NULL", "\\N", "-1", "0", "1e309", "nan", "9" * 30, "\x00", "  ", "N;", "a:1:{", '{"a":'])
LONDON = ZoneInfo("Europe/London")


def decided(outcome) -> None:
    """An outcome of the contract: an event, a skip with a reason, or a rejection with one."""
    assert isinstance(outcome, (Event, Skip, Reject)), outcome
    if isinstance(outcome, (Skip, Reject)):
        assert isinstance(outcome.reason, str) and outcome.reason.strip(), outcome


def half_real(real: list[str]):
    """Rows whose every field is either the real value or noise."""
    return st.tuples(*[st.just(v) | NOISE for v in real]).map(list)


@settings(max_examples=300)
@given(half_real(logstore_row()) | st.lists(NOISE, max_size=25))
def test_logstore_rows(fields):
    decided(moodle.parse_logstore_row(fields, site="essex"))


@settings(max_examples=300)
@given(half_real(report_row()) | st.lists(NOISE, max_size=12), st.booleans())
def test_logs_report_rows(fields, has_course):
    decided(moodle.parse_report_row(fields, site="essex", position="logs.csv:2", has_course=has_course, tz=LONDON))


EVENT = {"event_id": "e1", "student_id": "s1", "source": "vle", "action": "viewed", "event_time": "2026-11-20T10:00:00+00:00",
         "course": "CS101", "object_ref": "page-1", "quantity": "3", "attendance_status": "present", "source_ref": "r", "amends": ""}  # fmt: skip


@settings(max_examples=300)
@given(half_real([EVENT.get(c, "") for c in EVENT_COLUMNS]) | st.lists(NOISE, max_size=14))
def test_events_csv_rows(fields):
    decided(parse_event_row(EVENT_COLUMNS, fields, position="e.csv:2"))


JSON_VALUES = NOISE | st.none() | st.integers() | st.floats(allow_nan=True) | st.booleans() | st.lists(st.integers(), max_size=2)


@settings(max_examples=300)
@given(st.fixed_dictionaries({k: st.just(v) | JSON_VALUES for k, v in EVENT.items() if v}) | st.text(max_size=80))
def test_events_json_lines(value):
    line = value if isinstance(value, str) else json.dumps(value)
    decided(parse_line(line, position="e.jsonl:1"))


@settings(max_examples=300)
@given(half_real(["2300001", "BA-HIST", "1", "full_time", "T1", "History", "active"]) | st.lists(NOISE, max_size=9))
def test_roster_rows(fields):
    outcome = parse_roster_row(list(ROSTER_COLUMNS), fields)
    assert isinstance(outcome, (dict, Reject))
    if isinstance(outcome, Reject):
        assert outcome.reason.strip()


@given(st.text(max_size=300), st.sampled_from([",", "\t"]))
def test_readers_take_any_text(text, delimiter):
    for reader in (lambda s: read_csv(s, delimiter=delimiter), lambda s: read_mysql(s, delimiter)):
        for record in reader(io.StringIO(text)):
            assert (record.fields is None) == (record.error is not None)
            assert record.error is None or record.error.strip()
    assert "".join(r.raw for r in read_lines(io.StringIO(text))) == "".join(line for line in io.StringIO(text) if line.strip())
