"""Opencast: user tracking actions (CSV, the database's names, actions.json, JSON lines) summed into viewings."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.exports import open_export
from producers.outcome import CsvRecord, Event, Reject, Skip, event_id
from producers.readers import ExportError
from producers.sources import Options, opencast
from producers.sources.base import NotThisFormat
from producers.sources.opencast import Footprint, Opencast
from producers.viewings import unix_ms
from tests.unit.producers.test_fuzz import NOISE, decided, half_real

FIXTURES = Path(__file__).parents[3] / "fixtures" / "sources" / "opencast"
LONDON = ZoneInfo("Europe/London")
HEADER = ("id", "mediapackageId", "sessionId", "userId", "userIp", "userAgent", "inpoint", "outpoint", "length", "type", "isPlaying", "created")
MP1 = "7d8a4b20-3c1e-4f5a-9b6d-2e0f1a3c5b7d"


def ms(iso: str) -> int:
    return unix_ms(datetime.fromisoformat(iso))


def action(**overrides: object) -> dict[str, object]:
    """A playing footprint as Opencast's actions.json writes one (flat session); override any field."""
    row: dict[str, object] = {
        "id": 102, "mediapackageId": MP1, "sessionId": "node0x4k2m9q8w1r7t.node0", "userId": "ab12345",
        "userIp": "10.45.2.17", "userAgent": "Mozilla/5.0", "inpoint": 0, "outpoint": 630, "length": 630,
        "type": "FOOTPRINT", "isPlaying": True, "created": "2026-10-05T09:00:03Z",
    }  # fmt: skip
    row.update(overrides)
    return row


def csv_row(**overrides: object) -> list[str]:
    row = action(**overrides)
    return [str(row[c]).lower() if isinstance(row[c], bool) else str(row[c]) for c in HEADER]


def read_one(**overrides: object):
    return opencast.read_action(action(**overrides), tz=timezone.utc)


def run(actions: list[dict], site: str = "") -> list[tuple[CsvRecord, object]]:
    """Actions through the adapter as JSON lines: start on the first, parse each, then finish."""
    adapter = Opencast(Options(site=site), "actions.jsonl")
    records = [CsvRecord(n, json.dumps(a) + "\n", None) for n, a in enumerate(actions, start=1)]
    assert adapter.start(records[0]) is False
    return [(r, adapter.parse(r)) for r in records] + list(adapter.finish())


def events(actions, **kwargs) -> list[dict]:
    return [o.record for _, o in run(actions, **kwargs) if isinstance(o, Event)]


def read(path: Path, fmt="opencast", options=None) -> list[tuple[str, object]]:
    with open_export(path, fmt, options) as export:
        return [(record.position, outcome) for record, outcome in export.outcomes()]


# ---------------------------------------------------------------- the header


def test_the_header_names_the_action_fields_in_any_order_or_the_database_columns():
    assert opencast.check_header(HEADER) == HEADER
    assert opencast.check_header(list(reversed(opencast.REQUIRED_COLUMNS))) == tuple(reversed(opencast.REQUIRED_COLUMNS))
    database = ["\ufeffid", "mediapackage", "session_id", "user_id", "user_ip", "user_agent", "inpoint", "outpoint", "length", "type", "playing", "created"]
    assert opencast.check_header(database) == HEADER


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (HEADER[:-1], "missing created"),
        ([c for c in HEADER if c != "userId"], "missing userId"),  # the action table alone does not name the user
        ([*HEADER, "series"], "unknown series"),
        ([*HEADER, "created"], "repeated columns"),
        (["Time", "UserId", "SessionId", "SecondsViewed", "StartPosition"], "missing"),
        (["event_id", "student_id", "source", "action", "event_time"], "missing"),
    ],
)
def test_other_headers_are_refused(header, problem):
    with pytest.raises(ValueError, match=problem):
        opencast.check_header(header)
    with pytest.raises(NotThisFormat, match="not an Opencast user actions CSV"):
        Opencast().start(CsvRecord(1, "", list(header)))


