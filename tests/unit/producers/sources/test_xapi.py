"""xAPI statements: every rule of ``producers.sources.xapi``, its fixtures event by event, and noise."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.exports import open_export
from producers.outcome import CsvRecord, Event, Reject, Skip, event_id
from producers.readers import ExportError
from producers.sources import NotThisFormat, xapi
from producers.sources.events import Events
from producers import json_records
from producers.json_records import iso_time_ms
from producers.sources.xapi import Xapi, check_statement_id, duration_minutes, parse_statement
from tests.unit.producers.test_fuzz import NOISE, decided

FIXTURES = Path(__file__).parents[3] / "fixtures" / "sources" / "xapi"
MOODLE = "https://moodle.essex.ac.uk"
STATEMENT_ID = "665bce74-4bdc-4164-8bb1-cc4246de2400"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def statement(**overrides: object) -> dict:
    """A Moodle logstore_xapi page view as an LRS exports it; override any top-level key (None drops it)."""
    body = {
        "id": STATEMENT_ID,
        "actor": {"objectType": "Agent", "name": "Amelia Byrne", "account": {"homePage": MOODLE, "name": "1046"}},
        "verb": {"id": "http://id.tincanapi.com/verb/viewed", "display": {"en": "viewed"}},
        "object": {"id": f"{MOODLE}/mod/page/view.php?id=643", "objectType": "Activity",
                   "definition": {"type": "https://w3id.org/xapi/acrossx/activities/page"}},
        "timestamp": "2026-10-05T09:14:03.000Z",
        "context": {"platform": "Moodle", "contextActivities": {"grouping": [{"id": MOODLE}, {"id": f"{MOODLE}/course/view.php?id=12"}]}},
        "stored": "2026-10-05T09:14:05.412Z",
        "authority": {"objectType": "Agent", "mbox": "mailto:lrs-moodle@essex.ac.uk"},
        "version": "1.0.0",
    }  # fmt: skip
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def parse(**overrides: object):
    return parse_statement(statement(**overrides), site="essex", position="lrs.jsonl:4")


def verb(iri: str) -> dict:
    return {"id": iri, "display": {"en": iri.rsplit("/", 1)[-1]}}


def jisc(**overrides: object) -> dict:
    """A Jisc recipe statement by username (not a Moodle site); override any top-level key."""
    return {"actor": {"objectType": "Agent", "account": {"name": "ab23456", "homePage": "https://essex.seats.cloud"}}, "context": {"platform": "SEAtS"}, **overrides}


def attended(result: object) -> object:
    return parse(**jisc(verb=verb(xapi.ATTENDED), object={"id": "https://essex.seats.cloud/events/CE101/lecture-1"}, result=result))


def outcomes(path: Path) -> list[tuple[str, object]]:
    with open_export(path, "xapi") as export:
        return [(record.position, outcome) for record, outcome in export.outcomes()]


def record(eid, student, source, action, when, *, course=None, object_ref=None, quantity=None, status=None, source_ref=None):
    return {
        "event_id": eid, "student_id": student, "source": source, "action": action, "event_time": ms(when), "course": course,
        "object_ref": object_ref, "quantity": quantity, "attendance_status": status,
        "source_ref": source_ref or f"xapi:xapi:statement:{eid}", "amends": None,
    }  # fmt: skip


# ---------------------------------------------------------------- the fixtures, event by event

SEATS = "https://essex.seats.cloud/events/CE101-4-AU/lecture-1"
VIDEO = "https://essex.cloud.panopto.eu/Panopto/Pages/Viewer.aspx?id=3f1c2e9a-77b2-4c1e-9d1a-b2a6011c0d5e"
LRS_EXPORT = [
    ("line 1", "moodle_user_id", record(STATEMENT_ID, "1046", "vle", "viewed", "2026-10-05T09:14:03+00:00", course="12", object_ref=f"{MOODLE}/mod/page/view.php?id=643")),
    ("line 2", "moodle_user_id", record("859b0f5e-8dab-4577-9848-f9d0278ceafa", "1046", "coursework", "submitted", "2026-10-16T23:58:41+01:00", course="12", object_ref=f"{MOODLE}/mod/assign/view.php?id=702")),
    ("line 3", "username", record("b77f62e4-1c9b-4737-976c-645e059d330a", "ab23456", "vle", "logged_in", "2026-10-06T08:01:12+00:00", object_ref="https://learn.essex.ac.uk")),
    ("line 4", "username", record("bcb88634-48d1-4de2-892b-360e49853c6b", "ab23456", "attendance", "session_marked", "2026-10-05T09:00:00+00:00", course="CE101-4-AU-2026", object_ref=SEATS, status="present")),
    ("line 5", "username", record("69cbe66c-a40b-4ac8-b12f-4803e2342e39", "cd34567", "attendance", "session_marked", "2026-10-05T09:00:00+00:00", course="CE101-4-AU-2026", object_ref=SEATS, status="late")),
    ("line 6", "username", record("61345fcc-db36-431c-b4cb-70b3963078a8", "ef45678", "attendance", "session_marked", "2026-10-05T09:00:00+00:00", course="CE101-4-AU-2026", object_ref=SEATS, status="absent")),
    ("line 7", "username", record("e3fc6dfd-027b-4df7-a27e-27943a32da3c", "gh56789", "attendance", "session_marked", "2026-10-05T09:00:00+00:00", course="CE101-4-AU-2026", object_ref=SEATS, status="authorised_absence")),
    ("line 8", None, Skip("session cancelled or not required")),
    ("line 9", None, Reject("attended statement has no result.completion (true or false)")),
    ("line 10", "username", record("37df842b-c537-4656-8da2-33b826892966", "ab23456", "library", "borrowed", "2026-10-07T13:22:08+00:00", object_ref="https://library.essex.ac.uk/items/b2417790")),
    ("line 11", "username", record("f8206796-280c-4d30-8263-8f92f59f29d1", "cd34567", "library", "entered", "2026-10-07T09:47:31+00:00", object_ref="https://library.essex.ac.uk/sites/albert-sloman")),
    ("line 12", "username", record("9de78803-fcd4-4acc-8f8f-85c842dfe9d0", "ef45678", "coursework", "submitted", "2026-10-22T17:40:02+00:00", course="LW105-4-AU-2026",
                                   object_ref="https://learn.essex.ac.uk/webapps/assignment/uploadAssignment?content_id=_88123_1")),
    ("line 13", "email", record("b6373a46-8591-44a3-851d-dcfdb6c0c265", "ab23456@essex.ac.uk", "lecture_capture", "viewed", "2026-10-08T19:02:11.320+00:00", course="12", object_ref=VIDEO, quantity=750.5 / 60)),
    ("line 14", None, Skip("video statement without duration")),
    ("line 15", "username", record("8554749b-2c00-434b-be5e-15eec122ed4c", "cd34567", "lecture_capture", "viewed", "2026-10-09T20:15:00+00:00", course="CE101-4-AU-2026", object_ref=VIDEO, quantity=45.0)),
    ("line 16", None, Reject("result.duration '00:45:00' is not an ISO 8601 duration (days, hours, minutes, seconds)")),
    ("line 17", None, Reject("actor has 2 identifiers (mbox, account); xAPI allows exactly one")),
    ("line 18", None, Skip("actor identified only by a hash or OpenID")),
    ("line 19", None, Skip("voiding statement")),
    ("line 20", None, Skip("group actor")),
    ("line 21", None, Skip("verb not counted")),
    ("line 22", None, Reject("timestamp '13/10/2026 14:05' is not an ISO 8601 date and time")),
]  # fmt: skip


def test_the_lrs_export_fixture_event_by_event():
    got = outcomes(FIXTURES / "lrs_export.jsonl")
    assert len(got) == len(LRS_EXPORT) + 1
    for (position, outcome), (where, identity, expected) in zip(got, LRS_EXPORT):
        assert position == where
        if identity is None:
            assert outcome == expected, where
        else:
            assert isinstance(outcome, Event) and outcome.identity == identity, where
            assert outcome.record == expected, where
    position, last = got[-1]
    assert position == "line 23" and isinstance(last, Reject) and last.reason.startswith("not JSON: ")


def test_the_moodle_batch_array_fixture_event_by_event():
    got = outcomes(FIXTURES / "moodle_batch.json")
    assert [position for position, _ in got] == [f"record {n}" for n in range(1, 6)]
    events = [o for _, o in got[:3]]
    assert all(isinstance(e, Event) and e.identity == "moodle_user_id" and e.record["student_id"] == "1051" for e in events)
    assert [(e.record["source"], e.record["action"], e.record["event_time"], e.record["course"]) for e in events] == [
        ("vle", "viewed", ms("2026-10-05T10:31:07+01:00"), "12"),  # the course itself is the object
        ("vle", "viewed", ms("2026-10-05T09:40:52+00:00"), "12"),
        ("vle", "logged_in", ms("2026-10-05T10:29:58+01:00"), None),
    ]
    # Moodle posts no statement ids: ids come from the content, and positions are the source references.
    assert events[0].record["source_ref"] == "moodle_batch.json:record 1"
    assert events[1].record["object_ref"] == f"{MOODLE}/mod/forum/discuss.php?d=311"
    assert got[3][1] == Skip("verb not counted") and got[4][1] == Reject("no timestamp")


def test_reading_a_file_twice_gives_the_same_ids_and_the_statement_id_is_the_event_id():
    first, second = outcomes(FIXTURES / "lrs_export.jsonl"), outcomes(FIXTURES / "lrs_export.jsonl")
    assert first == second and first[0][1].record["event_id"] == STATEMENT_ID
    array = outcomes(FIXTURES / "moodle_batch.json")
    assert array == outcomes(FIXTURES / "moodle_batch.json")


# ---------------------------------------------------------------- ids


def test_the_statement_id_is_the_event_id_lower_cased_whatever_the_site():
    upper = parse(id=STATEMENT_ID.upper())
    other_site = parse_statement(statement(), site="elsewhere", position="p")
    assert upper.record["event_id"] == STATEMENT_ID == other_site.record["event_id"]
    assert upper.record["source_ref"] == f"xapi:essex:statement:{STATEMENT_ID}"


def test_without_an_id_the_event_id_comes_from_the_content_not_from_what_the_lrs_added():
    body = statement(id=None)
    event = parse_statement(body, site="essex", position="lrs.jsonl:4")
    content = {k: v for k, v in body.items() if k not in ("stored", "authority")}
    assert event.record["event_id"] == event_id("xapi:essex:" + json.dumps(content, sort_keys=True, separators=(",", ":")))
    assert event.record["source_ref"] == "lrs.jsonl:4"
    restored = parse_statement({**body, "stored": "2027-01-01T00:00:00Z", "authority": {"mbox": "mailto:x@y"}}, site="essex", position="x")
    reordered = parse_statement(dict(reversed(list(body.items()))), site="essex", position="y")
    assert restored.record["event_id"] == reordered.record["event_id"] == event.record["event_id"]
    assert parse_statement(body, site="other", position="p").record["event_id"] != event.record["event_id"]
    changed = parse_statement({**body, "timestamp": "2026-10-05T09:14:04.000Z"}, site="essex", position="p")
    assert changed.record["event_id"] != event.record["event_id"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [(None, None), (STATEMENT_ID, None), (STATEMENT_ID.upper(), None), (42, "id is not text"),
     ("12345", "id '12345' is not a UUID"), (f"urn:uuid:{STATEMENT_ID}", f"id 'urn:uuid:{STATEMENT_ID}' is not a UUID"),
     (STATEMENT_ID.replace("-", ""), f"id '{STATEMENT_ID.replace('-', '')}' is not a UUID")],
)  # fmt: skip
def test_check_statement_id(value, problem):
    assert check_statement_id(value) == problem


def test_a_bad_statement_id_is_rejected():
    assert parse(id="stmt-1") == Reject("id 'stmt-1' is not a UUID")


# ---------------------------------------------------------------- structure


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"actor": None}, "statement has no actor"),
        ({"actor": "1046"}, "statement has no actor"),
        ({"verb": None}, "statement has no verb.id"),
        ({"verb": {"display": {"en": "viewed"}}}, "statement has no verb.id"),
        ({"object": {"objectType": "Activity"}}, "statement has no object.id"),
        ({"actor": None, "verb": None, "object": None}, "statement has no actor, verb.id, object.id"),
        ({"object": {"id": "  "}}, "statement has no object.id"),
    ],
)
def test_required_parts_are_named_when_missing(overrides, reason):
    assert parse(**overrides) == Reject(reason)


@pytest.mark.parametrize("value", [[], "text", 3, None, [{"actor": {}}]])
def test_a_statement_that_is_not_an_object_is_rejected(value):
    assert parse_statement(value, position="p") == Reject("statement is not a JSON object")


def test_a_voiding_statement_is_skipped_not_applied():
    voiding = parse(verb=verb(xapi.VOIDED), object={"objectType": "StatementRef", "id": "859b0f5e-8dab-4577-9848-f9d0278ceafa"})
    assert voiding == Skip("voiding statement")


# ---------------------------------------------------------------- the person


@pytest.mark.parametrize(
    ("actor", "context", "object_id", "expected"),
    [
        ({"account": {"homePage": MOODLE, "name": "1046"}}, {"platform": "Moodle"}, "x:1", ("moodle_user_id", "1046")),
        ({"account": {"homePage": "https://vle.example.ac.uk", "name": "1046"}}, {"platform": "MOODLE "}, "x:1", ("moodle_user_id", "1046")),
        ({"account": {"homePage": "https://courses.example.ac.uk/moodle", "name": "77"}}, {}, "x:1", ("moodle_user_id", "77")),
        ({"account": {"homePage": "https://vle.example.ac.uk", "name": "77"}}, {}, "https://vle.example.ac.uk/mod/quiz/view.php?id=5", ("moodle_user_id", "77")),
        ({"account": {"homePage": "https://vle.example.ac.uk", "name": "77"}}, {}, "https://other.example/mod/quiz/view.php?id=5", ("username", "77")),
        ({"account": {"homePage": "https://learn.essex.ac.uk", "name": "2300001"}}, {"platform": "Blackboard Learn"}, "x:1", ("username", "2300001")),
        ({"account": {"homePage": MOODLE, "name": " jsmith12 "}}, {"platform": "Moodle"}, "x:1", ("username", "jsmith12")),
        ({"mbox": "mailto:Amelia.Byrne@essex.ac.uk"}, {}, "x:1", ("email", "Amelia.Byrne@essex.ac.uk")),
        ({"mbox": "MAILTO:ab23456@essex.ac.uk"}, {}, "x:1", ("email", "ab23456@essex.ac.uk")),
    ],
)  # fmt: skip
def test_actor_identity_namespaces(actor, context, object_id, expected):
    event = parse(actor=actor, context=context, object={"id": object_id})
    assert isinstance(event, Event) and (event.identity, event.record["student_id"]) == expected


@pytest.mark.parametrize(
    ("actor", "outcome"),
    [
        ({"mbox_sha1sum": "ebd31e95054c018b10727ccffd2ef2ec3a016ee9"}, Skip("actor identified only by a hash or OpenID")),
        ({"openid": "https://openid.example.org/ab23456"}, Skip("actor identified only by a hash or OpenID")),
        ({"objectType": "Group", "member": [{"mbox": "mailto:a@b.c"}]}, Skip("group actor")),
        ({"objectType": "Group", "mbox": "mailto:team7@essex.ac.uk"}, Skip("group actor")),
        ({"name": "Nobody"}, Reject("actor has no identifier (mbox, mbox_sha1sum, openid or account)")),
        ({"mbox": "mailto:a@b.c", "openid": "https://o.example/a"}, Reject("actor has 2 identifiers (mbox, openid); xAPI allows exactly one")),
        ({"mbox": "ab23456@essex.ac.uk"}, Reject("actor.mbox is not a mailto: address")),
        ({"mbox": "mailto:not an address"}, Reject("actor.mbox is not a mailto: address")),
        ({"mbox": 7}, Reject("actor.mbox is not a mailto: address")),
        ({"account": "1046"}, Reject("actor.account is not an object")),
        ({"account": {"homePage": MOODLE}}, Reject("actor.account.name is missing or empty")),
        ({"account": {"homePage": MOODLE, "name": 1046}}, Reject("actor.account.name is missing or empty")),
        ({"account": {"name": "1046"}}, Reject("actor.account.homePage is missing or empty")),
        ({"account": {"homePage": MOODLE, "name": "x" * 257}}, Reject("actor.account.name is longer than 256 characters")),
    ],
)  # fmt: skip
def test_actors_that_name_no_student(actor, outcome):
    assert parse(actor=actor) == outcome


# ---------------------------------------------------------------- time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-05T09:14:03.000Z", ms("2026-10-05T09:14:03+00:00")),  # Moodle, UTC with milliseconds
        ("2026-10-05T10:14:03+01:00", ms("2026-10-05T09:14:03+00:00")),  # Moodle, site local time with offset
        ("2026-10-05T09:14:03.1234567Z", ms("2026-10-05T09:14:03.123456+00:00")),  # LRSs keep up to 7 digits
        ("2026-10-05T04:14:03-05:00", ms("2026-10-05T09:14:03+00:00")),
        ("2026-10-05T09:14:03", ms("2026-10-05T09:14:03+00:00")),  # no offset: UTC
        ("2026-10-05T09:14Z", ms("2026-10-05T09:14:00+00:00")),
        (" 2026-10-05 09:14:03Z ", ms("2026-10-05T09:14:03+00:00")),
    ],
)
def test_timestamps(text, expected):
    assert parse(timestamp=text).record["event_time"] == expected


def test_stored_stands_in_for_a_missing_timestamp_and_neither_is_a_rejection():
    assert parse(timestamp=None).record["event_time"] == ms("2026-10-05T09:14:05.412+00:00")
    assert parse(timestamp=None, stored=None) == Reject("no timestamp")
    assert parse(timestamp=None, stored="yesterday") == Reject("stored 'yesterday' is not an ISO 8601 date and time")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-10-05", "timestamp '2026-10-05' is not an ISO 8601 date and time"),
        ("20261005T091403Z", "timestamp '20261005T091403Z' is not an ISO 8601 date and time"),
        ("2026-13-05T09:14:03Z", "timestamp '2026-13-05T09:14:03Z' is not an ISO 8601 date and time"),
        ("1999-12-31T23:59:59Z", "timestamp '1999-12-31T23:59:59Z' is not a plausible time (2000-2099)"),
        ("2100-01-01T00:00:00Z", "timestamp '2100-01-01T00:00:00Z' is not a plausible time (2000-2099)"),
        (1791191643000, "timestamp is not text"),
    ],
)
def test_bad_timestamps_are_rejected_not_replaced_by_stored(value, reason):
    assert parse(timestamp=value) == Reject(reason)
    with pytest.raises(ValueError, match="timestamp"):
        iso_time_ms(value, "timestamp")


# ---------------------------------------------------------------- verbs


@pytest.mark.parametrize(
    ("iri", "obj", "expected"),
    [
        (xapi.LOGGED_IN, {"id": MOODLE}, ("vle", "logged_in")),
        (xapi.VIEWED, {"id": f"{MOODLE}/mod/page/view.php?id=643"}, ("vle", "viewed")),
        (xapi.EXPERIENCED, {"id": "https://h5p.essex.ac.uk/content/381"}, ("vle", "viewed")),
        (xapi.SUBMIT, {"id": f"{MOODLE}/mod/assign/view.php?id=702"}, ("coursework", "submitted")),
        (xapi.SUBMIT, {"id": "https://x.example/a/1", "definition": {"type": "http://adlnet.gov/expapi/activities/assessment"}}, ("coursework", "submitted")),
        (xapi.SUBMIT, {"id": "https://x.example/a/1", "definition": {"type": "http://id.tincanapi.com/activitytype/school-assignment"}}, ("coursework", "submitted")),
        (xapi.SUBMIT, {"id": f"{MOODLE}/mod/forum/discuss.php?d=311"}, ("vle", "submitted")),
        (xapi.COMPLETED, {"id": "https://x.example/a/1", "definition": {"type": "http://adlnet.gov/expapi/activities/Assessment"}}, ("coursework", "submitted")),
        (xapi.COMPLETED, {"id": f"{MOODLE}/mod/book/view.php?id=9", "definition": {"type": "http://adlnet.gov/expapi/activities/module"}}, ("vle", "completed")),
        (xapi.BORROWED, {"id": "https://library.essex.ac.uk/items/b2417790"}, ("library", "borrowed")),
        (xapi.ACCESS, {"id": "https://library.essex.ac.uk/sites/albert-sloman"}, ("library", "entered")),
    ],
)  # fmt: skip
def test_verbs_counted(iri, obj, expected):
    event = parse(verb=verb(iri), object=obj)
    assert isinstance(event, Event) and (event.record["source"], event.record["action"]) == expected
    assert event.record["quantity"] is None and event.record["attendance_status"] is None


@pytest.mark.parametrize(
    "iri",
    ["http://adlnet.gov/expapi/verbs/answered", "http://adlnet.gov/expapi/verbs/registered", "https://w3id.org/xapi/adl/verbs/logged-out",
     "http://adlnet.gov/expapi/verbs/launched", "http://id.tincanapi.com/verb/viewed/", "HTTP://ID.TINCANAPI.COM/VERB/VIEWED"],
)  # fmt: skip
def test_other_verbs_are_skipped_with_one_reason(iri):
    assert parse(verb=verb(iri)) == Skip("verb not counted")


# ---------------------------------------------------------------- attendance


@pytest.mark.parametrize(
    ("result", "status"),
    [
        ({"completion": True}, "present"),
        ({"completion": True, "extensions": {"http://xapi.jisc.ac.uk/attendance_late": 0}}, "present"),
        ({"completion": True, "extensions": {"http://xapi.jisc.ac.uk/attendance_late": 1}}, "late"),
        ({"completion": True, "extensions": {"https://xapi.jisc.ac.uk/attendance_late": True}}, "late"),
        ({"completion": True, "extensions": {"http://poppleton.example/ext/attendance_late": "1"}}, "late"),
        ({"completion": True, "extensions": {"http://xapi.jisc.ac.uk/attendance_category": "L"}}, "late"),
        ({"completion": True, "extensions": {"http://xapi.jisc.ac.uk/attendance_category": "1"}}, "present"),  # Jisc's own example code
        ({"completion": True, "extensions": {"http://xapi.jisc.ac.uk/attendance_category": "AA"}}, "present"),  # completion decides
        ({"completion": False}, "absent"),
        ({"completion": False, "extensions": {"http://xapi.jisc.ac.uk/attendance_late": 1}}, "absent"),
        ({"completion": False, "extensions": {"http://xapi.jisc.ac.uk/attendance_category": "AA"}}, "authorised_absence"),
        ({"completion": False, "extensions": {"http://xapi.jisc.ac.uk/attendance_category": "sick"}}, "authorised_absence"),
        ({"completion": False, "extensions": {"http://xapi.jisc.ac.uk/attendance_category": "Authorised Absence"}}, "authorised_absence"),
        ({"completion": False, "extensions": {"http://xapi.jisc.ac.uk/attendance_category": "U"}}, "absent"),
    ],
)  # fmt: skip
def test_attendance_marks(result, status):
    event = attended(result)
    assert isinstance(event, Event) and event.record["source"] == "attendance" and event.record["attendance_status"] == status
    assert event.record["action"] == "session_marked" and event.record["object_ref"] == "https://essex.seats.cloud/events/CE101/lecture-1"


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        ({}, Reject("attended statement has no result.completion (true or false)")),
        (None, Reject("attended statement has no result.completion (true or false)")),
        ({"completion": "true"}, Reject("attended statement has no result.completion (true or false)")),
        ({"completion": 1}, Reject("attended statement has no result.completion (true or false)")),
        ({"completion": False, "extensions": {"http://xapi.jisc.ac.uk/attendance_category": "C"}}, Skip("session cancelled or not required")),
        ({"completion": False, "extensions": {"http://xapi.jisc.ac.uk/attendance_category": "Not Required"}}, Skip("session cancelled or not required")),
    ],
)  # fmt: skip
def test_attendance_without_a_mark(result, outcome):
    assert attended(result) == outcome


# ---------------------------------------------------------------- lecture capture


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("PT12M30.5S", 12.5 + 0.5 / 60), ("PT45M", 45.0), ("PT1H", 60.0), ("PT90S", 1.5), ("P1D", 1440.0), ("PT0.6S", 0.01),
     ("PT1H2M3S", 62.05), ("PT1,5M", 1.5), ("PT0S", 0.0)],
)  # fmt: skip
def test_iso_durations(text, minutes):
    assert duration_minutes(text) == pytest.approx(minutes)


@pytest.mark.parametrize("text", ["00:45:00", "P", "PT", "P1DT", "PT-5M", "P1M", "P1Y", "P2W", "45", "PT1.5.2S", "pt5m", "PT５M", "P1DT1S", "PT1441M"])
def test_malformed_or_too_long_durations(text):
    with pytest.raises(ValueError, match="result.duration"):
        duration_minutes(text)


VIDEO_OBJECT = {"id": VIDEO, "definition": {"type": "https://w3id.org/xapi/video/activity-type/video"}}


@pytest.mark.parametrize("iri", [xapi.VIDEO_PLAYED, xapi.VIDEO_PAUSED, xapi.VIDEO_COMPLETED, xapi.COMPLETED, xapi.VIEWED, xapi.EXPERIENCED])
def test_video_statements_with_a_duration_are_lecture_capture(iri):
    event = parse(verb=verb(iri), object=VIDEO_OBJECT, result={"duration": "PT12M30.5S"})
    assert isinstance(event, Event) and event.record["source"] == "lecture_capture" and event.record["action"] == "viewed"
    assert event.record["quantity"] == pytest.approx(12.508333, abs=1e-5)


def test_a_video_is_also_known_by_the_video_profile_category():
    context = {"contextActivities": {"category": [{"id": "https://w3id.org/xapi/video"}]}}
    event = parse(verb=verb(xapi.VIDEO_PLAYED), object={"id": VIDEO}, result={"duration": "PT2M"}, context=context)
    assert event.record["source"] == "lecture_capture" and event.record["quantity"] == 2.0


@pytest.mark.parametrize(
    ("iri", "obj", "result", "outcome"),
    [
        (xapi.VIDEO_PLAYED, VIDEO_OBJECT, {}, Skip("video statement without duration")),
        (xapi.VIDEO_PAUSED, VIDEO_OBJECT, {"duration": None}, Skip("video statement without duration")),
        (xapi.VIDEO_PLAYED, {"id": "https://x.example/podcast/1"}, {"duration": "PT5M"}, Skip("video statement without duration")),
        (xapi.VIDEO_PLAYED, VIDEO_OBJECT, {"duration": "PT0S"}, Skip("no time watched")),
        (xapi.VIEWED, VIDEO_OBJECT, {"duration": "PT25H"}, Reject("result.duration 'PT25H' is more than a day")),
        (xapi.VIEWED, VIDEO_OBJECT, {"duration": 2700}, Reject("result.duration is not text")),
        (xapi.VIEWED, VIDEO_OBJECT, {"duration": "45 minutes"}, Reject("result.duration '45 minutes' is not an ISO 8601 duration (days, hours, minutes, seconds)")),
    ],
)  # fmt: skip
def test_video_statements_that_are_not_counted_as_watching(iri, obj, result, outcome):
    assert parse(verb=verb(iri), object=obj, result=result) == outcome


def test_video_views_without_a_duration_count_as_views_and_a_duration_elsewhere_is_ignored():
    assert (parse(verb=verb(xapi.VIEWED), object=VIDEO_OBJECT).record["source"]) == "vle"
    assert parse(verb=verb(xapi.VIEWED), result={"duration": "PT5M"}).record["quantity"] is None  # a page, not a video


# ---------------------------------------------------------------- course and object


@pytest.mark.parametrize(
    ("context", "obj", "course"),
    [
        ({"contextActivities": {"parent": [{"id": f"{MOODLE}/course/view.php?id=31"}], "grouping": [{"id": f"{MOODLE}/course/view.php?id=12"}]}}, None, "31"),
        ({"contextActivities": {"parent": {"id": f"{MOODLE}/course/view.php?id=31"}}}, None, "31"),  # a single object, as xAPI 1.0 allows
        ({"contextActivities": {"grouping": [{"id": MOODLE}, {"id": f"{MOODLE}/course/view.php?id=12"}]}}, None, "12"),
        ({}, {"id": f"{MOODLE}/course/view.php?id=44"}, "44"),
        ({"extensions": {"http://xapi.jisc.ac.uk/courseArea": {"http://xapi.jisc.ac.uk/uddModInstanceID": "CE101-4-AU-2026",
                                                                "http://xapi.jisc.ac.uk/uddCourseInstanceID": "BSC-CS"}}}, None, "CE101-4-AU-2026"),
        ({"extensions": {"http://xapi.jisc.ac.uk/courseArea": {"http://xapi.jisc.ac.uk/uddCourseInstanceId": "BSC-CS"}}}, None, "BSC-CS"),
        ({"contextActivities": {"grouping": [{"id": "https://learn.essex.ac.uk/courses/_1234_1"}, {"id": "https://x"}]}}, None, "https://learn.essex.ac.uk/courses/_1234_1"),
        ({"contextActivities": {"grouping": [{"id": "g" * 300}]}}, None, "g" * 256),
        ({"contextActivities": {"grouping": "not a list"}}, None, None),
        ({}, None, None),
    ],
)  # fmt: skip
def test_course(context, obj, course):
    event = parse(context={"platform": "Moodle", **context}, object=obj or {"id": "https://x.example/thing"})
    assert event.record["course"] == course


def test_object_ref_is_the_object_id_cut_to_256():
    assert parse(object={"id": "https://x.example/" + "a" * 400}).record["object_ref"] == ("https://x.example/" + "a" * 400)[:256]


# ---------------------------------------------------------------- the file adapter


def test_a_json_array_file_is_read_whole_and_its_elements_numbered(tmp_path):
    path = tmp_path / "statements.json"
    path.write_text(json.dumps([statement(), statement(id=None), 5]))
    got = outcomes(path)
    assert [p for p, _ in got] == ["record 1", "record 2", "record 3"]
    assert got[0][1].record["event_id"] == STATEMENT_ID and got[1][1].record["source_ref"] == "statements.json:record 2"
    assert got[2][1] == Reject("statement is not a JSON object")


def test_a_json_array_larger_than_the_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(json_records, "MAX_ARRAY_BYTES", 100)
    path = tmp_path / "big.json"
    path.write_text(json.dumps([statement()]))
    with pytest.raises(ExportError, match="larger than"):
        outcomes(path)


def test_a_file_that_starts_like_an_array_but_is_not_one_is_refused(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[{"actor": ')
    with pytest.raises(ExportError, match="not JSON"):
        outcomes(path)


def test_xapi_json_lines_are_detected_and_not_taken_by_the_events_adapter(tmp_path):
    path = tmp_path / "statements.jsonl"
    path.write_text(json.dumps(statement()) + "\n" + "garbage\n")
    with open_export(path, "auto") as export:
        got = [(r.line, type(o).__name__) for r, o in export.outcomes()]
    assert export.format == "xapi" and export.label == "xapi (JSON lines)" and got == [(1, "Event"), (2, "Reject")]


@pytest.mark.parametrize(
    "line",
    ['{"event_id": "e1", "student_id": "s1", "source": "vle", "action": "viewed", "event_time": 1795000000000}',
     '{"type": "NavigationEvent", "action": "NavigatedTo", "actor": {"id": "https://example.edu/users/1"}}',
     '{"actor": {"mbox": "mailto:a@b.c"}}', "[1, 2]", "not json", "STUDENT_ID\tEVENT_ID"],
)  # fmt: skip
def test_the_xapi_adapter_refuses_other_formats(line):
    with pytest.raises(NotThisFormat, match="not xAPI statements"):
        Xapi().start(CsvRecord(1, line + "\n", None))


@pytest.mark.parametrize("line", [json.dumps(statement()), "not json", "[1]", '{"student_id": "s1", "source": "vle"}'])
def test_the_events_adapter_refuses_json_lines_that_are_not_events(line):
    with pytest.raises(NotThisFormat, match="event_id"):
        Events().start(CsvRecord(1, line + "\n", None))
    assert Events().start(CsvRecord(1, '{"event_id": "e1"}\n', None)) is False  # real events are still taken


# ---------------------------------------------------------------- noise


JSON_VALUES = NOISE | st.none() | st.integers() | st.floats(allow_nan=True) | st.booleans() | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)


_DROP = object()


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON value (object keys and array indexes), outermost first."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return [prefix] + [path for key, child in children for path in _paths(child, (*prefix, key))]


def _holds(parent: object, key: object) -> bool:
    if isinstance(parent, dict):
        return key in parent
    return isinstance(parent, list) and isinstance(key, int) and key < len(parent)


def _mutate(value: object, changes: list[tuple[tuple, object]]) -> object:
    """``value`` with each change applied: the part at a path replaced by noise, or dropped."""
    value = copy.deepcopy(value)
    for path, new in changes:
        parent = value
        for key in path[:-1]:
            parent = parent[key] if _holds(parent, key) else None  # an earlier change may have removed the path
        if not _holds(parent, path[-1]):
            continue
        if new is _DROP and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = None if new is _DROP else new
    return value


def half_real_json(value: object):
    """A real JSON value with a few of its parts (at any depth) replaced by noise or removed."""
    places = _paths(value)[1:]
    changes = st.lists(st.tuples(st.sampled_from(places), JSON_VALUES | st.just(_DROP)), max_size=4)
    return changes.map(lambda c: _mutate(value, c))


REAL = [json.loads(line) for line in (FIXTURES / "lrs_export.jsonl").read_text().splitlines()[:22]]


@settings(max_examples=400)
@given(st.sampled_from(REAL).flatmap(half_real_json))
def test_half_real_statements_always_have_an_outcome(value):
    outcome = parse_statement(value, site="essex", position="p")
    decided(outcome)
    if isinstance(outcome, Event):
        assert outcome.record["event_id"] and outcome.record["student_id"]
        assert outcome.record["source"] != "lecture_capture" or 0 < outcome.record["quantity"] <= 1440


@settings(max_examples=200)
@given(st.text(max_size=200) | st.sampled_from(REAL).map(json.dumps).map(lambda s: s[: len(s) // 2]))
def test_any_line_has_an_outcome(line):
    decided(Xapi().parse(CsvRecord(1, line, None)))
