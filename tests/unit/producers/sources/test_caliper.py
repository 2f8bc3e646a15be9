"""IMS Caliper events: every rule of ``producers.sources.caliper``, its fixtures event by event, and noise."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.exports import open_export
from producers.outcome import CsvRecord, Event, Reject, Skip, event_id
from producers.sources import NotThisFormat
from producers.sources.caliper import Caliper, event_person, expand_envelopes, parse_envelope, parse_event
from tests.unit.producers.sources.test_xapi import half_real_json
from tests.unit.producers.test_fuzz import decided

FIXTURES = Path(__file__).parents[3] / "fixtures" / "sources" / "caliper"
EVENT_ID = "1bf3c7fd-0436-4aae-8a79-6c12f0c6fe91"
CANVAS_COURSE = "urn:instructure:canvas:course:21070000000000565"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def caliper_event(**overrides: object) -> dict:
    """A Caliper 1.2 ViewEvent by a student; override any key (None drops it)."""
    body = {
        "@context": "http://purl.imsglobal.org/ctx/caliper/v1p2",
        "id": f"urn:uuid:{EVENT_ID}",
        "type": "ViewEvent",
        "actor": {"id": "https://example.edu/users/554433", "type": "Person"},
        "action": "Viewed",
        "object": {"id": "https://example.com/#/texts/imscaliperimplguide", "type": "Document"},
        "eventTime": "2026-11-15T10:15:00.000Z",
        "group": {"id": "https://example.edu/terms/201801/courses/7/sections/1", "type": "CourseSection", "courseNumber": "CPS 435-01"},
        "membership": {"id": "https://example.edu/terms/201801/courses/7/sections/1/rosters/1", "type": "Membership", "roles": ["Learner"]},
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def parse(**overrides: object):
    return parse_event(caliper_event(**overrides), site="essex", position="events.jsonl:3")


def envelope(*events: object) -> dict:
    return {"sensor": "https://essex.instructure.com/", "sendTime": "2026-10-06T14:02:45.503Z", "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p1", "data": list(events)}


def outcomes(path: Path, fmt: str = "caliper") -> list[tuple[str, object]]:
    with open_export(path, fmt) as export:
        return [(record.position, outcome) for record, outcome in export.outcomes()]


def record(eid, student, source, action, when, *, course=None, object_ref=None, source_ref=None):
    return {
        "event_id": eid, "student_id": student, "source": source, "action": action, "event_time": ms(when), "course": course,
        "object_ref": object_ref, "quantity": None, "attendance_status": None,
        "source_ref": source_ref or f"caliper:caliper:event:{eid}", "amends": None,
    }  # fmt: skip


# ---------------------------------------------------------------- the fixtures, event by event

CANVAS = [
    ("line 1", "username", record("e2d09110-bbfa-49da-91a8-4e2161ebd218", "ab23456", "vle", "viewed", "2026-10-05T09:20:13.880+00:00",
                                  course=CANVAS_COURSE, object_ref="urn:instructure:canvas:assignment:21070000000000144")),
    ("line 1", "username", record("3e546e43-c2a5-42b8-a283-0ecb1da744c1", "ab23456", "vle", "logged_in", "2026-10-05T09:18:01.335+00:00",
                                  object_ref="https://essex.instructure.com/")),
    ("line 1", "username", record("f71f2f1d-351f-4a73-8afc-e2e9796a69d3", "ab23456", "coursework", "submitted", "2026-10-06T14:02:44.388+00:00",
                                  course=CANVAS_COURSE, object_ref="urn:instructure:canvas:submission:21070000013995723")),
    ("line 2", "username", record("6ffb2a5f-6e52-4fd5-be60-f8f33b4140c6", "21070000000001051", "vle", "viewed", "2026-10-06T16:00:00.412+00:00",
                                  course=CANVAS_COURSE, object_ref="urn:instructure:canvas:wikiPage:21070000000000091")),
    ("line 4", None, Skip("actor is not a person")),
    ("line 5", None, Skip("session ended")),
    ("line 6", None, Skip("not a learner")),
    ("line 7", None, Reject("eventTime is missing")),
    ("line 8", None, Reject("Caliper envelope data is not an array")),
]  # fmt: skip

SECTION = "CPS 435-01"
PLAIN = [
    ("line 1", "username", record(EVENT_ID, "554433", "vle", "viewed", "2026-11-15T10:15:00+00:00", course=SECTION, object_ref="https://example.com/#/texts/imscaliperimplguide")),
    ("line 2", "username", record("f751440c-53c4-4cef-bba2-1fac9f63e318", "554433", "vle", "started", "2026-11-15T10:15:00+00:00", course=SECTION,
                                  object_ref="https://example.edu/terms/201801/courses/7/sections/1/assess/1")),
    ("line 3", "username", record("605f1a14-69ae-408f-b074-6a98d94efde3", "554433", "coursework", "submitted", "2026-11-15T10:25:30+00:00", course=SECTION,
                                  object_ref="https://example.edu/terms/201801/courses/7/sections/1/assign/2")),
    ("line 4", "email", None),  # no id: checked below
    ("line 5", None, Skip("actor is not a person")),
    ("line 6", None, Skip("media event")),
    ("line 7", None, Skip("not counted")),
    ("line 8", None, Reject("id 'event-88213' is not a urn:uuid")),
    ("line 9", None, Reject("eventTime '2026-11-15' is not an ISO 8601 date and time")),
    ("line 10", None, Reject("not JSON: Expecting value (column 1)")),
]  # fmt: skip


@pytest.mark.parametrize(("name", "expected"), [("canvas_live_events.jsonl", CANVAS), ("caliper_events.jsonl", PLAIN)])
def test_the_fixtures_event_by_event(name, expected):
    got = outcomes(FIXTURES / name)
    assert [position for position, _ in got] == [where for where, _, _ in expected]
    for (_, outcome), (where, identity, wanted) in zip(got, expected):
        if identity is None:
            assert outcome == wanted, where
        elif wanted is not None:
            assert isinstance(outcome, Event) and outcome.identity == identity and outcome.record == wanted, where


def test_an_event_without_an_id_gets_one_from_its_content_and_its_position_as_reference():
    line = (FIXTURES / "caliper_events.jsonl").read_text().splitlines()[3]
    (_, event) = outcomes(FIXTURES / "caliper_events.jsonl")[3]
    assert event.identity == "email" and event.record["student_id"] == "cd34567@essex.ac.uk"
    assert event.record["source"] == "vle" and event.record["action"] == "logged_in" and event.record["course"] is None
    assert event.record["event_id"] == event_id("caliper:caliper:" + json.dumps(json.loads(line), sort_keys=True, separators=(",", ":")))
    assert event.record["source_ref"] == "caliper_events.jsonl:4"


def test_reading_twice_gives_the_same_events_and_detection_picks_caliper():
    for name in ("canvas_live_events.jsonl", "caliper_events.jsonl"):
        assert outcomes(FIXTURES / name) == outcomes(FIXTURES / name) == outcomes(FIXTURES / name, "auto")


# ---------------------------------------------------------------- envelopes


def test_parse_envelope_returns_the_events():
    assert parse_envelope(envelope(caliper_event(), 5)) == [caliper_event(), 5]
    assert parse_envelope(envelope()) == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([caliper_event()], "not a Caliper envelope: expected a JSON object with sensor, sendTime, dataVersion and data"),
        ("text", "not a Caliper envelope: expected a JSON object with sensor, sendTime, dataVersion and data"),
        ({"data": []}, "not a Caliper envelope: no sensor, sendTime, dataVersion"),
        ({k: v for k, v in envelope().items() if k != "data"}, "not a Caliper envelope: no data"),
        ({**envelope(), "data": {"type": "ViewEvent"}}, "Caliper envelope data is not an array"),
        (caliper_event(), "not a Caliper envelope: no sensor, sendTime, dataVersion, data"),
    ],
)  # fmt: skip
def test_parse_envelope_names_what_is_wrong(body, problem):
    assert parse_envelope(body) == problem


def test_envelope_lines_are_expanded_with_their_line_number_and_other_lines_kept():
    lines = [
        CsvRecord(1, json.dumps(envelope(caliper_event(), caliper_event(id=None))) + "\n", None),
        CsvRecord(2, json.dumps(caliper_event()) + "\n", None),
        CsvRecord(3, json.dumps(envelope()) + "\n", None),
        CsvRecord(4, "{broken\n", None),
        CsvRecord(5, "\ufffd", None, "not valid UTF-8 text"),
    ]
    got = list(expand_envelopes(lines))
    assert [r.line for r in got] == [1, 1, 2, 4, 5]
    assert json.loads(got[0].raw) == caliper_event() and json.loads(got[1].raw) == caliper_event(id=None)
    assert got[2:] == lines[1:2] + lines[3:]


def test_an_envelope_handed_to_parse_is_rejected_not_mistaken_for_an_event():
    adapter = Caliper()
    assert adapter.parse(CsvRecord(1, json.dumps(envelope(caliper_event())), None)) == Reject("an envelope read as one event (expand it with parse_envelope)")
    assert parse_event(envelope(caliper_event()), position="p") == Reject("type is missing or not text")


# ---------------------------------------------------------------- ids and times


@pytest.mark.parametrize(
    ("value", "expected"),
    [(f"urn:uuid:{EVENT_ID}", EVENT_ID), (f"URN:UUID:{EVENT_ID.upper()}", EVENT_ID), ("f8c984e2-de73-4c0b-8183-779ab4149422", "f8c984e2-de73-4c0b-8183-779ab4149422")],
)  # fmt: skip
def test_the_caliper_id_is_the_event_id(value, expected):
    event = parse(id=value)
    assert event.record["event_id"] == expected and event.record["source_ref"] == f"caliper:essex:event:{expected}"


@pytest.mark.parametrize(
    ("value", "reason"),
    [(42, "id is not text"), ("urn:uuid:nope", "id 'urn:uuid:nope' is not a urn:uuid"), ("https://example.edu/events/1", "id 'https://example.edu/events/1' is not a urn:uuid")],
)  # fmt: skip
def test_bad_ids_are_rejected(value, reason):
    assert parse(id=value) == Reject(reason)


def test_without_an_id_the_event_id_depends_on_content_and_site():
    body = caliper_event(id=None)
    first = parse_event(body, site="essex", position="a")
    assert first.record["event_id"] == parse_event(dict(reversed(list(body.items()))), site="essex", position="b").record["event_id"]
    assert first.record["event_id"] != parse_event(body, site="other", position="a").record["event_id"]
    assert first.record["event_id"] != parse_event({**body, "eventTime": "2026-11-15T10:15:01.000Z"}, site="essex", position="a").record["event_id"]
    assert first.record["source_ref"] == "a"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2026-11-15T10:15:00.000Z", "2026-11-15T10:15:00+00:00"), ("2026-11-15T10:15:00.123456Z", "2026-11-15T10:15:00.123456+00:00"),
     ("2026-11-15T11:15:00+01:00", "2026-11-15T10:15:00+00:00"), ("2026-11-15T10:15:00", "2026-11-15T10:15:00+00:00")],
)  # fmt: skip
def test_event_times(value, expected):
    assert parse(eventTime=value).record["event_time"] == ms(expected)


@pytest.mark.parametrize(
    ("value", "reason"),
    [(None, "eventTime is missing"), (1794737700000, "eventTime is not text"), ("15/11/2026 10:15", "eventTime '15/11/2026 10:15' is not an ISO 8601 date and time"),
     ("1970-01-01T00:00:00Z", "eventTime '1970-01-01T00:00:00Z' is not a plausible time (2000-2099)")],
)  # fmt: skip
def test_bad_event_times_are_rejected(value, reason):
    assert parse(eventTime=value) == Reject(reason)


# ---------------------------------------------------------------- the person


CANVAS_ACTOR = {"id": "urn:instructure:canvas:user:21070000000001046", "type": "Person",
                "extensions": {"com.instructure.canvas": {"user_login": "ab23456", "user_sis_id": "2300001", "entity_id": "21070000000001046"}}}  # fmt: skip


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        ({"id": "https://example.edu/users/554433", "type": "Person"}, ("username", "554433")),
        ({"id": "https://example.edu/users/554433/", "type": "Person"}, ("username", "554433")),
        ({"id": "https://example.edu/users/jo%2Esmith?x=1"}, ("username", "jo.smith")),
        ("https://example.edu/users/554433", ("username", "554433")),
        ({"id": "mailto:CD34567@essex.ac.uk", "type": "Person"}, ("email", "CD34567@essex.ac.uk")),
        (CANVAS_ACTOR, ("username", "ab23456")),
        ({**CANVAS_ACTOR, "extensions": {"com.instructure.canvas": {"user_login": " "}}}, ("username", "21070000000001046")),
        ({"id": "https://bb.example/users/ffc08009f0884c059192bac549e117b2", "type": "Person", "extensions": {"bb:user.id": "_1_1", "bb:user.externalId": "cd34567"}},
         ("username", "cd34567")),
    ],
)  # fmt: skip
def test_actor_identity(actor, expected):
    assert event_person(actor) == expected
    event = parse(actor=actor)
    assert (event.identity, event.record["student_id"]) == expected


@pytest.mark.parametrize(
    ("actor", "outcome"),
    [
        ({"id": "https://essex.instructure.com/", "type": "SoftwareApplication"}, Skip("actor is not a person")),
        ({"id": "https://example.edu/orgs/1", "type": "Organization"}, Skip("actor is not a person")),
        (None, Reject("actor is missing or not an object")),
        (5, Reject("actor is missing or not an object")),
        ({"type": "Person"}, Reject("actor.id is missing or not text")),
        ({"id": "  ", "type": "Person"}, Reject("actor.id is missing or not text")),
        ({"id": "https://example.edu", "type": "Person"}, Reject("actor.id 'https://example.edu' has no user id as its last path segment")),
        ({"id": "https://example.edu/users/jo%20smith", "type": "Person"}, Reject("actor.id 'https://example.edu/users/jo%20smith' has no user id as its last path segment")),
        ({"id": "urn:example:user:", "type": "Person"}, Reject("actor.id 'urn:example:user:' has no user id as its last path segment")),
        ({"id": "mailto:nobody", "type": "Person"}, Reject("actor.id is not a mailto: address")),
        ({"id": "http://[::1/users/7", "type": "Person"}, Reject("actor.id 'http://[::1/users/7' is not an IRI")),
    ],
)  # fmt: skip
def test_actors_that_name_no_student(actor, outcome):
    assert parse(actor=actor) == outcome


@pytest.mark.parametrize(
    ("roles", "outcome"),
    [(["Learner"], Event), (["Learner#ExternalLearner"], Event), (["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"], Event),
     ([], Event), (None, Event), (["Instructor"], Skip), (["Instructor#TeachingAssistant", "Administrator"], Skip), (["Mentor", "Learner"], Event)],
)  # fmt: skip
def test_only_learners_count(roles, outcome):
    membership = None if roles is None else {"id": "m", "type": "Membership", "roles": roles}
    got = parse(membership=membership)
    assert isinstance(got, outcome) and (outcome is Event or got == Skip("not a learner"))


# ---------------------------------------------------------------- what counts


@pytest.mark.parametrize(
    ("kind", "action", "expected"),
    [
        ("NavigationEvent", "NavigatedTo", ("vle", "viewed")),
        ("ViewEvent", "Viewed", ("vle", "viewed")),
        ("SessionEvent", "LoggedIn", ("vle", "logged_in")),
        ("AssessmentEvent", "Submitted", ("coursework", "submitted")),
        ("AssignableEvent", "Submitted", ("coursework", "submitted")),
        ("AssessmentEvent", "Started", ("vle", "started")),
        ("NavigationEvent", "http://purl.imsglobal.org/vocab/caliper/v1/action#NavigatedTo", ("vle", "viewed")),
        ("http://purl.imsglobal.org/caliper/NavigationEvent", "NavigatedTo", ("vle", "viewed")),
    ],
)
def test_counted_pairs(kind, action, expected):
    event = parse(type=kind, action=action)
    assert isinstance(event, Event) and (event.record["source"], event.record["action"]) == expected


@pytest.mark.parametrize(
    ("kind", "action", "reason"),
    [
        ("SessionEvent", "LoggedOut", "session ended"),
        ("SessionEvent", "TimedOut", "session ended"),
        ("MediaEvent", "Started", "media event"),
        ("MediaEvent", "Ended", "media event"),
        ("MediaEvent", "Resumed", "media event"),
        ("AssessmentEvent", "Paused", "not counted"),
        ("AssignableEvent", "Started", "not counted"),
        ("GradeEvent", "Graded", "not counted"),
        ("ViewEvent", "NavigatedTo", "not counted"),
        ("Event", "Viewed", "not counted"),
    ],
)
def test_skipped_pairs(kind, action, reason):
    assert parse(type=kind, action=action) == Skip(reason)


@pytest.mark.parametrize(("name", "value"), [("type", None), ("type", 3), ("action", ""), ("action", None)])
def test_type_and_action_are_required(name, value):
    assert parse(**{name: value}) == Reject(f"{name} is missing or not text")


@pytest.mark.parametrize("value", [[], "ViewEvent", 7, None])
def test_an_event_that_is_not_an_object_is_rejected(value):
    assert parse_event(value, position="p") == Reject("event is not a JSON object")


@pytest.mark.parametrize(
    ("group", "obj", "course", "object_ref"),
    [
        ({"id": "https://example.edu/sections/1", "courseNumber": "CPS 435-01"}, {"id": "https://example.edu/x"}, "CPS 435-01", "https://example.edu/x"),
        ({"id": CANVAS_COURSE, "type": "CourseOffering"}, "https://example.edu/y", CANVAS_COURSE, "https://example.edu/y"),
        ({"id": "https://example.edu/sections/1", "courseNumber": ""}, {"type": "Document"}, "https://example.edu/sections/1", None),
        ("https://example.edu/sections/2", {"id": "z" * 300}, "https://example.edu/sections/2", "z" * 256),
        (None, None, None, None),
    ],
)  # fmt: skip
def test_course_and_object(group, obj, course, object_ref):
    event = parse(group=group, object=obj)
    assert (event.record["course"], event.record["object_ref"]) == (course, object_ref)


# ---------------------------------------------------------------- detection


@pytest.mark.parametrize(
    "line",
    ['{"event_id": "e1", "student_id": "s1", "source": "vle", "action": "viewed", "event_time": 1795000000000}',
     '{"actor": {"mbox": "mailto:a@b.c"}, "verb": {"id": "x"}, "object": {"id": "y"}}',
     '{"mediapackageId": "m", "type": "FOOTPRINT", "inpoint": 0, "outpoint": 10}', '{"sensor": "s"}', "[1]", "not json"],
)  # fmt: skip
def test_the_caliper_adapter_refuses_other_formats(line):
    with pytest.raises(NotThisFormat, match="not Caliper"):
        Caliper().start(CsvRecord(1, line + "\n", None))


def test_an_envelope_whose_data_is_broken_still_starts_the_file_so_it_is_rejected_in_place():
    broken = {**envelope(), "data": "none"}
    assert Caliper().start(CsvRecord(1, json.dumps(broken), None)) is False


# ---------------------------------------------------------------- noise


REAL = [json.loads(line) for line in (FIXTURES / "caliper_events.jsonl").read_text().splitlines()[:9]]
REAL += parse_envelope(json.loads((FIXTURES / "canvas_live_events.jsonl").read_text().splitlines()[0]))


@settings(max_examples=400)
@given(st.sampled_from(REAL).flatmap(half_real_json))
def test_half_real_events_always_have_an_outcome(value):
    outcome = parse_event(value, site="essex", position="p")
    decided(outcome)
    if isinstance(outcome, Event):
        assert outcome.record["event_id"] and outcome.record["student_id"]


@settings(max_examples=200)
@given(st.sampled_from(REAL).flatmap(half_real_json).map(lambda e: envelope(e)) | st.text(max_size=200))
def test_any_line_has_outcomes(value):
    line = value if isinstance(value, str) else json.dumps(value)
    for item in expand_envelopes([CsvRecord(1, line, None)]):
        decided(Caliper().parse(item))
