"""The Jisc library adapter: loans and gate access TSVs."""

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
from producers.sources import jisc_library as jl
from tests.unit.producers.test_fuzz import NOISE, decided, half_real

FIXTURES = Path(__file__).parents[3] / "fixtures" / "sources"
HERE = FIXTURES / "jisc-library"
LONDON = ZoneInfo("Europe/London")
LOANS = {name: i for i, name in enumerate(jl.LOANS_COLUMNS)}
GATE = {name: i for i, name in enumerate(jl.GATE_COLUMNS)}


def ms(*args: int, tz=timezone.utc) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)


def loan(**overrides: str) -> list[str]:
    row = {"USERNAME": "ab12345", "ITEM_ID": "30114015548812", "ITEM_NAME": "Introduction to algorithms", "ITEM_SUBTYPE": "BOOK",
           "BORROWING_SITE": "Albert Sloman Library", "TIMESTAMP": "2026-11-20T10:15:32+00:00"}  # fmt: skip
    row.update(overrides)
    return [row[c] for c in jl.LOANS_COLUMNS]


def gate(**overrides: str) -> list[str]:
    row = {"USERNAME": "ab12345", "TIMESTAMP": "2026-11-20T08:58:12+00:00", "TYPE": "TURNSTILE", "SITE": "Albert Sloman Library",
           "ACCESS_ID": "GA-7713201", "DIRECTION_OF_ACCESS": "IN"}  # fmt: skip
    row.update(overrides)
    return [row[c] for c in jl.GATE_COLUMNS]


def parse_loan(fields, site="essex", tz=timezone.utc):
    return jl.parse_loan_row(LOANS, fields, site=site, tz=tz, position="borrowing.tsv:2")


def parse_gate(fields, site="essex", tz=timezone.utc):
    return jl.parse_gate_row(GATE, fields, site=site, tz=tz, position="gate.tsv:2")


def outcomes(path: Path, fmt: str = "jisc-library", **options) -> list:
    with open_export(path, fmt, Options(**options)) as export:
        return [(record.line, outcome) for record, outcome in export.outcomes()]


def brief(outcome):
    if isinstance(outcome, Event):
        r = outcome.record
        return (r["student_id"], r["action"], r["event_time"], r["object_ref"])
    return outcome.reason


# ---------------------------------------------------------------- fixtures


def test_loans_fixture():
    got = [(line, brief(o)) for line, o in outcomes(HERE / "borrowing.tsv", tz=LONDON)]
    assert got == [
        (2, ("ab12345", "borrowed", ms(2026, 11, 20, 10, 15, 32), "30114015548812")),
        (3, ("ab12345", "borrowed", ms(2026, 11, 20, 10, 15, 49), "30114015548813")),
        (4, ("cd67890", "borrowed", ms(2026, 11, 20, 14, 2, 10), "30114019920041")),  # local, GMT in November
        (5, ("ef24680", "borrowed", ms(2026, 11, 21, 9, 30), "30114002211174")),
        (6, ("gh13579", "borrowed", ms(2026, 11, 21), "LAPTOP-0042")),  # a bare date: local midnight
        (7, "USERNAME is empty"),
        (8, "TIMESTAMP '21/11/2026 11:00' is not ISO 8601 (YYYY-MM-DDTHH:MM:SS, optional offset)"),
        (9, "ITEM_ID and ITEM_NAME are both empty"),
        (10, "TIMESTAMP '1999-12-31T23:00:00+00:00' is outside 2000-2099"),
        (11, ("mn11223", "borrowed", ms(2026, 11, 22, 16, 45) + 250, "30114015548902")),
    ]


