"""What to do about a commit gap faust leaves after a rebalance: fill it or read it again.

faust can resume a partition past offsets it no longer counts as acknowledged (messages it
fetched before a rebalance and then skipped as of an old generation) and then never commits
that partition again. The gap is ``[committed, first acknowledged)``. It may be marked
acknowledged only if this process processed every offset in it; otherwise the partition is
read again from the committed offset (state updates are idempotent, so what was applied is
recognised and skipped). "Processed the highest offset" is not enough: the batch after the
skipped messages is above the gap without covering it, and filling then lost the skipped
events (the short chaos run, now and then).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Literal

from leap.log import get_logger
from streams.metrics import STALLS

log = get_logger("leap.streams")


class ProcessedOffsets:
    """Per partition, the runs of offsets this process has processed (``[first, last]`` pairs, merged)."""

    def __init__(self) -> None:
        self._runs: dict[Hashable, list[list[int]]] = {}

    def add(self, tp: Hashable, offset: int) -> None:
        """Record one processed offset (messages of a partition come mostly in order)."""
        runs = self._runs.setdefault(tp, [])
        if runs and runs[-1][0] <= offset <= runs[-1][1] + 1:
            runs[-1][1] = max(runs[-1][1], offset)
            return
        if not runs or offset > runs[-1][1] + 1:
            # Past a gap (a transaction marker after every batch a tail publishes): a new run
            # at the end, without the merge below, which would make a long history quadratic.
            runs.append([offset, offset])
            return
        for run in runs:
            if run[0] - 1 <= offset <= run[1] + 1:
                run[0], run[1] = min(run[0], offset), max(run[1], offset)
                break
        else:
            runs.append([offset, offset])
        runs.sort()
        merged = [runs[0]]
        for run in runs[1:]:
            if run[0] <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], run[1])
            else:
                merged.append(run)
        self._runs[tp] = merged

    def highest(self, tp: Hashable) -> int | None:
        """The highest offset processed here (None: none yet)."""
        runs = self._runs.get(tp)
        return runs[-1][1] if runs else None

    def covers(self, tp: Hashable, first: int, last: int) -> bool:
        """Whether every offset from ``first`` to ``last`` (inclusive) was processed here."""
        return any(run[0] <= first and last <= run[1] for run in self._runs.get(tp, ()))


def gap_action(committed: int | None, head: int | None, processed: ProcessedOffsets, tp: Hashable) -> Literal["fill", "reread"] | None:
    """For the gap ``[committed, head)`` (``head``: the lowest acknowledged offset, None if none):
    ``fill`` when this process processed all of it, ``reread`` when it did not, None when there is no gap."""
    if head is None or committed is None or head - committed <= 1:
        return None
    return "fill" if processed.covers(tp, committed, head - 1) else "reread"


class CommitGaps:
    """The worker's check, after each batch, for commit gaps faust left (the module docstring).

    Called as ``await gaps()``: each gap this process processed is marked acknowledged; any
    other partition is read again from its committed offset, once per committed offset.
    """

    def __init__(self, app: Any, processed: ProcessedOffsets, skip: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.processed = processed
        self.skip = skip  # topics read by streams.direct: read from their committed offsets, they leave no such gap
        self.reread_from: dict = {}  # TP -> committed offset this process last re-read a partition from

    async def __call__(self) -> None:
        consumer = self.app.consumer
        for tp, acked in list(consumer._acked.items()):
            if tp.topic in self.skip:
                continue
            committed = consumer._committed_offset.get(tp)
            head = min(acked) if acked else None
            action = gap_action(committed, head, self.processed, tp)
            if action == "fill":
                # This process processed (and wrote) the whole gap itself before the
                # rebalance: it is done work, so mark it acknowledged.
                index = consumer._acked_index[tp]
                missing = [o for o in range(committed, head) if o not in index]  # type: ignore[arg-type]
                acked.extend(missing)
                index.update(missing)
                acked.sort()
                log.warning("filled a commit gap left by a rebalance", topic=tp.topic, partition=tp.partition, offsets=len(missing))
            elif action == "reread" and self.reread_from.get(tp) != committed:
                # Nobody here can vouch for the gap: read it again from the committed offset.
                # In the consumer's thread: faust's consumer.seek calls aiokafka from this
                # thread while the consumer thread fetches, and the race ended a worker with a
                # KeyError in aiokafka's fetcher (make bench, two workers).
                # Through seek_in_thread, which also moves faust's read offset back: without it
                # the drain dropped the re-fetched records as already read.
                try:
                    await consumer.seek_in_thread(tp, committed)
                except Exception as exc:  # a lost seek or a revoked partition: the next batch looks again
                    log.warning("could not re-read a partition after a rebalance", topic=tp.topic, partition=tp.partition, error=repr(exc))
                    continue
                self.reread_from[tp] = committed
                log.warning("re-reading a partition from its committed offset after a rebalance", topic=tp.topic, partition=tp.partition, offset=committed)
            else:
                continue
            STALLS.inc()
