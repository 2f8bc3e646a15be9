from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from consumers.metrics import MAX_REASONS, OTHER, events_by_source, reason_label, start_series
from leap.policy import SOURCES


def test_events_by_source_sums_the_days_of_each_source():
    volumes = {("vle", date(2026, 11, 2)): 5, ("vle", date(2026, 11, 3)): 7, ("attendance", date(2026, 11, 2)): 1}
    assert events_by_source(volumes) == {"vle": 12, "attendance": 1}
    assert events_by_source({}) == {}


def test_reason_labels_group_by_kind_not_value():
    seen: dict[str, set[str]] = {}
    first = reason_label("moodle", "timecreated '1700000000x' is not a number", seen)
    second = reason_label("moodle", "timecreated '12' is not a number", seen)
    assert first == second == "timecreated … is not a number"


@given(st.lists(st.text(min_size=1, max_size=300), min_size=1, max_size=80))
def test_reason_labels_are_bounded_per_rejecter(reasons):
    seen: dict[str, set[str]] = {}
    labels = {reason_label("engine", r, seen) for r in reasons}
    assert len(labels - {OTHER}) <= MAX_REASONS
    assert all(len(label) <= 120 for label in labels)
    # Other rejecters keep their own allowance.
    assert reason_label("consumer", "a reason", seen) == "a reason"


def test_every_source_and_known_rejecter_has_series_from_start_up():
    start_series()
    for source in SOURCES:
        assert REGISTRY.get_sample_value("leap_source_outage", {"source": source}) == 0
        assert REGISTRY.get_sample_value("leap_source_events_total", {"source": source}) == 0
    assert REGISTRY.get_sample_value("leap_dead_letters_total", {"source": "engine", "reason": OTHER}) == 0