@pytest.mark.parametrize("line", ['{"event_id": "e1", "student_id": "s1"}', "[1, 2]", "{nope", '{"mediapackageId": "m", "type": "FOOTPRINT"}'])
def test_json_that_is_not_an_action_is_refused(line):
    with pytest.raises(NotThisFormat, match="not Opencast user actions"):
        Opencast().start(CsvRecord(1, line, None))


# ---------------------------------------------------------------- one action


def test_a_playing_footprint_is_seconds_watched():
    assert read_one(inpoint=1200, outpoint=1890) == Footprint("ab12345", MP1, "node0x4k2m9q8w1r7t.node0", ms("2026-10-05T09:00:03+00:00"), 690.0)


def test_the_session_may_be_nested_as_newer_opencast_writes_it():
    nested = action(sessionId={"sessionId": "s-9", "userId": "cd67890", "userIp": "10.0.0.1", "userAgent": "x"})
    del nested["userId"]
    assert opencast.read_action(nested, tz=timezone.utc) == Footprint("cd67890", MP1, "s-9", ms("2026-10-05T09:00:03+00:00"), 630.0)


def test_quoted_numbers_and_booleans_and_numeric_user_ids_are_read():
    got = read_one(inpoint="10", outpoint="70.5", isPlaying="true", userId=1046)
    assert isinstance(got, Footprint) and (got.user, got.seconds) == ("1046", 60.5)


@pytest.mark.parametrize(
    ("created", "iso"),
    [
        ("2018-05-09T13:19:03Z", "2018-05-09T13:19:03+00:00"),
        ("2018-05-09T15:19:03.250+02:00", "2018-05-09T13:19:03.25+00:00"),
        ("2018-05-09 14:19:03", "2018-05-09T13:19:03+00:00"),  # no offset: --tz (London, BST)
        (1525871943000, "2018-05-09T13:19:03+00:00"),  # a JSON number is Unix milliseconds
    ],
)
def test_created_times(created, iso):
    assert opencast.parse_created(created, LONDON) == ms(iso)


@pytest.mark.parametrize(
    ("overrides", "outcome"),
    [
        ({"type": "PLAY"}, Skip("not a FOOTPRINT action")),
        ({"type": "SEEK", "inpoint": 2490, "outpoint": 120}, Skip("not a FOOTPRINT action")),  # a seek back
        ({"isPlaying": False}, Skip("not playing")),
        ({"outpoint": 0}, Skip("nothing watched")),
        ({"userId": "anonymous"}, Skip("anonymous viewer")),
        ({"userId": "-omitted-"}, Skip("user not recorded (-omitted-)")),
        ({"inpoint": 300, "outpoint": 200}, Reject("outpoint 200 is before inpoint 300")),
        ({"outpoint": 86401}, Reject("outpoint - inpoint (86401 seconds) is more than a day")),
        ({"inpoint": "x"}, Reject("inpoint 'x' is not a number")),
        ({"inpoint": -1}, Reject("inpoint -1 is not a number of seconds >= 0")),
        ({"outpoint": None}, Reject("outpoint 'None' is not a number")),
        ({"outpoint": True}, Reject("outpoint 'True' is not a number")),
        ({"isPlaying": "maybe"}, Reject("isPlaying 'maybe' is not true or false")),
        ({"created": "05/10/2026 12:03"}, Reject("created '05/10/2026 12:03' is not an ISO 8601 date and time")),
        ({"created": "1999-12-31T23:00:00Z"}, Reject("created '1999-12-31T23:00:00Z' is not between 2000 and 2099")),
        ({"created": 1525871943}, Reject("created '1525871943' is not between 2000 and 2099")),  # seconds, not ms
        ({"mediapackageId": ""}, Reject("mediapackageId is empty")),
        ({"sessionId": " "}, Reject("sessionId is empty")),
        ({"userId": None}, Reject("userId is empty")),
        ({"type": ["FOOTPRINT"]}, Reject("type is not text")),
    ],
)
def test_action_rules(overrides, outcome):
    assert read_one(**overrides) == outcome


