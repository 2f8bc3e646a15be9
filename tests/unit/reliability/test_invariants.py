from __future__ import annotations

from types import SimpleNamespace

from leap.policy import Engagement
from reliability.invariants import band_changes_once, events_held, explanation_differences, no_event_lost, one_alert_per_episode, states_equal_replay

POLICY = Engagement()


def test_states_equal_the_replay_or_say_who_differs():
    expected = {"a": SimpleNamespace(score=71.5, band="good"), "b": SimpleNamespace(score=None, band="no_data")}
    assert states_equal_replay({"a": {"score": 71.5, "band": "good"}, "b": {"score": None, "band": "no_data"}}, expected, POLICY).held
    check = states_equal_replay({"a": {"score": 71.5, "band": "high"}}, expected, POLICY)
    assert not check.held and "a: band high != replay good" in check.detail and "b: no state" in check.detail
    assert not states_equal_replay({"a": {"score": 70.0, "band": "good"}, "b": {"score": None, "band": "no_data"}}, expected, POLICY).held


def test_a_band_change_delivered_twice_is_stored_once():
    assert band_changes_once(["c1", "c2", "c1"], ["c1", "c2"]).held
    assert "missing c2" in band_changes_once(["c1", "c2"], ["c1"]).detail
    assert "stored 2 times: c1" in band_changes_once(["c1"], ["c1", "c1"]).detail
    assert "not published: c9" in band_changes_once(["c1"], ["c1", "c9"]).detail


def test_one_alert_per_episode_and_once_on_its_stream():
    alerts = [("s1", "drop", "e1"), ("s1", "drop", "e2"), ("s2", "no_engagement", "e1")]
    statuses = {"a1": "new", "a2": "acknowledged", "a3": "dropped"}
    assert one_alert_per_episode(alerts, ["a1", "a2"], statuses).held
    assert not one_alert_per_episode([*alerts, ("s1", "drop", "e1")], ["a1", "a2"], statuses).held
    assert "on its stream 2 times" in one_alert_per_episode(alerts, ["a1", "a1", "a2"], statuses).detail
    assert "unknown alert zz" in one_alert_per_episode(alerts, ["a1", "a2", "zz"], statuses).detail
    nothing = one_alert_per_episode([], [], {})
    assert not nothing.held and "tested nothing" in nothing.detail


def test_a_raised_alert_is_delivered_and_a_held_or_dropped_one_never():
    alerts = [("s1", "drop", "e1"), ("s2", "drop", "e1")]
    lost = one_alert_per_episode(alerts, ["a1"], {"a1": "new", "a2": "new"})
    assert not lost.held and "raised alert a2 on no stream" in lost.detail
    leaked = one_alert_per_episode(alerts, ["a1", "a2"], {"a1": "new", "a2": "held"})
    assert not leaked.held and "held alert a2 on a stream" in leaked.detail
    assert "1 raised" in one_alert_per_episode(alerts, ["a1"], {"a1": "dismissed", "a2": "dropped"}).detail


def test_every_event_sent_is_applied_or_dead_lettered():
    assert no_event_lost({"vle": 10, "poison": 3}, {"vle": 8}, {"vle": 2, "poison": 3}).held
    check = no_event_lost({"vle": 10}, {"vle": 8}, {"vle": 1})
    assert not check.held and "vle: sent 10 != applied 8 + dead-lettered 1" in check.detail


def test_a_post_mortem_lists_only_the_explanation_fields_that_differ_for_students_whose_score_does():
    expected = {
        "a": SimpleNamespace(score=50.0, band="partial", explanation={"baseline_day": "2026-12-05", "window": 7, "sources": [1]}),
        "b": SimpleNamespace(score=60.0, band="good", explanation={"window": 7}),
    }
    states = {
        "a": {"score": 47.0, "day": 3, "explanation": '{"baseline_day": "2026-12-04", "window": 7, "sources": [1]}'},
        "b": {"score": 60.0, "explanation": '{"window": 6}'},  # same score: not listed
    }
    found = explanation_differences(states, expected)
    assert found == {"a": {"engine": {"score": 47.0, "day": 3, "baseline_day": "2026-12-04"}, "replay": {"score": 50.0, "baseline_day": "2026-12-05"}}}


def test_an_event_missing_from_the_engine_s_state_is_lost_whatever_the_counts_say():
    expected = {"a": {1, 2, 3}, "b": {4}}
    assert events_held(expected, {"a": {1, 2, 3, 9}, "b": {4}}).held
    check = events_held(expected, {"a": {1, 3}})
    assert not check.held
    assert check.detail.startswith("2 of 4 events") and "a: 1 of 3" in check.detail and "b: 1 of 1" in check.detail
