"""What the worker does when a record sent through faust's own producer is lost: it ends.

The engine's tables (students, partition clocks) and every output go through librdkafka and
are waited for (``streams.app``: 60 s, then the worker ends). The cohort agent's tables
(members, frozen baselines) still write their changelog through faust's producer, and faust
then does not wait for the record: before committing offsets it flushes its producer, and a
send that failed is only logged (``faust.topics.Topic._on_published``), so the offsets of the
message that made the record are committed and the record is gone from the changelog a
restarted worker restores from.

``SendFailures`` turns such a failure into the same exit as the engine's own: the process
ends before the commit that follows (aiokafka fails a batch's own future, which the flush
waits on, before its records' futures, whose callbacks report the failure, and asyncio runs
callbacks in order, so the report runs before the flush's waiter resumes the commit), and the
messages are read again on restart. ``DELIVERY_DEADLINE`` bounds how long a send may take
before it counts as failed (faust's default is 20 minutes, during which every commit waits).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faust.sensors import Sensor

# Seconds a record may take to be delivered before the worker gives up on it and ends (its
# batch is then read again on restart): the same for the engine's sends and faust's.
DELIVERY_DEADLINE = 60.0


class SendFailures(Sensor):
    """A faust sensor that ends the worker (``die``) when faust's producer loses a record."""

    def __init__(self, die: Callable[[str], None]) -> None:
        super().__init__()
        self._die = die

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        """faust could not deliver a record (a table's changelog): end before offsets are committed past it."""
        text = str(exc)
        what = text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"
        self._die(f"faust's producer could not deliver a record: {what}")
