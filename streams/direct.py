"""The engine's input topics read by librdkafka, under faust's group assignment (issue 12).

faust reads a message for about 47 us of the worker's one Python thread: aiokafka parses the
fetch, the drain hands each message to the conductor, which makes an event for the stream's
queue, and the stream acknowledges each one. That is as much as the engine's own work per
event, and both run on one thread, so they add up. A confluent-kafka consumer hands over a
batch of 10,000 messages for about 2 us each: librdkafka fetches and parses them on threads
of its own, without the interpreter's lock.

faust keeps everything else. Its consumer stays the group's member: it is assigned the input
partitions with the tables' partitions of the same numbers, recovers the tables, suspends the
flow in a rebalance, and commits. The inputs' partitions stay paused in it
(:class:`DirectTopics`), and :class:`DirectReader` reads them with a consumer of its own that
only ever ``assign``s the partitions faust holds, from their committed offsets, whenever the
group's generation changes. Its acknowledgements go into faust's consumer (:func:`record_acks`,
as ``Consumer.ack`` records them), so faust's commits carry them. The guarantees are faust's:

- a batch is read only while the flow is on and no rebalance is under way, so never before the
  tables of a new assignment are recovered;
- a batch read while a rebalance began is dropped unprocessed, and one in hand when it begins
  is finished before faust lets the partitions go (``wait_empty``), but not acknowledged: its
  partitions are read again from their committed offsets by whoever holds them next (state
  updates are idempotent, output ids deterministic);
- a batch is acknowledged only after the worker has delivered its output and written its state;
- offsets a partition skips (transaction markers, records deleted by retention) are marked
  acknowledged as gaps, so commits never stop at them.

``FAUST_ACK_SHA256`` pins faust-streaming 0.15.3's ``Consumer.ack``, whose bookkeeping
:func:`record_acks` repeats for many offsets at once: tests/unit/streams/test_direct.py fails
when faust changes it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from faust.types import TP
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

from leap.log import get_logger
from streams.batch import Message
from streams.metrics import READ_JUMPS

log = get_logger("leap.streams")

# sha256 of inspect.getsource(faust.transport.consumer.Consumer.ack), faust-streaming 0.15.3.
FAUST_ACK_SHA256 = "5fcf41cf45153475de3790dc56fec1b83335956dc8b3bf7ff6bbb2b57627f03f"

Gap = tuple[str, int, int, int]
# Seconds between looks at whether a rebalance is over, when faust left the flow on through it.
REBALANCE_POLL = 0.1
# Seconds before assigning the inputs again when the broker could not give their committed offsets.
ASSIGN_RETRY = 1.0  # topic, partition, first and last offset skipped


def place_batch(expected: dict[tuple[str, int], int], messages: Iterable[Message]) -> tuple[list[Message], list[Gap]]:
    """The messages to process and the offsets skipped before them, per partition in order.

    ``expected`` (updated) maps a partition to the next offset it should give (absent: any).
    A message below it was given already and is left out; one above it leaves the offsets in
    between as a gap (librdkafka reads a partition in order, so they are not in the log; a
    batch with an error about a partition is read again instead, ``DirectReader.consume``).
    """
    kept: list[Message] = []
    gaps: list[Gap] = []
    for message in messages:
        key = (message.topic, message.partition)
        want = expected.get(key)
        if want is not None and message.offset < want:
            continue
        if want is not None and message.offset > want:
            gaps.append((message.topic, message.partition, want, message.offset - 1))
        expected[key] = message.offset + 1
        kept.append(message)
    return kept, gaps


def record_acks(consumer: Any, tp: Any, offsets: Iterable[int]) -> int:
    """Record ``offsets`` of ``tp`` as acknowledged in faust's consumer, as ``Consumer.ack``
    records one message's (pinned by ``FAUST_ACK_SHA256``); return how many were new."""
    added = 0
    with ack_lock:
        committed = consumer._committed_offset[tp]
        index = consumer._acked_index[tp]
        acked = consumer._acked[tp]
        for offset in offsets:
            if (committed is None or offset >= committed) and offset not in index:
                index.add(offset)
                acked.append(offset)
                added += 1
        consumer._n_acked += added
        notify(consumer._waiting_for_ack)
    return added


@dataclass
class DirectBatch:
    """Messages read in one group generation, and the offsets their partitions skipped."""

    messages: list[Message]
    gaps: list[Gap]
    generation: int