def test_exactly_a_day_of_footprint_is_accepted():
    assert read_one(outpoint=86400).seconds == 86400.0


def test_csv_rows_and_json_lines_are_checked_the_same_way():
    assert opencast.read_csv_action(HEADER, csv_row(), tz=timezone.utc) == read_one()
    assert opencast.read_csv_action(HEADER, csv_row()[:11], tz=timezone.utc) == Reject("expected 12 columns, found 11")
    assert opencast.read_json_action(json.dumps(action()), tz=timezone.utc) == read_one()
    assert opencast.read_json_action("{nope", tz=timezone.utc).reason.startswith("not JSON")
    assert opencast.read_json_action("[1]", tz=timezone.utc) == Reject("not a JSON object")
    assert opencast.read_json_action('{"inpoint": 1' + "0" * 5000 + "}", tz=timezone.utc).reason.startswith("not JSON")


# ---------------------------------------------------------------- footprints summed into viewings


def test_footprints_of_one_session_are_summed_into_one_viewing():
    actions = [action(), action(type="PAUSE", inpoint=630, outpoint=630, isPlaying=False, created="2026-10-05T09:10:34Z"),
               action(inpoint=1200, outpoint=1890, created="2026-10-05T09:12:40Z")]  # fmt: skip
    outcomes = run(actions, site="essex")
    assert [o for _, o in outcomes[:3]] == [Skip("summed into its viewing"), Skip("not a FOOTPRINT action"), Skip("summed into its viewing")]
    (record, event), = outcomes[3:]
    assert event.identity == "username"
    assert event.record == {
        "event_id": event_id(f"opencast:essex:footprints:ab12345:{MP1}:node0x4k2m9q8w1r7t.node0:{ms('2026-10-05T09:00:03+00:00')}"),
        "student_id": "ab12345", "source": "lecture_capture", "action": "viewed",
        "event_time": ms("2026-10-05T09:00:03+00:00"), "course": None, "object_ref": MP1, "quantity": 22.0,
        "attendance_status": None, "source_ref": "actions.jsonl:1 (2 footprints)", "amends": None,
    }  # fmt: skip
    assert record.line == 1 and record.raw == json.dumps(actions[0]) + "\n" + json.dumps(actions[2]) + "\n"


def test_viewings_are_per_user_media_package_and_session_and_split_at_a_30_minute_gap():
    actions = [
        action(),  # ends 09:10:33
        action(inpoint=630, outpoint=690, created="2026-10-05T09:40:32Z"),  # 29:59 later: same viewing
        action(inpoint=690, outpoint=750, created="2026-10-05T10:11:32Z"),  # 30:00 after 09:41:32: a new one
        action(userId="cd67890"),
        action(mediapackageId="other"),
        action(sessionId="another-session"),
    ]
    got = sorted((e["student_id"], e["object_ref"], e["event_time"], e["quantity"]) for e in events(actions))
    start = ms("2026-10-05T09:00:03+00:00")
    assert got == sorted([
        ("ab12345", MP1, start, 11.5), ("ab12345", MP1, ms("2026-10-05T10:11:32+00:00"), 1.0),
        ("cd67890", MP1, start, 10.5), ("ab12345", "other", start, 10.5), ("ab12345", MP1, start, 10.5),
    ])  # fmt: skip


def test_a_viewing_of_more_than_a_day_is_split():
    actions = [action(outpoint=80000), action(inpoint=80000, outpoint=90000, created="2026-10-06T07:13:23Z")]
    assert [e["quantity"] for e in events(actions)] == [round(80000 / 60, 4), round(10000 / 60, 4)]


