"""Panopto: detailed usage items summed into viewings, and the viewing export, on real-format rows."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.exports import open_export
from producers.outcome import CsvRecord, Event, Reject, Skip, event_id
from producers.sources import Options
from producers.sources import panopto
from producers.sources.base import NotThisFormat
from producers.sources.panopto import Panopto, UsageItem
from producers.viewings import unix_ms
from tests.unit.producers.test_fuzz import NOISE, decided, half_real

FIXTURES = Path(__file__).parents[3] / "fixtures" / "sources" / "panopto"
LONDON = ZoneInfo("Europe/London")
U1, U2 = "3f2a9c1e-5b7d-4e8a-9c0f-1a2b3c4d5e6f", "8d4b2e6a-1c3f-4a5b-8e7d-9f0a1b2c3d4e"
S1, S2 = "5c0e8a3b-7f1d-4b2a-a6e9-0d3c8b1f4a72", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
USAGE = list(panopto.USAGE_COLUMNS)
EXPORT = list(panopto.EXPORT_COLUMNS)


def ms(iso: str) -> int:
    return unix_ms(datetime.fromisoformat(iso))


def item(time="2026-10-05T09:12:04Z", user=U1, session=S1, seconds="300", position="0") -> list[str]:
    return [time, user, session, seconds, position]


def export_row(**overrides: str) -> list[str]:
    row = {
        "TIMESTAMP": "11/15/2026 1:44:52 AM", "USER_ID": U1, "USERNAME": "Essex-Moodle\\ab12345",
        "EMAIL": "ab12345@essex.ac.uk", "SESSION_ID": S1, "SESSION_NAME": "CE101 Lecture 6", "OBJECT_ID": S2,
        "FOLDER_NAME": "CE101-6-AU", "MINUTES_WATCHED": "42.5", "VIEWING_TYPE": "Interactive Desktop On Demand",
    }  # fmt: skip
    row.update(overrides)
    return [row[c] for c in EXPORT]


def parse_export(tz=timezone.utc, **overrides: str):
    return panopto.parse_viewing_row(EXPORT, export_row(**overrides), site="essex", tz=tz, position="v.tsv:2")


def run(rows: list[list[str]], header=USAGE, site="") -> list[tuple[CsvRecord, object]]:
    """Rows through the adapter as a file would go: start on the header, parse each, then finish."""
    adapter = Panopto(Options(site=site), "items.csv")
    assert adapter.start(CsvRecord(1, ",".join(header) + "\n", list(header)))
    records = [CsvRecord(n, ",".join(r) + "\n", r) for n, r in enumerate(rows, start=2)]
    return [(r, adapter.parse(r)) for r in records] + list(adapter.finish())


def events(rows, **kwargs) -> list[dict]:
    return [o.record for _, o in run(rows, **kwargs) if isinstance(o, Event)]


def read(name: str, fmt="panopto", options=None) -> list[tuple[str, object]]:
    with open_export(FIXTURES / name, fmt, options) as export:
        return [(record.position, outcome) for record, outcome in export.outcomes()]


# ---------------------------------------------------------------- the header decides the shape


def test_detects_both_shapes_by_header_in_any_order():
    assert panopto.detect_format(USAGE) == (panopto.USAGE_ITEMS, tuple(USAGE))
    extended = list(reversed(panopto.EXTENDED_COLUMNS))
    assert panopto.detect_format(["\ufeff" + extended[0], *extended[1:]]) == (panopto.USAGE_ITEMS, tuple(extended))
    assert panopto.detect_format(EXPORT)[0] == panopto.VIEWING_EXPORT


@pytest.mark.parametrize(
    "header",
    [
        USAGE[:-1],  # a column missing
        [*USAGE, "Extra"],
        [*USAGE, "PlaybackSpeed"],  # half of the extended columns
        [*USAGE, "Time"],  # a repeated column
        [c.lower() for c in USAGE],
        EXPORT[:-1],
        ["event_id", "student_id", "source", "action", "event_time"],
        ["mediapackageId", "sessionId", "userId", "inpoint", "outpoint", "type", "isPlaying", "created"],
        item(),  # a data row: the header is required
    ],
)
def test_refuses_other_headers(header):
    with pytest.raises(ValueError, match="not a Panopto export"):
        panopto.detect_format(header)
    with pytest.raises(NotThisFormat):
        Panopto().start(CsvRecord(1, "", header))


# ---------------------------------------------------------------- times


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2018-11-15T01:44:52Z", "2018-11-15T01:44:52+00:00"),
        ("2018-11-15T01:44:52.1234567Z", "2018-11-15T01:44:52.123+00:00"),  # .NET writes 7 digits
        ("2018-11-15T01:44:52", "2018-11-15T01:44:52+00:00"),  # no offset: UTC, as the API's times are
        ("2018-11-15 01:44:52.5+00:00", "2018-11-15T01:44:52.5+00:00"),
        ("2018-11-15T02:44:52+01:00", "2018-11-15T01:44:52+00:00"),
    ],
)
def test_usage_times_are_iso_8601_and_utc_without_an_offset(text, iso):
    assert panopto.parse_usage_time(text) == ms(iso)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2018-11-15", "not an ISO 8601 date and time"),
        ("11/15/2018 1:44:52 AM", "not an ISO 8601 date and time"),
        ("2018-13-15T01:00:00Z", "not an ISO 8601 date and time"),
        ("1999-12-31T23:59:59Z", "not between 2000 and 2099"),
        ("2100-01-01T00:00:00Z", "not between 2000 and 2099"),
    ],
)
def test_bad_usage_times(text, reason):
    with pytest.raises(ValueError, match=reason):
        panopto.parse_usage_time(text)


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("11/15/2018 1:44:52 AM", "2018-11-15T01:44:52+00:00"),  # GMT in November
        ("6/1/2026 1:44:52 PM", "2026-06-01T12:44:52+00:00"),  # BST: an hour ahead of UTC
        ("11/15/2018 12:05:00 AM", "2018-11-15T00:05:00+00:00"),  # 12 AM is just after midnight
        ("11/15/2018 12:05 PM", "2018-11-15T12:05:00+00:00"),  # seconds may be left out
    ],
)
def test_export_times_are_us_12_hour_local_times(text, iso):
    assert panopto.parse_export_time(text, LONDON) == ms(iso)


@pytest.mark.parametrize("text", ["2018-11-15 01:44:52", "15/11/2018 1:44:52 AM", "11/15/2018 13:44:52 PM", "11/15/1999 1:00 AM", ""])
def test_bad_export_times(text):
    with pytest.raises(ValueError, match="TIMESTAMP"):
        panopto.parse_export_time(text, LONDON)


# ---------------------------------------------------------------- usage items, one at a time


def test_a_usage_item_is_read():
    assert panopto.read_usage_item(USAGE, item(user=U1.upper(), seconds="312.4", position="12.5")) == UsageItem(
        U1, S1, ms("2026-10-05T09:12:04+00:00"), 312.4, 12.5
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (item(seconds="abc"), "SecondsViewed 'abc' is not a number"),
        (item(seconds=""), "SecondsViewed '' is not a number"),
        (item(seconds="-5"), "SecondsViewed -5 is negative"),
        (item(seconds="86400.5"), "SecondsViewed 86400.5 is more than a day"),
        (item(seconds="nan"), "SecondsViewed 'nan' is not a number"),
        (item(seconds="1e999"), "SecondsViewed '1e999' is not a finite number"),
        (item(position="-3"), "StartPosition -3 is negative"),
        (item(position="x"), "StartPosition 'x' is not a number"),
        (item(user="bob"), "UserId 'bob' is not a GUID"),
        (item(session=""), "SessionId '' is not a GUID"),
        (item(time="yesterday"), "Time 'yesterday' is not an ISO 8601"),
        (item()[:4], "expected 5 columns, found 4"),
    ],
)
def test_bad_usage_items_are_rejected(fields, reason):
    outcome = panopto.read_usage_item(USAGE, fields)
    assert isinstance(outcome, Reject) and reason in outcome.reason


@pytest.mark.parametrize(("speed", "reason"), [("0", "PlaybackSpeed 0 is not a speed"), ("fast", "PlaybackSpeed 'fast' is not a number")])
def test_extended_items_check_the_playback_speed(speed, reason):
    outcome = panopto.read_usage_item(panopto.EXTENDED_COLUMNS, [*item(), speed, "Start", "Pause"])
    assert outcome == Reject(reason)


def test_extended_items_accept_any_reason_and_an_empty_speed():
    for fields in ([*item(), "", "Start", "Pause"], [*item(), "1.25", "SomethingNew", "Unexpected"]):
        assert isinstance(panopto.read_usage_item(panopto.EXTENDED_COLUMNS, fields), UsageItem)


@pytest.mark.parametrize("user", ["", "00000000-0000-0000-0000-000000000000"])
def test_anonymous_usage_items_are_skipped(user):
    assert panopto.read_usage_item(USAGE, item(user=user)) == Skip("anonymous viewer")


# ---------------------------------------------------------------- usage items summed into viewings


def test_items_are_skipped_as_summed_and_their_seconds_summed_into_one_viewing():
    rows = [item(time="2026-10-05T09:00:00Z", seconds="300"), item(time="2026-10-05T09:05:10Z", seconds="90.5", position="600")]
    outcomes = run(rows, site="essex")
    assert [o for _, o in outcomes[:2]] == [Skip("summed into its viewing")] * 2
    (record, event), = outcomes[2:]
    assert event.identity == "panopto_user_id"
    assert event.record == {
        "event_id": event_id(f"panopto:essex:usage:{U1}:{S1}:{ms('2026-10-05T09:00:00+00:00')}"),
        "student_id": U1, "source": "lecture_capture", "action": "viewed",
        "event_time": ms("2026-10-05T09:00:00+00:00"), "course": None, "object_ref": S1,
        "quantity": round(390.5 / 60, 4), "attendance_status": None,
        "source_ref": "items.csv:2 (2 usage items)", "amends": None,
    }  # fmt: skip
    assert record.line == 2 and record.raw == ",".join(rows[0]) + "\n" + ",".join(rows[1]) + "\n"


def test_items_out_of_order_are_sorted_and_the_viewing_starts_at_the_first():
    rows = [item(time="2026-10-05T09:10:00Z", seconds="60"), item(time="2026-10-05T09:00:00Z", seconds="540")]
    (record, event), = [(r, o) for r, o in run(rows) if isinstance(o, Event)]
    assert event.record["event_time"] == ms("2026-10-05T09:00:00+00:00") and event.record["quantity"] == 10.0
    assert record.line == 3 and record.raw.splitlines() == [",".join(rows[1]), ",".join(rows[0])]


def test_a_gap_of_30_minutes_after_the_previous_item_ends_starts_a_new_viewing():
    # The first item ends at 09:05; 09:34:59 is within 30 minutes of that, 10:05:00 is not.
    rows = [item(time="2026-10-05T09:00:00Z", seconds="300"), item(time="2026-10-05T09:34:59Z", seconds="60"),
            item(time="2026-10-05T10:05:59Z", seconds="120")]  # fmt: skip
    assert [(e["event_time"], e["quantity"]) for e in events(rows)] == [
        (ms("2026-10-05T09:00:00+00:00"), 6.0),
        (ms("2026-10-05T10:05:59+00:00"), 2.0),
    ]


def test_viewings_are_per_user_and_session():
    later = "2026-10-05T09:20:00Z"  # the GUID's case does not matter: one user
    rows = [item(user=U1, session=S1), item(user=U2, session=S1), item(user=U1, session=S2), item(time=later, user=U1.upper(), session=S1)]
    got = sorted((e["student_id"], e["object_ref"], e["quantity"]) for e in events(rows))
    assert got == sorted([(U1, S1, 10.0), (U2, S1, 5.0), (U1, S2, 5.0)])


def test_a_viewing_of_no_seconds_makes_no_event_and_its_items_stay_counted_as_skips():
    outcomes = run([item(seconds="0"), item(time="2026-10-05T09:13:00Z", seconds="0")])
    assert [o for _, o in outcomes] == [Skip("summed into its viewing")] * 2


def test_an_item_repeated_exactly_is_a_duplicate_not_more_watching():
    outcomes = run([item(), item(), item(position="10")])
    assert [o for _, o in outcomes[:3]] == [Skip("summed into its viewing"), Skip("duplicate usage item"), Skip("summed into its viewing")]
    assert [o.record["quantity"] for _, o in outcomes[3:]] == [10.0]


def test_a_viewing_longer_than_a_day_is_split_before_the_item_that_would_pass_it():
    rows = [item(time="2026-10-05T00:00:00Z", seconds="80000"), item(time="2026-10-05T22:13:20Z", seconds="10000")]
    got = [(e["event_time"], e["quantity"]) for e in events(rows)]
    assert got == [(ms("2026-10-05T00:00:00+00:00"), round(80000 / 60, 4)), (ms("2026-10-05T22:13:20+00:00"), round(10000 / 60, 4))]
    assert all(q <= 1440 for _, q in got)


def test_rejected_items_are_not_summed():
    outcomes = run([item(seconds="300"), item(time="2026-10-05T09:20:00Z", seconds="-60")])
    assert outcomes[1][1] == Reject("SecondsViewed -60 is negative")
    assert [o.record["quantity"] for _, o in outcomes[2:]] == [5.0]


def test_viewing_ids_are_stable_whatever_the_order_of_the_file_and_differ_by_site():
    rows = [item(time=f"2026-10-05T09:{m:02d}:00Z", seconds="50", user=u) for m in range(0, 50, 5) for u in (U1, U2)]
    forward, backward = events(rows), events(list(reversed(rows)))
    assert sorted(e["event_id"] for e in forward) == sorted(e["event_id"] for e in backward)
    assert {e["event_id"] for e in forward}.isdisjoint(e["event_id"] for e in events(rows, site="other"))


# ---------------------------------------------------------------- the viewing export


def test_an_export_row_is_one_viewing():
    outcome = parse_export(tz=LONDON)
    assert isinstance(outcome, Event) and outcome.identity == "username"
    assert outcome.record == {
        "event_id": event_id(f"panopto:essex:viewing:{U1}:{S1}:{ms('2026-11-15T01:44:52+00:00')}"),
        "student_id": "ab12345", "source": "lecture_capture", "action": "viewed",
        "event_time": ms("2026-11-15T01:44:52+00:00"), "course": "CE101-6-AU", "object_ref": S1,
        "quantity": 42.5, "attendance_status": None, "source_ref": "v.tsv:2", "amends": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "identity", "person"),
    [
        ({"USERNAME": "ab12345"}, "username", "ab12345"),
        ({"USERNAME": "unimoodle\\AB12345"}, "username", "AB12345"),
        ({"USERNAME": ""}, "email", "ab12345@essex.ac.uk"),
        ({"USERNAME": "Essex-Moodle\\"}, "email", "ab12345@essex.ac.uk"),
        ({"USERNAME": "", "EMAIL": ""}, "panopto_user_id", U1),
        ({"USERNAME": "", "EMAIL": "", "USER_ID": U1.upper()}, "panopto_user_id", U1),
    ],
)
def test_the_person_is_the_username_else_the_email_else_the_panopto_user(overrides, identity, person):
    outcome = parse_export(**overrides)
    assert isinstance(outcome, Event) and (outcome.identity, outcome.record["student_id"]) == (identity, person)


def test_an_export_row_keeps_its_id_when_the_username_changes_but_not_the_viewing():
    first = parse_export().record["event_id"]
    assert parse_export(USERNAME="ab12345-renamed", EMAIL="").record["event_id"] == first
    assert parse_export(TIMESTAMP="11/15/2026 1:44:53 AM").record["event_id"] != first
    assert parse_export(SESSION_ID=S2).record["event_id"] != first
    # Without a Panopto user id, the username names the viewing (case-blind, as the identity map is).
    assert parse_export(USER_ID="", USERNAME="AB12345").record["event_id"] == parse_export(USER_ID="", USERNAME="ab12345").record["event_id"]


def test_an_empty_folder_is_no_course():
    assert parse_export(FOLDER_NAME="").record["course"] is None


@pytest.mark.parametrize(
    ("overrides", "outcome"),
    [
        ({"USERNAME": "", "EMAIL": "", "USER_ID": ""}, Skip("anonymous viewer")),
        ({"USERNAME": "", "EMAIL": "", "USER_ID": "00000000-0000-0000-0000-000000000000"}, Skip("anonymous viewer")),
        ({"MINUTES_WATCHED": "0"}, Skip("nothing watched")),
        ({"MINUTES_WATCHED": "0.0"}, Skip("nothing watched")),
        ({"MINUTES_WATCHED": "n/a"}, Reject("MINUTES_WATCHED 'n/a' is not a number")),
        ({"MINUTES_WATCHED": "-1.5"}, Reject("MINUTES_WATCHED -1.5 is negative")),
        ({"MINUTES_WATCHED": "1440.01"}, Reject("MINUTES_WATCHED 1440.01 is more than a day")),
        ({"SESSION_ID": "CE101-6"}, Reject("SESSION_ID 'CE101-6' is not a GUID")),
        ({"USER_ID": "42"}, Reject("USER_ID '42' is not a GUID")),
        ({"EMAIL": "ab12345"}, Reject("EMAIL 'ab12345' is not an email address")),
    ],
)
def test_export_rules(overrides, outcome):
    assert parse_export(**overrides) == outcome


def test_an_export_row_with_the_wrong_number_of_fields_is_rejected():
    assert panopto.parse_viewing_row(EXPORT, export_row()[:9], site="s", tz=LONDON, position="p") == Reject("expected 10 columns, found 9")


def test_1440_minutes_is_the_most_an_export_row_may_hold():
    assert parse_export(MINUTES_WATCHED="1440").record["quantity"] == 1440.0


# ---------------------------------------------------------------- the fixtures, exactly


def summary(outcomes) -> list[tuple]:
    return [
        (position, "event", o.identity, o.record["student_id"], o.record["event_time"], o.record["quantity"], o.record["course"], o.record["object_ref"])
        if isinstance(o, Event) else (position, type(o).__name__.lower(), o.reason)
        for position, o in outcomes
    ]  # fmt: skip


SUMMED = ("skip", "summed into its viewing")


def test_usage_items_fixture():
    got = summary(read("usage_items.csv"))
    pid = "panopto_user_id"
    assert got == [
        ("line 2", *SUMMED), ("line 3", *SUMMED), ("line 4", *SUMMED), ("line 5", *SUMMED), ("line 6", *SUMMED),
        ("line 7", "skip", "duplicate usage item"),
        ("line 8", *SUMMED),
        ("line 9", "skip", "anonymous viewer"),
        ("line 10", *SUMMED),
        ("line 11", "reject", "SecondsViewed 'abc' is not a number"),
        ("line 12", "reject", "SecondsViewed -5 is negative"),
        ("line 13", "reject", "SecondsViewed 90000 is more than a day"),
        ("line 14", "reject", "Time '10/06/2026 21:00:00' is not an ISO 8601 date and time"),
        ("line 15", "reject", "UserId 'not-a-guid' is not a GUID"),
        ("line 16", "reject", "Time '1970-01-01T00:00:00Z' is not between 2000 and 2099"),
        ("line 17", *SUMMED),
        ("line 18", "reject", "expected 5 columns, found 4"),
        # lines 2, 3 and 5 (312.4 + 95.6 + 602 seconds; line 5 is out of order in the file)
        ("line 2", "event", pid, U1, ms("2026-10-05T09:12:04.517+00:00"), 16.8333, None, S1),
        # lines 4 and 8: 1800 + 0 seconds, the zero item 0 s after the first ended
        ("line 4", "event", pid, U2, ms("2026-10-05T09:40:11+00:00"), 30.0, None, S1),
        # line 6: back after lunch, a new viewing of the same session
        ("line 6", "event", pid, U1, ms("2026-10-05T14:02:00+00:00"), 7.0, None, S1),
        # line 10 (0 seconds) made no event; line 17 has no offset: UTC
        ("line 17", "event", pid, U1, ms("2026-10-07T08:30:00+00:00"), 25.0042, None, S2),
    ]  # fmt: skip


def test_usage_items_fixture_viewing_records_hold_their_items():
    derived = [(r, o) for r, o in _records("usage_items.csv") if isinstance(o, Event)]
    lines = (FIXTURES / "usage_items.csv").read_text().splitlines(keepends=True)
    assert derived[0][0].raw == lines[1] + lines[2] + lines[4]
    assert derived[0][1].record["source_ref"] == "usage_items.csv:2 (3 usage items)"


def _records(name: str):
    with open_export(FIXTURES / name, "panopto") as export:
        return list(export.outcomes())


def test_extended_usage_items_fixture():
    u3, u4, s3 = "c7e1f0a2-94b3-4d6e-8a1f-5b2c3d4e6f70", "0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d", "e4d3c2b1-a0f9-4e8d-b7c6-a5f4e3d2c1b0"
    assert summary(read("usage_items_extended.csv")) == [
        ("line 2", *SUMMED), ("line 3", *SUMMED), ("line 4", *SUMMED), ("line 5", *SUMMED),
        ("line 6", "reject", "PlaybackSpeed 0 is not a speed"),
        ("line 7", "reject", "PlaybackSpeed 'fast' is not a number"),
        ("line 8", *SUMMED),
        ("line 9", "skip", "anonymous viewer"),
        ("line 10", "reject", "StartPosition -3 is negative"),
        ("line 2", "event", "panopto_user_id", u3, ms("2026-10-12T13:05:41.273+00:00"), 18.0333, None, s3),
        ("line 8", "event", "panopto_user_id", u4, ms("2026-10-12T19:45:10+00:00"), 22.015, None, s3),
    ]  # fmt: skip


def test_viewing_export_fixture_in_london_time():
    course = "CE101-6-AU Programming (2026/27)"
    got = summary(read("viewing_export.tsv", options=Options(tz=LONDON)))
    assert got == [
        ("line 2", "event", "username", "ab12345", ms("2026-11-15T01:44:52+00:00"), 42.5833333333333, course, S1),
        ("line 3", "event", "email", "cd67890@essex.ac.uk", ms("2026-11-15T14:03:10+00:00"), 12.25, course, S1),
        ("line 4", "event", "panopto_user_id", "6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d", ms("2026-11-16T09:00:05+00:00"), 3.5, course, S2),
        ("line 5", "skip", "anonymous viewer"),
        ("line 6", "skip", "nothing watched"),
        ("line 7", "reject", "TIMESTAMP '2026-11-16 10:15:42' is not a US date and 12-hour time (11/15/2018 1:44:52 AM)"),
        ("line 8", "reject", "MINUTES_WATCHED 'n/a' is not a number"),
        ("line 9", "reject", "MINUTES_WATCHED 1500 is more than a day"),
        ("line 10", "reject", "SESSION_ID 'CE101-6' is not a GUID"),
        ("line 11", "event", "username", "ef11223", ms("2026-11-17T12:05:00+00:00"), 55.0, None, S2),
    ]  # fmt: skip


def test_fixtures_are_detected_as_panopto():
    for path in sorted(FIXTURES.iterdir()):
        with open_export(path, "auto") as export:
            assert export.format == "panopto", path


def test_parse_before_start_is_a_programming_error():
    with pytest.raises(RuntimeError):
        Panopto().parse(CsvRecord(2, "", item()))


# ---------------------------------------------------------------- anything in, a decision out


def undecided(outcome) -> bool:
    return not isinstance(outcome, (UsageItem, Skip, Reject)) or (not isinstance(outcome, UsageItem) and not outcome.reason.strip())


@settings(max_examples=300)
@given(half_real(item()) | half_real([*item(), "1.5", "Seek", "Pause"]) | st.lists(NOISE, max_size=9))
def test_usage_rows_always_get_a_decision(fields):
    header = panopto.EXTENDED_COLUMNS if len(fields) == 8 else USAGE
    assert not undecided(panopto.read_usage_item(header, fields))


@settings(max_examples=300)
@given(half_real(export_row()) | st.lists(NOISE, max_size=11))
def test_export_rows_always_get_a_decision(fields):
    decided(panopto.parse_viewing_row(EXPORT, fields, site="essex", tz=LONDON, position="v.tsv:2"))


REAL_ITEMS = [item(time=f"2026-10-05T09:{m:02d}:00Z", user=u, seconds=str(s)) for m, u, s in [(0, U1, 300), (7, U1, 61.5), (40, U1, 30), (3, U2, 0)]]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(REAL_ITEMS) | half_real(item()), max_size=12))
def test_a_file_of_anything_sums_to_valid_viewings(rows):
    outcomes = run(rows)
    for _, outcome in outcomes:
        decided(outcome)
    derived = [o.record for _, o in outcomes[len(rows):]]
    assert all(0 < e["quantity"] <= 1440 and e["source"] == "lecture_capture" for e in derived)
    summed = sum(float(r[3]) for r, (_, o) in zip(rows, outcomes) if o == Skip("summed into its viewing"))
    assert sum(e["quantity"] for e in derived) == pytest.approx(summed / 60, abs=0.001 * (len(derived) + 1))
    assert len({e["event_id"] for e in derived}) == len(derived)
