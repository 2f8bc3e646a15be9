"""A faust stream whose batches gather for longer while the worker is behind (issue 12).

faust's ``Stream.take_events(max_, within)`` ends a batch when ``max_`` events are in or
``within`` seconds have passed. The engine reads with a short window, so a band change goes
out a fraction of a second after its activity. In a backlog that window, not ``max_``, ends
every batch: faust hands events over only while the agent is not processing, about 2,700 in
0.1 s here, and each batch then costs a state write per student it touches, two waits for
Kafka and the batch's bookkeeping. Batches of 10,000 read a 2,000-student, 28-day backlog
about a sixth faster (docs/performance.md).

``within`` is fixed when ``take_events`` starts, so :class:`WindowedStream` lets the agent
set ``window``: a function giving the seconds the next batch may gather, asked before each
one. faust's take loops wait for their batch with ``self.wait_for_stopped(buffer_full,
timeout=within)`` and call it nowhere else with a timeout; that one call is where the window
is asked. Acknowledgements, flow control and stopping are faust's, unchanged: only how long
a batch may gather moves. ``FAUST_TAKE_EVENTS_SHA256`` pins faust-streaming 0.15.3's
``take_events``; tests/unit/streams/test_windowed.py fails when it changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import faust

from leap.log import get_logger
from streams.metrics import partition_lag

log = get_logger("leap.streams")

# sha256 of inspect.getsource(faust.Stream.take_events), faust-streaming 0.15.3.
FAUST_TAKE_EVENTS_SHA256 = "607d48aead118ba8ea868718a0df87de1c5fcecd10ec542c659b448796728e08"


class WindowedStream(faust.Stream):
    """A faust stream whose take loops ask ``window()`` how long each batch may gather."""

    window: Callable[[], float] | None = None  # None: faust's own ``within``

    async def wait_for_stopped(self, *coros: Any, timeout: Any = None) -> bool:
        """faust's wait, with a take loop's timeout replaced by ``window()`` when set."""
        if timeout is not None and self.window is not None:
            timeout = self.window()
        return await super().wait_for_stopped(*coros, timeout=timeout)


def gather_window(short: float, long: float, behind: Callable[[], bool]) -> Callable[[], float]:
    """A stream's ``window``: ``long`` seconds (or ``short`` if longer) while ``behind()`` says a
    backlog is being read, else ``short``; ``short`` too if ``behind`` fails, so that a question
    about the consumer's positions (asked inside faust's take loop) never stops the stream."""
    long = max(short, long)

    def window() -> float:
        try:
            return long if behind() else short
        except Exception as exc:  # noqa: BLE001 - e.g. a partition revoked between two calls
            log.warning("could not tell whether the worker is behind; gathering as if live", error=repr(exc))
            return short

    return window


def behind(highwaters: Mapping[int, int], processed: Mapping[int, int], limit: int) -> bool:
    """Whether a partition is more than ``limit`` messages behind (``streams.metrics.partition_lag``).

    Only partitions this process processed something of count (``processed``: the highest
    offset per partition): one this worker has not read yet, or one emptied by retention,
    never holds batches back.
    """
    read_here = {p: high for p, high in highwaters.items() if p in processed}
    return max(partition_lag(read_here, processed, {}).values(), default=0) > limit