def test_viewing_ids_do_not_depend_on_the_order_of_the_file_and_differ_by_site():
    actions = [action(inpoint=i * 60, outpoint=i * 60 + 50, created=f"2026-10-05T09:{i:02d}:00Z", userId=u) for i in range(0, 50, 7) for u in ("a", "b")]
    forward = events(actions)
    assert sorted(e["event_id"] for e in forward) == sorted(e["event_id"] for e in events(list(reversed(actions))))
    assert {e["event_id"] for e in forward}.isdisjoint(e["event_id"] for e in events(actions, site="other"))


# ---------------------------------------------------------------- the fixtures, exactly


def summary(outcomes) -> list[tuple]:
    return [
        (position, "event", o.identity, o.record["student_id"], o.record["event_time"], o.record["quantity"], o.record["object_ref"], o.record["source_ref"])
        if isinstance(o, Event) else (position, type(o).__name__.lower(), o.reason)
        for position, o in outcomes
    ]  # fmt: skip


SUMMED = ("skip", "summed into its viewing")
NOT_FOOTPRINT = ("skip", "not a FOOTPRINT action")


def test_user_actions_csv_fixture():
    assert summary(read(FIXTURES / "user_actions.csv")) == [
        ("line 2", *NOT_FOOTPRINT),
        ("line 3", *SUMMED),
        ("line 4", *NOT_FOOTPRINT),
        ("line 5", "skip", "not playing"),
        ("line 6", *SUMMED),
        ("line 7", *SUMMED),
        ("line 8", "skip", "anonymous viewer"),
        ("line 9", "skip", "user not recorded (-omitted-)"),
        ("line 10", "skip", "nothing watched"),
        ("line 11", "reject", "outpoint 200 is before inpoint 300"),
        ("line 12", "reject", "inpoint 'x' is not a number"),
        ("line 13", "reject", "isPlaying 'maybe' is not true or false"),
        ("line 14", "reject", "created '05/10/2026 12:03' is not an ISO 8601 date and time"),
        ("line 15", "reject", "mediapackageId is empty"),
        ("line 16", *SUMMED),
        ("line 17", *SUMMED),
        ("line 18", *NOT_FOOTPRINT),
        # 630 + 690 seconds: the seek forward and the paused footprint between add nothing
        ("line 3", "event", "username", "ab12345", ms("2026-10-05T09:00:03+00:00"), 22.0, MP1, "user_actions.csv:3 (2 footprints)"),
        ("line 7", "event", "username", "cd67890", ms("2026-10-05T11:00:00+00:00"), 40.0, MP1, "user_actions.csv:7 (1 footprint)"),
        # the same session after lunch: a new viewing
        ("line 17", "event", "username", "ab12345", ms("2026-10-05T13:30:00+00:00"), 10.0, MP1, "user_actions.csv:17 (1 footprint)"),
        ("line 16", "event", "username", "ab12345", ms("2026-10-05T15:00:00+00:00"), 15.0, "ID-lecture-ce101-week06", "user_actions.csv:16 (1 footprint)"),
    ]  # fmt: skip


def test_database_export_fixture_in_london_time():
    mp3 = "c0ffee12-3456-4789-abcd-ef0123456789"
    assert summary(read(FIXTURES / "oc_user_action_join.csv", options=Options(tz=LONDON))) == [
        ("line 2", *SUMMED),
        ("line 3", *NOT_FOOTPRINT),
        ("line 4", *SUMMED),
        ("line 5", "skip", "nothing watched"),
        ("line 6", "reject", "isPlaying 'yes' is not true or false"),
        ("line 2", "event", "username", "ef11223", ms("2026-10-06T09:15:00+00:00"), 30.0, mp3, "oc_user_action_join.csv:2 (2 footprints)"),
    ]  # fmt: skip


def test_actions_json_response_fixture():
    assert summary(read(FIXTURES / "json" / "actions.json")) == [
        ("action 1", *SUMMED),
        ("action 2", *NOT_FOOTPRINT),
        ("action 3", *SUMMED),
        ("action 4", "reject", "created 'not a date' is not an ISO 8601 date and time"),
        ("action 5", *NOT_FOOTPRINT),
        ("action 1", "event", "username", "ij77889", ms("2026-10-07T14:20:11+00:00"), 21.0, MP1, "actions.json:action 1 (1 footprint)"),
        ("action 3", "event", "username", "kl99001", ms("2026-10-07T16:00:00+00:00"), 9.0, MP1, "actions.json:action 3 (1 footprint)"),
    ]  # fmt: skip


