"""No single record stops a process: arbitrary values in every field, through the events
adapter, the engine and the replay. Each either counts or is rejected with a reason."""

from __future__ import annotations

import json
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers.sources.events import parse_line
from producers.outcome import SOURCES, Event, Reject
from leap.vocabulary import partition_for
from streams.replay import replay
from tests.unit.streams.test_engine import CODEC, LONDON, N, NOW_MS, POLICY, Pipeline

FIELDS = ("event_id", "student_id", "source", "action", "event_time", "course", "object_ref", "quantity", "attendance_status", "source_ref", "amends")
BASE = {
    "event_id": "e1", "student_id": "s1", "source": "lecture_capture", "action": "viewed",
    "event_time": NOW_MS - 3_600_000, "quantity": 12, "course": "C1",
}  # fmt: skip
STATUSES = ("present", "late", "absent", "authorised_absence")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from([*SOURCES, *STATUSES, "1e300", "Infinity", "2026-11-20T10:00:00", "2026-11-20T10:00:00+00:00"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)


def _run_everywhere(record: dict) -> None:
    """One adapter-accepted record through the engine and the replay: no exception, and
    every outcome is counted (applied, duplicate, or a dead letter with its reason)."""
    p = Pipeline()
    p.tick(NOW_MS)
    key = record["student_id"].encode()
    message = p.msg("a", partition_for(key, N), key, CODEC.encode("activity_event", record))
    p.run([message])
    p.tick(NOW_MS + 86_400_000)
    outcomes = p.counts.get("applied", 0) + p.counts.get("duplicate", 0) + p.counts.get("rejected", 0)
    assert outcomes == 1
    assert all(d["reason"] and d["position"] for d in p.dead)
    _, counts = replay(iter([record]), {}, date.fromtimestamp(NOW_MS / 1000), POLICY, LONDON)
    assert counts.read == counts.applied + counts.duplicates + counts.rejected + counts.outside == 1
    assert sum(counts.reasons.values()) == counts.rejected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4), st.sets(st.sampled_from(FIELDS), max_size=2))
def test_any_json_values_in_any_fields_are_an_event_or_a_reasoned_rejection(overrides, removed):
    obj = {k: v for k, v in {**BASE, **overrides}.items() if k not in removed}
    outcome = parse_line(json.dumps(obj), position="f:1")  # NaN and Infinity as JSON allows them
    assert isinstance(outcome, Event | Reject)
    if isinstance(outcome, Reject):
        assert outcome.reason and "\n" not in outcome.reason and len(outcome.reason) <= 300
        return
    _run_everywhere(outcome.record)


avro_valid = st.fixed_dictionaries(
    {
        "event_id": st.text(max_size=12),
        "student_id": st.text(max_size=8),
        "source": st.sampled_from(SOURCES),  # an Avro enum: nothing else can be encoded
        "action": st.text(max_size=5),
        "event_time": st.integers(-(2**63), 2**63 - 1) | st.integers(NOW_MS - 50 * 86_400_000, NOW_MS + 86_400_000),
        "course": st.none() | st.text(max_size=5),
        "object_ref": st.none() | st.text(max_size=5),
        "quantity": st.none() | st.floats(allow_nan=True, allow_infinity=True),
        "attendance_status": st.none() | st.sampled_from(STATUSES),
        "source_ref": st.text(max_size=5),
        "amends": st.none() | st.just("e") | st.text(max_size=5),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(avro_valid)
def test_the_engine_and_replay_survive_records_no_adapter_would_pass(record):
    """A producer that skips every check (or a record written by a buggy one) still cannot
    stop the engine or the replay: the record is dead-lettered with the reason."""
    _run_everywhere(record)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64), st.sampled_from(["a", "r", "c"]))
def test_arbitrary_bytes_on_any_input_topic_are_dead_lettered(raw, topic):
    p = Pipeline()
    p.tick(NOW_MS)
    p.run([p.msg(topic, 0, b"s1", raw)])
    assert p.counts.get("rejected", 0) == 1 and p.dead[0]["reason"]