class DirectReader:
    """A confluent-kafka consumer of ``topics`` that reads only the partitions faust's consumer
    holds (module docstring). ``config``: the consumer's librdkafka settings, ``group.id`` being
    faust's group (for its committed offsets; this consumer never joins the group)."""

    def __init__(self, config: Mapping[str, Any], topics: Iterable[str]) -> None:
        self.config = {
            **config,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            # As faust reads: the engine counts each event id once, so an aborted
            # transaction's events seen before their re-publication change nothing.
            "isolation.level": "read_uncommitted",
        }
        self.topics = frozenset(topics)
        self._consumer: Consumer | None = None
        self._assigned: tuple[int, tuple[tuple[str, int], ...]] | None = None
        self._expected: dict[tuple[str, int], int] = {}
        self._busy = 0
        self._idle: asyncio.Event | None = None

    def consumer(self) -> Consumer:
        """The confluent-kafka consumer, made on first use."""
        if self._consumer is None:
            self._consumer = Consumer(dict(self.config))
        return self._consumer

    def connect(self, timeout: float = 10.0) -> None:
        """Make the consumer and have it fetch the inputs' metadata (a worker thread); a failure
        is only logged: reading retries it."""
        try:
            consumer = self.consumer()
            for topic in sorted(self.topics):
                consumer.list_topics(topic, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - e.g. the broker not up yet: assign and consume wait for it
            log.warning("could not reach the broker for the engine's inputs yet", error=repr(exc))

    def assign(self, held: list[tuple[str, int]], timeout: float = 30.0) -> None:
        """Read ``held`` from the group's committed offsets (the oldest kept where none is)."""
        consumer = self.consumer()
        starts: list[TopicPartition] = []
        expected: dict[tuple[str, int], int] = {}
        if held:
            for tp in consumer.committed([TopicPartition(t, p) for t, p in held], timeout=timeout):
                if tp.error is not None:
                    raise KafkaException(tp.error)
                if tp.offset >= 0:
                    expected[(tp.topic, tp.partition)] = tp.offset
                starts.append(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
        consumer.assign(starts)
        self._expected = expected

    def consume(self, size: int, timeout: float) -> tuple[list[Message], bool]:
        """Up to ``size`` messages, waiting at most ``timeout`` seconds for them (a worker thread),
        and whether librdkafka reported an error about one of the partitions read."""
        out: list[Message] = []
        append = out.append
        failed = False
        for msg in self.consumer().consume(size, timeout=timeout):
            error = msg.error()
            if error is not None:
                # librdkafka retries what it can itself. An error about a partition (a corrupt
                # record set, say) may be followed by records past the ones it could not give:
                # taken as a gap they would be committed unread, so the batch is read again.
                log.warning("reading the engine's inputs", error=str(error), topic=msg.topic(), partition=msg.partition())
                failed = failed or msg.topic() is not None
                continue
            append(Message(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(), msg.timestamp()[1]))
        return out, failed

    def highwaters(self, topic: str) -> dict[int, int]:
        """High-water offsets of the held partitions of ``topic``, as librdkafka last fetched them."""
        if self._consumer is None or self._assigned is None:
            return {}
        marks = {}
        for t, p in self._assigned[1]:
            if t == topic:
                _, high = self._consumer.get_watermark_offsets(TopicPartition(t, p), cached=True)
                if high >= 0:
                    marks[p] = high
        return marks

    def close(self) -> None:
        """Close the consumer (it commits nothing: faust's consumer does that)."""
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    async def wait_idle(self) -> None:
        """Wait until no batch read by :meth:`batches` is in hand (a rebalance lets partitions go after)."""
        if self._busy and self._idle is not None:
            await self._idle.wait()

    def _held(self, app: Any) -> tuple[tuple[str, int], ...]:
        return tuple(sorted((tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic in self.topics))

    async def batches(self, app: Any, size: int, window: Callable[[], float]) -> AsyncIterator[DirectBatch]:
        """Batches of up to ``size`` messages gathered for up to ``window()`` seconds each, read
        only while faust's flow is on and in one group generation (module docstring). The next
        batch is read once the one in hand has been passed to :meth:`done`."""
        self._idle = asyncio.Event()
        self._idle.set()
        # Connected while faust joins the group and recovers the tables: a consumer made at
        # the first assignment took up to 1.5 s more to give its first message (a restart's
        # first band change).
        await asyncio.to_thread(self.connect)
        while True:
            await app.flow_control.acquire()  # off in a rebalance, until the tables are recovered
            while app.rebalancing:
                # faust leaves the flow on through a rebalance for a worker that held nothing
                # before it; reading then would only be dropped.
                await asyncio.sleep(REBALANCE_POLL)
                await app.flow_control.acquire()
            generation = app.consumer_generation_id
            held = self._held(app)
            if self._assigned != (generation, held):
                try:
                    await asyncio.to_thread(self.assign, list(held))
                except KafkaException as exc:
                    # The broker out of reach (committed offsets unknown): try again, as
                    # faust's consumer does, rather than end the agent.
                    log.warning("could not assign the engine's inputs; trying again", error=str(exc))
                    await asyncio.sleep(ASSIGN_RETRY)
                    continue
                forget_acks(app.consumer, held)
                self._assigned = (generation, held)
            messages, failed = await asyncio.to_thread(self.consume, size, window())
            if failed or app.rebalancing or not app.flow_control.is_active() or app.consumer_generation_id != generation:
                self._read_again("a read error" if failed else "a rebalance", len(messages))
                continue
            kept, gaps = place_batch(self._expected, messages)
            if not kept and not gaps:
                continue
            self._busy += 1
            self._idle.clear()
            yield DirectBatch(kept, gaps, generation)

    def _read_again(self, why: str, messages: int) -> None:
        """Drop what was read: the held partitions are assigned again from their committed offsets."""
        self._assigned = None
        READ_JUMPS.labels("reread").inc()
        log.info("reading the engine's inputs again from their committed offsets", after=why, dropped=messages)

    async def done(self, app: Any, batch: DirectBatch) -> bool:
        """The batch is processed: acknowledge it in faust's consumer unless a rebalance began
        meanwhile (then its partitions are read again from their committed offsets)."""

        def current() -> bool:
            return not app.rebalancing and app.consumer_generation_id == batch.generation

        try:
            if not current():
                self._read_again("a rebalance", 0)
                return False
            consumer = app.consumer
            for topic, partition, first, last in batch.gaps:
                READ_JUMPS.labels("gap").inc()
                await consumer._add_gap(TP(topic, partition), first, last)
            if not current():  # a rebalance began while the gaps were added (faust's _add_gap yields)
                self._read_again("a rebalance", 0)
                return False
            by_partition: dict[tuple[str, int], list[int]] = defaultdict(list)
            for message in batch.messages:
                by_partition[(message.topic, message.partition)].append(message.offset)
            for (topic, partition), offsets in by_partition.items():
                record_acks(consumer, TP(topic, partition), offsets)
            return True
        finally:
            self._busy -= 1
            if not self._busy and self._idle is not None:
                self._idle.set()


def forget_acks(consumer: Any, held: Iterable[tuple[str, int]]) -> None:
    """Drop faust's acknowledgements of ``held`` not yet committed: after a new assignment the
    partitions are read again from their committed offsets, so older ones would leave a gap."""
    with ack_lock:
        for topic, partition in held:
            tp = TP(topic, partition)
            consumer._acked.pop(tp, None)
            consumer._acked_index.pop(tp, None)
            consumer._gap.pop(tp, None)


class DirectTopics:
    """A faust consumer mixin: the topics ``direct`` reads are never fetched here, and a
    rebalance waits for its batch in hand before it lets partitions go."""

    direct: DirectReader | None = None

    def _not_direct(self, tps: Iterable[Any]) -> list[Any]:
        topics = self.direct.topics if self.direct is not None else frozenset()
        return [tp for tp in tps if tp.topic not in topics]

    def _set_active_tps(self, tps: Any) -> Any:
        """faust's fetched partitions, without the direct reader's (an assignment makes all active)."""
        return super()._set_active_tps(set(self._not_direct(tps)))  # type: ignore[misc]

    def resume_partitions(self, tps: Iterable[Any]) -> None:
        """faust's resume, except for the partitions the direct reader reads."""
        super().resume_partitions(self._not_direct(tps))  # type: ignore[misc]

    async def wait_empty(self) -> None:
        """The direct reader's batch in hand finished, then faust's wait for the messages its
        streams hold (which ends with a commit: the batch's acknowledgements go with it)."""
        if self.direct is not None:
            await self.direct.wait_idle()
        await super().wait_empty()  # type: ignore[misc]

    def verify_event_path(self, now: float, tp: Any) -> None:
        """faust's check that a partition is still fetched, except for those faust never fetches here."""
        if self.direct is not None and tp.topic in self.direct.topics:
            return None
        return super().verify_event_path(now, tp)  # type: ignore[misc]