def test_a_response_with_one_action_as_an_object_and_json_lines_are_read(tmp_path):
    single = tmp_path / "one.json"
    single.write_text(json.dumps({"actions": {"total": 1, "action": action()}}))
    lines = tmp_path / "actions.jsonl"
    lines.write_text(json.dumps(action()) + "\n\n" + json.dumps(action(type="PLAY")) + "\n")
    assert [type(o).__name__ for _, o in read(single)] == ["Skip", "Event"]
    assert [(p, type(o).__name__) for p, o in read(lines)] == [("line 1", "Skip"), ("line 3", "Skip"), ("line 1", "Event")]


def test_a_response_without_a_list_of_actions_cannot_be_read_and_an_empty_one_is_empty(tmp_path):
    odd, empty = tmp_path / "odd.json", tmp_path / "empty.json"
    odd.write_text(json.dumps({"actions": {"action": 7}}))
    empty.write_text(json.dumps({"actions": {"total": 0, "limit": 10, "offset": 0}}))
    with pytest.raises(ExportError, match="'actions' holds no list of actions"):
        read(odd)
    assert read(empty) == []


def test_csv_fixtures_are_detected_as_opencast():
    for path in sorted(p for p in FIXTURES.iterdir() if p.is_file()):
        with open_export(path, "auto") as export:
            assert export.format == "opencast", path


def test_parse_before_start_is_a_programming_error():
    with pytest.raises(RuntimeError):
        Opencast().parse(CsvRecord(2, "", csv_row()))


# ---------------------------------------------------------------- anything in, a decision out


def undecided(outcome) -> bool:
    return not isinstance(outcome, (Footprint, Skip, Reject)) or (not isinstance(outcome, Footprint) and not outcome.reason.strip())


@settings(max_examples=300)
@given(half_real(csv_row()) | st.lists(NOISE, max_size=13))
def test_csv_rows_always_get_a_decision(fields):
    assert not undecided(opencast.read_csv_action(HEADER, fields, tz=LONDON))


JSON_VALUES = NOISE | st.none() | st.integers() | st.floats(allow_nan=True) | st.booleans() | st.lists(st.integers(), max_size=2) | st.dictionaries(st.sampled_from(["sessionId", "userId"]), NOISE)


@settings(max_examples=300)
@given(st.fixed_dictionaries({k: st.just(v) | JSON_VALUES for k, v in action().items()}) | st.text(max_size=80))
def test_json_actions_always_get_a_decision(value):
    assert not undecided(opencast.read_json_action(value if isinstance(value, str) else json.dumps(value), tz=LONDON))


REAL = [action(), action(inpoint=630, outpoint=700, created="2026-10-05T09:20:00Z"), action(userId="b", outpoint=0), action(type="PAUSE")]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(REAL) | st.fixed_dictionaries({k: st.just(v) | JSON_VALUES for k, v in action().items()}), min_size=1, max_size=10))
def test_a_file_of_anything_sums_to_valid_viewings(actions):
    outcomes = run(actions)
    for _, outcome in outcomes:
        decided(outcome)
    derived = [o.record for _, o in outcomes[len(actions):]]
    assert all(0 < e["quantity"] <= 1440 and e["source"] == "lecture_capture" for e in derived)
    assert len({e["event_id"] for e in derived}) == len(derived)
    summed = sum(opencast.read_action(a, tz=timezone.utc).seconds for a, (_, o) in zip(actions, outcomes) if o == Skip("summed into its viewing"))
    assert sum(e["quantity"] for e in derived) == pytest.approx(summed / 60, abs=0.001 * (len(derived) + 1))
