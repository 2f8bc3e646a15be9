"""The consumer's side of erasure: a batch without erased students, and their keys to tombstone again."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from consumers.core import Batch, without_students

IDS = ["s1", "s2", "s3", "s4"]


@st.composite
def batches(draw) -> Batch:
    roster = [(sid, draw(st.sampled_from([None, {"student_id": sid, "status": "withdrawn"}]))) for sid in draw(st.lists(st.sampled_from(IDS), max_size=6))]
    states = {sid: {"student_id": sid, "band": "low"} for sid in draw(st.sets(st.sampled_from(IDS)))}
    summaries = [{"student_id": sid, "day": 1} for sid in draw(st.lists(st.sampled_from(IDS), max_size=5))]
    changes = [{"student_id": sid, "change_id": str(n)} for n, sid in enumerate(draw(st.lists(st.sampled_from(IDS), max_size=5)))]
    return Batch(roster=roster, states=states, summaries=summaries, changes=changes, volumes={("vle", date(2026, 11, 1)): 3})


@given(batches(), st.sets(st.sampled_from(IDS)))
def test_nothing_about_an_erased_student_is_left_and_everyone_else_is_untouched(batch, erased):
    kept, again = without_students(batch, erased)
    assert kept.students() == batch.students() - erased
    assert kept.roster == [(s, e) for s, e in batch.roster if s not in erased]
    assert kept.summaries == [s for s in batch.summaries if s["student_id"] not in erased]
    assert kept.changes == [c for c in batch.changes if c["student_id"] not in erased]
    assert kept.states == {s: v for s, v in batch.states.items() if s not in erased}
    assert kept.volumes == batch.volumes  # aggregates, not about anyone
    assert again.get("student-state", set()) == set(batch.states) & erased
    assert again.get("roster", set()) == {s for s, e in batch.roster if e is not None} & erased
    assert all(again.values())


def test_without_erased_students_the_batch_is_the_same_object():
    batch = Batch(states={"s1": {"student_id": "s1"}})
    assert without_students(batch, set()) == (batch, {})
