"""Acknowledging only what the worker's agents processed.

faust-streaming (0.15.3) acknowledges messages its streams skip without handing them to an
agent: a message fetched in an older group generation, or read while flow control is off
(during a rebalance), goes through ``event.ack()`` in ``Stream._py_aiter`` like a processed
one. Once committed it is never read again, and its event is lost. The short chaos run lost
events this way now and then (a worker stopped while the other took its partitions back).

:class:`ProcessedOnlyAcks`, mixed into the worker's consumer, records an acknowledgement only
for a message the worker says it processed. A skipped message stays unacknowledged, which
leaves a gap at the head of its partition's acknowledged offsets; the worker then reads the
partition again from the committed offset (``streams.commit_gaps``; state is idempotent).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.metrics import ACKS_REFUSED


class ProcessedOnlyAcks:
    """A faust consumer mixin: ``processed(message)`` decides whether an ack is recorded."""

    processed: Callable[[Any], bool] = staticmethod(lambda message: True)  # type: ignore[assignment]

    def ack(self, message: Any) -> bool:
        """faust's ack, for processed messages only (see the module docstring)."""
        if not self.processed(message):
            ACKS_REFUSED.inc()
            return False
        return super().ack(message)  # type: ignore[misc]