def test_gate_fixture():
    got = [(line, brief(o)) for line, o in outcomes(HERE / "gate_access.tsv", tz=LONDON)]
    assert got == [
        (2, ("ab12345", "entered", ms(2026, 11, 20, 8, 58, 12), "Albert Sloman Library")),
        (3, "leaving the library"),
        (4, ("cd67890", "entered", ms(2026, 11, 20, 13, 5), "Albert Sloman Library")),
        (5, "access denied"),
        (6, ("gh13579", "entered", ms(2026, 11, 20, 17, 45), "Forum Library Southend")),
        (7, "leaving the library"),
        (8, "DIRECTION_OF_ACCESS 'sideways' is neither in/entry/1 nor out/exit/0"),
        (9, "TIMESTAMP 'not a time' is not ISO 8601 (YYYY-MM-DDTHH:MM:SS, optional offset)"),
        (10, ("mn11223", "entered", ms(2026, 11, 21, 9, 10), "Albert Sloman Library")),
        (11, "5 fields, too few for the header (6 needed)"),
    ]


@pytest.mark.parametrize("path", sorted(HERE.iterdir()), ids=lambda p: p.name)
def test_auto_detection_picks_this_adapter(path):
    with open_export(path, "auto") as export:
        assert export.format == "jisc-library"


def test_a_loan_is_exactly_this_event():
    outcome = parse_loan(loan())
    assert isinstance(outcome, Event) and outcome.identity == "username"
    assert outcome.record == {
        "event_id": outcome.record["event_id"],
        "student_id": "ab12345",
        "source": "library",
        "action": "borrowed",
        "event_time": ms(2026, 11, 20, 10, 15, 32),
        "course": None,
        "object_ref": "30114015548812",
        "quantity": None,
        "attendance_status": None,
        "source_ref": "borrowing.tsv:2",
        "amends": None,
    }


def test_a_gate_entry_is_exactly_this_event():
    outcome = parse_gate(gate())
    assert isinstance(outcome, Event) and outcome.identity == "username"
    assert outcome.record["source"] == "library" and outcome.record["action"] == "entered"
    assert outcome.record["object_ref"] == "Albert Sloman Library"
    assert outcome.record["source_ref"] == "gate.tsv:2 (ACCESS_ID GA-7713201)"


# ---------------------------------------------------------------- header detection


def test_headers_are_told_apart_in_any_order_and_case_with_extra_columns():
    assert jl.detect_format(list(jl.LOANS_COLUMNS))[0] == jl.LOANS
    assert jl.detect_format(list(jl.GATE_COLUMNS))[0] == jl.GATE
    fmt, columns = jl.detect_format(["\ufeffusername", "HOMEPAGE", "timestamp", "ITEM_NAME", "ITEM_ID", "ITEM_SUBTYPE", "BORROWING_SITE", "OCLC_NUMBER"])
    assert fmt == jl.LOANS and columns["USERNAME"] == 0 and columns["TIMESTAMP"] == 2


@pytest.mark.parametrize(
    "header",
    [
        ["USERNAME", "ITEM_ID", "ITEM_NAME", "TIMESTAMP"],  # loans without site and subtype
        [*jl.LOANS_COLUMNS, "TYPE", "SITE", "ACCESS_ID", "DIRECTION_OF_ACCESS"],  # both at once
        ["TIMESTAMP", "USER_ID", "USERNAME", "EMAIL", "SESSION_ID", "SESSION_NAME", "OBJECT_ID", "FOLDER_NAME", "MINUTES_WATCHED", "VIEWING_TYPE"],
        ["student_id", "assignment_id", "event", "timestamp"],
    ],
)
def test_other_headers_are_refused(header):
    with pytest.raises(ValueError, match="not a Jisc library file"):
        jl.detect_format(header)


@pytest.mark.parametrize("path", [p for name in ("moodle", "events", "windows-logons", "coursework") for p in sorted((FIXTURES / name).iterdir())], ids=lambda p: p.name)
def test_other_adapters_files_are_refused(path):
    with pytest.raises(ExportError):
        with open_export(path, "jisc-library"):
            pass


# ---------------------------------------------------------------- rules


@pytest.mark.parametrize("direction", ["IN", "in", "Entry", "enter", "Entered", "ingress", "1", "", "  "])
def test_entries_count(direction):
    assert isinstance(parse_gate(gate(DIRECTION_OF_ACCESS=direction)), Event)


@pytest.mark.parametrize("direction", ["OUT", "out", "Exit", "exited", "egress", "leave", "0", "2"])
def test_leaving_is_skipped(direction):
    assert parse_gate(gate(DIRECTION_OF_ACCESS=direction)) == Skip("leaving the library")


