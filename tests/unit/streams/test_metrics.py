from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from leap.policy import BAND_ORDER
from streams.metrics import NO_BAND, band_counts, partition_lag, show_lag


def test_band_counts_have_every_band_and_count_unscored_as_none():
    counts = band_counts(["good", "good", None, "very_low"])
    assert counts == {"very_low": 1, "low": 0, "partial": 0, "good": 2, "high": 0, NO_BAND: 1}
    assert band_counts([]) == dict.fromkeys((*BAND_ORDER, NO_BAND), 0)


@given(st.lists(st.sampled_from([*BAND_ORDER, None])))
def test_band_counts_add_up(bands):
    assert sum(band_counts(bands).values()) == len(bands)


def test_lag_is_what_is_left_after_the_last_processed_or_committed_offset():
    highs = {0: 100, 1: 50, 2: 10, 3: 5}
    lag = partition_lag(highs, processed={0: 89, 2: 20}, committed={0: 10, 1: 40})
    # 0: processed wins over committed; 1: committed; 2: never negative; 3: nothing known: all of it.
    assert lag == {0: 10, 1: 10, 2: 0, 3: 5}


def test_show_lag_drops_partitions_no_longer_held():
    shown = show_lag({0: 3, 1: 4}, set())
    assert REGISTRY.get_sample_value("leap_engine_lag", {"partition": "1"}) == 4
    shown = show_lag({0: 0}, shown)
    assert shown == {0}
    assert REGISTRY.get_sample_value("leap_engine_lag", {"partition": "1"}) is None
    assert REGISTRY.get_sample_value("leap_engine_partitions") == 1


def test_read_jumps_are_exported_for_both_outcomes_from_start_up():
    for outcome in ("reread", "gap"):
        assert REGISTRY.get_sample_value("leap_engine_read_jumps_total", {"outcome": outcome}) is not None
