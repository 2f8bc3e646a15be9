from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reliability import plan
from schemas.codec import CodecError, default_codec


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    assert plan.schedule(7, 40) == plan.schedule(7, 40)
    assert plan.schedule(7, 40) != plan.schedule(8, 40)


@given(st.integers(0, 10_000), st.integers(4, 60))
def test_every_planned_fault_is_scheduled_within_the_run(seed, chunks):
    faults = plan.schedule(seed, chunks)
    kinds = Counter(f.kind for f in faults)
    assert kinds[plan.KILL_WORKER] == 10 and kinds[plan.KILL_CONSUMER] == 5
    assert kinds[plan.JOIN_WORKER] == kinds[plan.LEAVE_WORKER] == 3
    assert all(0 <= f.after < chunks for f in faults)
    assert faults == sorted(faults, key=lambda f: f.after)
    restarts = [f.after for f in faults if f.kind in (plan.RESTART_KAFKA, plan.RESTART_POSTGRES, plan.RESTART_REDIS)]
    assert len(restarts) == len(set(restarts)) == 3  # one outage at a time


@given(st.integers(0, 10_000), st.integers(4, 60))
def test_a_joined_worker_leaves_at_or_after_its_join(seed, chunks):
    joins = sorted(f.after for f in plan.schedule(seed, chunks) if f.kind == plan.JOIN_WORKER)
    leaves = sorted(f.after for f in plan.schedule(seed, chunks) if f.kind == plan.LEAVE_WORKER)
    assert all(leave > join or leave == chunks - 1 for join, leave in zip(joins, leaves))


def test_too_short_a_run_is_refused():
    with pytest.raises(ValueError, match="at least 4 chunks"):
        plan.schedule(1, 3)


def test_poison_never_decodes_as_an_event():
    codec = default_codec()
    good = [codec.encode("activity_event", {
        "event_id": f"e{i}", "student_id": "s1", "source": "vle", "action": "viewed", "event_time": 1_700_000_000_000 + i,
        "course": None, "object_ref": None, "quantity": None, "attendance_status": None, "source_ref": "r", "amends": None,
    }) for i in range(5)]  # fmt: skip
    made = plan.poison(random.Random(3), good, ["s1", "s2"], 40)
    assert {p.kind for p in made} == {"random bytes", "truncated Avro", "wrong magic", "empty"}
    for message in made:
        with pytest.raises(CodecError):
            codec.decode(message.value, expect="activity_event")
