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
from typing import Any, AsyncIterator, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from mode import Service

from streams.acks import ProcessedOnlyAcks

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


class DrainingConsumer(AIOKafkaConsumer):
    """faust's aiokafka consumer whose drain delivers through :func:`deliver`, and does not
    take a record fetched before a seek of its partition for a gap (see ``seek``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seeks: dict[Any, int] = {}  # partition -> seeks so far

    # Counted once the seek is done and faust's read offset moved (no await between the two),
    # so the drain never sees the new read offset with the old count.
    async def seek(self, partition: Any, offset: int) -> None:
        """faust's seek (fetch position and read offset), counted per partition."""
        await super().seek(partition, offset)
        self.seeks[partition] = self.seeks.get(partition, 0) + 1

    async def perform_seek(self) -> None:
        """faust's seek of every partition to its committed offset (after a rebalance), counted."""
        await super().perform_seek()
        for tp in self.assignment():
            self.seeks[tp] = self.seeks.get(tp, 0) + 1

    async def seek_in_thread(self, partition: Any, offset: int) -> None:
        """Seek from outside the consumer's thread: aiokafka's position set in its own thread
        (faust's seek from another raced aiokafka's fetcher), then faust's read offset, counted."""
        await self._thread.seek_wait({partition: offset})
        self._read_offset[partition] = offset if offset else None
        self.seeks[partition] = self.seeks.get(partition, 0) + 1

    async def _drain_messages(self, fetcher: Service) -> None:  # pragma: no cover - run by every worker test
        # Copied from faust-streaming 0.15.3 (faust/transport/consumer.py); only the marked
        # line differs. Keep it in step with FAUST_DRAIN_SHA256.
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
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
                # LEAP: the partitions' seek counts before this fetch (see seek and below).
                seeks_before = dict(self.seeks)
                ait = cast(AsyncIterator, getmany(timeout=1.0))
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0

                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and self.seeks.get(tp, 0) != seeks_before.get(tp, 0):
                                # LEAP: a record fetched before its partition was sought back
                                # (faust's recovery seeks kept partitions to their committed
                                # offsets): faust took the jump for a gap (done, for commits)
                                # and then dropped the re-fetched records below it as already
                                # read, losing them. Read the partition from the sought offset
                                # again instead.
                                await self.seek_in_thread(tp, r_offset)
                                seeks_before[tp] = self.seeks[tp]
                                continue
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


def use_draining_consumer(app: Any, processed: Callable[[Any], bool] | None = None) -> None:
    """Make ``app`` read through :class:`DrainingConsumer` (before its consumer is made).

    ``processed``: if given, the consumer records an acknowledgement only for messages it
    says were processed (``streams.acks``).
    """
    if app.transport.Consumer is not AIOKafkaConsumer:
        raise RuntimeError(f"expected faust's aiokafka consumer, found {app.transport.Consumer!r}: is the broker URL kafka://?")
    if processed is None:
        app.transport.Consumer = DrainingConsumer
        return
    app.transport.Consumer = type("WorkerConsumer", (ProcessedOnlyAcks, DrainingConsumer), {"processed": staticmethod(processed)})
