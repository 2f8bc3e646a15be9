"""faust's consumer, reading without four asyncio tasks per message (issue 12).

faust-streaming's ``Consumer._drain_messages`` hands every fetched message to the conductor
with ``await self.wait_first(callback(message), self.suspend_flow.wait())``: a race between
delivery and a rebalance's flow suspension, so a delivery blocked on a full stream buffer is
abandoned when partitions move. ``wait_first`` builds four tasks (the callback, the flow
event, the service's stopped and crashed events) and cancels three, for every message; with
an empty agent that churn was most of faust's time (py-spy: 43% task and future work).

Almost always the delivery does not wait at all: the conductor decodes the message and puts
it on a stream queue that has room. :func:`deliver` therefore steps the callback once by
hand. If it finishes, the message is delivered and there was nothing to race. If it had to
wait, the rest of it runs under the same ``wait_first`` as before, from exactly where it
stopped (:class:`Resumed`), so flow control, stopping and crashing behave as in faust.

:class:`DrainingConsumer` is faust's aiokafka consumer with ``_drain_messages`` copied from
faust-streaming 0.15.3 and that one line changed. ``FAUST_DRAIN_SHA256`` pins the original:
tests/unit/streams/test_drain.py fails when faust's method changes, so an upgrade re-reads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, AsyncIterator, Literal, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from mode import Service

from streams.acks import ProcessedOnlyAcks
from streams.direct import DirectReader, DirectTopics
from streams.metrics import CALLS_LOST, FETCHES_LOST, READ_JUMPS

# sha256 of inspect.getsource(faust.transport.consumer.Consumer._drain_messages), 0.15.3.
FAUST_DRAIN_SHA256 = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"


class Resumed(Awaitable[Any]):
    """A coroutine that was stepped once by hand and is waiting on ``pending``, to be awaited
    (or made a task) so it runs on from there; sends, throws (cancellation) and close go to it
    as they would had it been awaited from the start."""

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coro = coro
        self.pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self.coro, self.pending
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - cancellation included: it is the coroutine's to handle
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def deliver(consumer: Service, callback: Callable[[Any], Coroutine[Any, Any, Any]], message: Any, suspended: Any) -> None:
    """Run ``callback(message)``; only if it has to wait, race the rest against ``suspended``
    (the flow-control event) with ``consumer.wait_first``, as faust does for every message."""
    coro = callback(message)
    try:
        pending = coro.send(None)
    except StopIteration:
        return  # delivered without waiting: nothing could have interrupted it
    except BaseException:
        coro.close()
        raise
    await consumer.wait_first(Resumed(coro, pending), suspended.wait())


Placement = Literal["deliver", "drop", "reread", "gap"]


def place(offset: int, expected: int | None, confirmed: tuple[int, int] | None, fresh: bool, continued: bool = False) -> Placement:
    """Where a record of an agent's partition goes, given the offset the partition should
    deliver next (``expected``; None: not known, take anything).

    - ``deliver``: the expected record (or nothing expected yet).
    - ``drop``: below it: already delivered (a re-fetch after a seek back).
    - ``reread``: above it: records in between were never delivered. They were fetched and
      thrown away (a fetch from before a seek, a fetch cut short by a rebalance), so the
      partition is read again from ``expected``; nothing above it in this fetch is taken.
    - ``gap``: the offsets really are missing from the log, so the jump is accepted. Either
      the record follows one of the same fetch with no seek since (``continued``: a fetch is
      one contiguous stretch of the log, so the jump is a hole in it: a transaction marker,
      a compacted record), or it is the same jump again (``confirmed``) as the partition's
      first record in a fetch made after that re-read (``fresh``): the offsets were deleted
      by retention before they were read. A jump in a fetch from before a seek proves
      nothing and is read again.
    """
    if expected is None or offset == expected:
        return "deliver"
    if offset < expected:
        return "drop"
    return "gap" if continued or (fresh and confirmed == (expected, offset)) else "reread"


class DrainingConsumer(AIOKafkaConsumer):
    """faust's aiokafka consumer whose drain delivers through :func:`deliver` and reads the
    partitions its agents consume strictly in order (:func:`place`).

    faust took any jump in offsets for a gap: it acknowledged the missing offsets and then
    dropped them as already read when they came. Jumps happen when a fetch made before a seek
    (the seek of every partition to its committed offset after a rebalance) is delivered after
    it; the full chaos run lost the events of one SIGKILL's second that way.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Partitions whose read offset was set by a seek: it is the next offset to deliver
        # (after a delivery faust's read offset is the offset delivered).
        self.sought: set[Any] = set()
        self.confirmed: dict[Any, tuple[int, int]] = {}  # partition -> the jump re-read once
        self.seeks: dict[Any, int] = {}  # partition -> seeks so far (a fetch older than a seek is stale)

    def sought_now(self, partitions: Any) -> None:
        """Note a seek: the read offset is the next to deliver, and fetches made before are stale."""
        for tp in partitions:
            self.sought.add(tp)
            self.seeks[tp] = self.seeks.get(tp, 0) + 1

    def expected(self, tp: Any) -> int | None:
        """The next offset ``tp`` should deliver (None: not known)."""
        read = self._read_offset.get(tp)
        if read is None:
            return None
        return read if tp in self.sought else read + 1

    # A fetch runs in the consumer's thread and answers within its timeout (1 s) unless the
    # call is lost between the two event loops, which stalled a worker for good in CI (docs/
    # reliability.md). Records of a fetch given up on are never delivered: the in-order rule
    # reads them again from the expected offset.
    fetch_deadline: float = 60.0

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        """faust's fetch through the consumer's thread, given up on after ``fetch_deadline`` seconds (nothing fetched)."""
        try:
            return await asyncio.wait_for(super()._getmany(active_partitions, timeout), self.fetch_deadline)
        except asyncio.TimeoutError:
            FETCHES_LOST.inc()
            self.log.warning("a fetch from the consumer's thread did not answer within %.0f s: fetching again", self.fetch_deadline)
            return {}

    def call_deadline(self) -> float:
        """Seconds a seek or commit through the consumer's thread may take before it is taken
        as lost: the broker's request timeout (aiokafka's own bound on them), then the fetch's deadline."""
        return float(self.app.conf.broker_request_timeout) + self.fetch_deadline

    async def _commit(self, offsets: Any) -> bool:
        """faust's commit through the consumer's thread, failed (False) if it does not answer
        within ``call_deadline``: a lost call would hold every later commit, and a failed
        commit is only made again with the next offsets."""
        try:
            return await asyncio.wait_for(super()._commit(offsets), self.call_deadline())
        except asyncio.TimeoutError:
            CALLS_LOST.labels("commit").inc()
            self.log.warning("a commit through the consumer's thread did not answer within %.0f s: taken as failed", self.call_deadline())
            return False

    async def seek(self, partition: Any, offset: int) -> None:
        """faust's seek (fetch position and read offset)."""
        await super().seek(partition, offset)
        self.sought_now([partition])

    async def perform_seek(self) -> None:
        """faust's seek of every partition to its committed offset (after a rebalance)."""
        await super().perform_seek()
        self.sought_now(self.assignment())

    async def seek_in_thread(self, partition: Any, offset: int) -> None:
        """Seek from outside the consumer's thread: aiokafka's position set in its own thread
        (faust's seek from another raced aiokafka's fetcher), then faust's read offset."""
        try:
            await asyncio.wait_for(self._thread.seek_wait({partition: offset}), self.call_deadline())
        except asyncio.TimeoutError:
            # Lost (as a fetch can be): the partition's next records still come where they
            # should not, and the in-order rule asks for this seek again.
            CALLS_LOST.labels("seek").inc()
            raise TimeoutError(f"a seek through the consumer's thread did not answer within {self.call_deadline():.0f} s") from None
        self._read_offset[partition] = offset if offset else None
        self.sought_now([partition])

    def delivered(self, tp: Any, offset: int) -> None:
        """faust's read offset after a delivery, unless a seek moved it during the delivery."""
        if tp not in self.sought:
            self._read_offset[tp] = offset

    async def reread(self, tp: Any, offset: int, expected: int) -> None:
        """``offset`` came where ``expected`` was: note the jump, count it, read ``tp`` again from ``expected``."""
        self.confirmed[tp] = (expected, offset)
        READ_JUMPS.labels("reread").inc()
        self.log.info("offset %r of %r came where %r was expected: reading it again from %r", offset, tp, expected, expected)
        try:
            await self.seek_in_thread(tp, expected)
        except Exception as exc:  # noqa: BLE001 - e.g. the partition was revoked meanwhile: its next owner reads it
            self.log.warning("could not re-read %r from %r: %r", tp, expected, exc)

    async def _drain_messages(self, fetcher: Service) -> None:  # pragma: no cover - run by every worker test
        # Copied from faust-streaming 0.15.3 (faust/transport/consumer.py); only the lines
        # marked LEAP differ. Keep it in step with FAUST_DRAIN_SHA256.
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self.delivered  # LEAP: was self._read_offset.__setitem__
        flag_consumer_fetching = CONSUMER_FETCHING
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for

        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag_consumer_fetching)
                ait = cast(AsyncIterator, getmany(timeout=1.0))
                await self.sleep(0)
                if not self.should_stop:
                    # LEAP: seeks before this fetch, partitions seen in it, and those re-read
                    # (the rest of the fetch is not taken for them).
                    seeks_before = dict(self.seeks)
                    seen = set()
                    skipped = set()
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0

                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if acks_enabled_for(message.topic):
                            # LEAP: an agent's partition is delivered in order (place()).
                            if tp in skipped:
                                continue
                            unsought = self.seeks.get(tp, 0) == seeks_before.get(tp, 0)
                            first = tp not in seen
                            seen.add(tp)
                            expected = self.expected(tp)
                            placement = place(offset, expected, self.confirmed.get(tp), unsought and first, unsought and not first)
                            if placement == "drop":
                                continue
                            if placement == "reread":
                                skipped.add(tp)
                                await self.reread(tp, offset, cast(int, expected))
                                continue
                            if placement == "gap":
                                READ_JUMPS.labels("gap").inc()
                                # faust's gap is inclusive of its end: ending at the record
                                # itself (as faust's own check does) lists it twice among the
                                # acknowledged, and a commit stops at every such duplicate.
                                await self._add_gap(tp, cast(int, expected), offset - 1)
                                r_offset = None  # the gap is added: faust's check below must not add its own
                            self.sought.discard(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset:
                                acks_enabled = acks_enabled_for(message.topic)
                                if acks_enabled:
                                    await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None:
                                if self._n_acked >= commit_every:
                                    self._n_acked = 0
                                    await self.commit()
                            # LEAP: was `await self.wait_first(callback(message), self.suspend_flow.wait())`
                            await deliver(self, callback, message, self.suspend_flow)
                            set_read_offset(tp, offset)
                        else:
                            self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)
                    unset_flag(flag_consumer_fetching)

        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(flag_consumer_fetching)


def use_draining_consumer(app: Any, processed: Callable[[Any], bool] | None = None, direct: DirectReader | None = None) -> None:
    """Make ``app`` read through :class:`DrainingConsumer` (before its consumer is made).

    ``processed``: if given, the consumer records an acknowledgement only for messages it
    says were processed (``streams.acks``). ``direct``: the topics it reads are left to it
    (``streams.direct``).
    """
    if app.transport.Consumer is not AIOKafkaConsumer:
        raise RuntimeError(f"expected faust's aiokafka consumer, found {app.transport.Consumer!r}: is the broker URL kafka://?")
    if processed is None and direct is None:
        app.transport.Consumer = DrainingConsumer
        return
    bases = (DirectTopics, ProcessedOnlyAcks, DrainingConsumer)
    app.transport.Consumer = type("WorkerConsumer", bases, {"processed": staticmethod(processed or (lambda message: True)), "direct": direct})
