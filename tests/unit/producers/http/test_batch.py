"""One request body judged: all or nothing, each bad item named, sources kept to their client."""

from __future__ import annotations

import uuid

from producers.http import batch
from producers.http.clients import Client
from producers.outcome import Event, Reject, Skip, activity
from producers.sources.events import parse_event

CLIENT = Client("timetabling", "events", frozenset({"attendance"}), "0" * 64)
XAPI = Client("moodle", "xapi", frozenset({"vle"}), "0" * 64)


def event(i: int, source: str = "attendance") -> dict:
    return {"event_id": f"e{i}", "student_id": "2300001", "source": source, "action": "tap", "event_time": 1_795_000_000_000,
            "attendance_status": "present" if source == "attendance" else None}  # fmt: skip


def parse(item, index):
    return parse_event(item, position=f"event {index}")


def test_good_events_are_all_published():
    verdict = batch.events_verdict([event(1), event(2)], CLIENT, parse)
    assert verdict.status == 200 and [e.record["event_id"] for e in verdict.events] == ["e1", "e2"] and not verdict.rejected


def test_bad_items_are_named_and_dead_lettered_while_the_good_ones_are_taken():
    bad = {**event(2), "source": "gym"}
    verdict = batch.events_verdict([event(1), bad, "x", event(3)], CLIENT, parse)
    assert verdict.status == 400 and [e.record["event_id"] for e in verdict.events] == ["e1", "e3"] and verdict.accepted == [0, 3]
    assert [e["index"] for e in verdict.errors] == [1, 2] and "gym" in verdict.errors[0]["reason"]
    assert [(i, item) for i, item, _ in verdict.rejected] == [(1, bad), (2, "x")]  # to the dead letters


def test_a_client_cannot_write_another_source():
    verdict = batch.events_verdict([event(1), event(2, "vle"), "bad"], CLIENT, parse)
    assert verdict.status == 403 and verdict.events == verdict.accepted == verdict.rejected == [] and "may not write vle" in verdict.errors[0]["reason"]


def test_empty_and_oversized_bodies_are_refused():
    assert batch.events_verdict([], CLIENT, parse).status == 400
    assert batch.events_verdict([event(i) for i in range(batch.MAX_ITEMS + 1)], CLIENT, parse).status == 400


def statement_parse(item, index):
    if not isinstance(item, dict) or "verb" not in item:
        return Reject("no verb")
    if item["verb"] == "skip":
        return Skip("verb not counted")
    return activity(reference=str(item.get("id")), student_id="1046", identity="moodle_user_id", source="vle", action="viewed",
                    event_time_ms=1_795_000_000_000, source_ref="s")  # fmt: skip


def test_statement_ids_are_answered_given_or_derived_and_stable():
    given = str(uuid.uuid4())
    statements = [{"id": given.upper(), "verb": "v"}, {"verb": "skip"}]
    verdict = batch.xapi_verdict(statements, XAPI, statement_parse)
    assert verdict.status == 200 and verdict.ids[0] == given and verdict.skipped == {"verb not counted": 1}
    assert batch.xapi_verdict(statements, XAPI, statement_parse).ids == verdict.ids  # derived ids come from the content


def test_a_statement_without_an_id_is_parsed_with_the_id_answered_so_its_event_id_is_that_id():
    from producers.sources.xapi import parse_statement

    statement = {"actor": {"mbox": "mailto:ann@example.ac.uk"}, "verb": {"id": "https://brindlewaye.com/xAPITerms/verbs/loggedin"},
                 "object": {"id": "https://vle.example.ac.uk"}, "timestamp": "2026-11-20T10:00:00Z"}  # fmt: skip
    verdict = batch.xapi_verdict(statement, XAPI, lambda item, i: parse_statement(item, position=f"statement {i}"))
    assert verdict.status == 200 and [e.record["event_id"] for e in verdict.events] == verdict.ids


def test_a_batch_repeating_a_statement_id_is_refused():
    same = str(uuid.uuid4())
    verdict = batch.xapi_verdict([{"id": same, "verb": "v"}, {"id": same, "verb": "v"}], XAPI, statement_parse)
    assert verdict.status == 400 and "appears 2 times" in verdict.errors[0]["reason"]


def test_a_put_takes_its_id_from_the_query_and_refuses_a_different_one():
    sid = str(uuid.uuid4())
    verdict = batch.xapi_verdict({"verb": "v"}, XAPI, statement_parse, put_id=sid)
    assert verdict.status == 200 and verdict.ids == [sid]
    assert batch.xapi_verdict({"id": str(uuid.uuid4()), "verb": "v"}, XAPI, statement_parse, put_id=sid).status == 400
    assert batch.xapi_verdict({"verb": "v"}, XAPI, statement_parse, put_id="nope").status == 400
    assert batch.xapi_verdict([{"verb": "v"}], XAPI, statement_parse, put_id=sid).status == 400


def test_a_caliper_body_that_is_not_an_envelope_is_refused_with_the_reason():
    verdict = batch.caliper_verdict({"foo": 1}, XAPI, statement_parse, lambda body: "not a Caliper envelope: no data array")
    assert verdict.status == 400 and verdict.errors == [{"reason": "not a Caliper envelope: no data array"}] and verdict.rejected
    ok = batch.caliper_verdict({"data": [{"verb": "v"}]}, XAPI, statement_parse, lambda body: body["data"])
    assert ok.status == 200 and isinstance(ok.events[0], Event)


def test_an_empty_caliper_envelope_is_a_heartbeat_not_an_error():
    verdict = batch.caliper_verdict({"sensor": "s", "sendTime": "t", "dataVersion": "v", "data": []}, XAPI, statement_parse, lambda body: body["data"])
    assert verdict.status == 200 and verdict.events == [] and verdict.rejected == []
