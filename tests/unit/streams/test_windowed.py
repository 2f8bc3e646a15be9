"""The worker's stream: how long a batch may gather is asked before each batch (streams.windowed)."""

from __future__ import annotations

import asyncio
import hashlib
import inspect

import faust
import pytest

from streams.windowed import FAUST_TAKE_EVENTS_SHA256, WindowedStream, behind, gather_window


def test_faust_take_events_is_the_one_whose_wait_the_window_replaces():
    source = inspect.getsource(faust.Stream.take_events)
    assert hashlib.sha256(source.encode()).hexdigest() == FAUST_TAKE_EVENTS_SHA256, (
        "faust's Stream.take_events changed: check that its batch still waits with "
        "self.wait_for_stopped(buffer_full, timeout=...) and nowhere else with a timeout, then update the pin"
    )
    assert source.count("self.wait_for_stopped(") == 1 and "buffer_full, timeout=timeout" in source


def _stream() -> WindowedStream:
    app = faust.App("windowed-test", Stream=WindowedStream, broker="memory://")
    stream = app.stream(app.channel())
    assert isinstance(stream, WindowedStream)
    return stream


def test_a_batch_waits_for_the_window_not_the_within_it_was_started_with():
    async def run() -> list[float]:
        stream = _stream()
        asked: list[float] = []
        stream.window = lambda: asked.append(0.01) or 0.01
        # Never set: only the timeout ends the wait. Without the window it would be 600 s,
        # and wait_for would fail the test after 10.
        await asyncio.wait_for(stream.wait_for_stopped(asyncio.Event(), timeout=600), 10)
        return asked

    assert asyncio.run(run()) == [0.01]


def test_without_a_window_or_a_timeout_faust_waits_as_it_would():
    async def run() -> None:
        stream = _stream()
        stream.window = None
        await asyncio.wait_for(stream.wait_for_stopped(asyncio.Event(), timeout=0.01), 10)
        stream.window = lambda: 0.01
        with pytest.raises(asyncio.TimeoutError):  # no timeout given: the window does not add one
            await asyncio.wait_for(stream.wait_for_stopped(asyncio.Event()), 0.2)

    asyncio.run(run())


def test_the_gather_window_is_long_only_while_behind():
    behind = [False]
    window = gather_window(0.1, 1.0, lambda: behind[0])
    assert window() == 0.1
    behind[0] = True
    assert window() == 1.0


def test_a_failing_question_gives_the_short_window_and_a_long_one_never_shortens_the_configured():
    def fails() -> bool:
        raise AssertionError("partition not assigned")  # aiokafka's highwater on a revoked partition

    assert gather_window(0.1, 1.0, fails)() == 0.1
    assert gather_window(2.0, 1.0, lambda: True)() == 2.0


def test_behind_counts_only_partitions_whose_position_is_known():
    assert behind({0: 5000}, {0: 100}, 1000) and not behind({0: 1101}, {0: 100}, 1000)
    assert behind({0: 1102, 1: 50}, {0: 100, 1: 49}, 1000)
    # Nothing processed here yet, or no high water known yet: not behind.
    assert not behind({0: 10**6}, {}, 1000) and not behind({}, {1: 5}, 1000) and not behind({}, {}, 1000)