@pytest.mark.parametrize("kind", ["DENIED", "Turnstile - access denied", "REFUSED", "card rejected"])
def test_refused_access_is_skipped(kind):
    assert parse_gate(gate(TYPE=kind)) == Skip("access denied")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T10:15:32+00:00", ms(2026, 11, 20, 10, 15, 32)),
        ("2026-11-20T10:15:32Z", ms(2026, 11, 20, 10, 15, 32)),
        ("2026-11-20T10:15:32.5+01:00", ms(2026, 11, 20, 9, 15, 32) + 500),
        ("2026-07-20T10:15:32", ms(2026, 7, 20, 9, 15, 32)),  # local: BST
        ("2026-07-20 10:15:32", ms(2026, 7, 20, 9, 15, 32)),
        ("2026-07-20", ms(2026, 7, 19, 23, 0)),  # local midnight
    ],
)
def test_timestamp_forms(text, expected):
    assert jl.parse_timestamp(text, LONDON) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [("20/11/2026 10:15", "is not ISO 8601"), ("1795169732", "is not ISO 8601"), ("", "is not ISO 8601"), ("2026-02-30", "is not ISO 8601"), ("2100-01-01", "outside 2000-2099")],
)
def test_bad_timestamps_are_rejected(text, reason):
    outcome = parse_loan(loan(TIMESTAMP=text))
    assert isinstance(outcome, Reject) and reason in outcome.reason and "TIMESTAMP" in outcome.reason


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (loan(USERNAME="  "), "USERNAME is empty"),
        (loan(USERNAME="x" * 300), "USERNAME is longer than 256 characters"),
        (loan(ITEM_ID="", ITEM_NAME=""), "ITEM_ID and ITEM_NAME are both empty"),
        (loan()[:3], "3 fields, too few for the header (6 needed)"),
    ],
)
def test_malformed_loans_are_rejected(fields, reason):
    assert parse_loan(fields) == Reject(reason)


def test_a_loan_without_an_item_id_refers_to_the_item_name():
    assert parse_loan(loan(ITEM_ID="")).record["object_ref"] == "Introduction to algorithms"


# ---------------------------------------------------------------- event ids


def test_loan_ids_are_stable_and_differ_by_site_user_item_and_time():
    first = parse_loan(loan()).record["event_id"]
    assert parse_loan(loan()).record["event_id"] == first
    assert parse_loan(loan(TIMESTAMP="2026-11-20T10:15:32Z", ITEM_NAME="renamed")).record["event_id"] == first  # same loan re-exported
    others = [parse_loan(loan(), site="other"), parse_loan(loan(USERNAME="cd67890")), parse_loan(loan(ITEM_ID="1")), parse_loan(loan(TIMESTAMP="2026-11-20T10:15:33Z"))]
    assert len({first, *(o.record["event_id"] for o in others)}) == 5


def test_gate_ids_come_from_the_access_id_when_there_is_one():
    first = parse_gate(gate()).record["event_id"]
    assert parse_gate(gate(TIMESTAMP="2026-11-20T08:58:13+00:00")).record["event_id"] == first
    assert parse_gate(gate(ACCESS_ID="GA-7713202")).record["event_id"] != first
    without = [parse_gate(gate(ACCESS_ID="", TIMESTAMP=t)).record["event_id"] for t in ("2026-11-20T08:58:12Z", "2026-11-20T08:58:13Z")]
    assert len({first, *without}) == 3


# ---------------------------------------------------------------- fuzz


@settings(max_examples=300)
@given(half_real(loan()) | st.lists(NOISE, max_size=8))
def test_loan_rows_are_always_decided(fields):
    decided(parse_loan(fields, tz=LONDON))


@settings(max_examples=300)
@given(half_real(gate()) | half_real(gate(ACCESS_ID="", DIRECTION_OF_ACCESS="out")) | st.lists(NOISE, max_size=8))
def test_gate_rows_are_always_decided(fields):
    decided(parse_gate(fields, tz=LONDON))
