"""The engine-core benchmark runs the worker's core over every event of a small university."""

from __future__ import annotations

from datetime import datetime

from benchmarks.engine_core import measure_files
from leap.settings import Settings
from producers.simulate import simulate


def test_the_core_benchmark_times_every_event_of_a_small_university(tmp_path):
    settings = Settings()
    counts = simulate(tmp_path, students=40, days=3, seed=5, end=datetime.now(settings.tz), tz=settings.tz, holiday_week=False)
    figures = measure_files(tmp_path, settings)
    assert figures.events == counts.events > 100
    assert figures.seconds_handle > 0 and figures.seconds_encode > 0
    assert figures.events_per_s == figures.events / (figures.seconds_handle + figures.seconds_encode)
    assert set(figures.us_per_event) == {"handle", "encode"}


def test_the_core_benchmark_times_one_live_event_for_every_student_it_holds(tmp_path):
    settings = Settings()
    simulate(tmp_path, students=40, days=3, seed=5, end=datetime.now(settings.tz), tz=settings.tz, holiday_week=False)
    live = measure_files(tmp_path, settings).live
    assert live is not None and live.events == 40  # the roster's 40 students, one event each
    assert live.seconds_handle > 0 and live.seconds_encode > 0
