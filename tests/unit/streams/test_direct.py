"""streams.direct: the engine's inputs read by librdkafka, acknowledged in faust's consumer.

The placement of a batch's messages is checked against every offset a partition could give;
the acknowledgements against faust's own ``Consumer.ack`` on real faust consumers; the
consumer mixin and the hand-over of a batch on real asyncio. The reader against a broker is
tested by the worker's integration tests (tests/integration/test_engine_*.py), which run it.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import itertools
from types import SimpleNamespace

import faust
import pytest
from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP
from faust.types.tuples import ConsumerMessage
from hypothesis import given
from hypothesis import strategies as st

from streams.batch import Message
from streams.direct import FAUST_ACK_SHA256, DirectBatch, DirectReader, place_batch, record_acks
from streams.drain import use_draining_consumer

_apps = itertools.count()


def _message(partition: int, offset: int, topic: str = "activity") -> Message:
    return Message(topic, partition, offset, b"k", b"v", 0)


def _faust_consumer(direct: DirectReader | None = None):
    app = faust.App(f"direct-test-{next(_apps)}", broker="kafka://127.0.0.1:1", store="memory://")
    app.topics.acking_topics.add("activity")  # as faust marks the topics its agents read
    use_draining_consumer(app, direct=direct)
    return app.consumer


# A partition's log: offsets it holds (some missing: markers, retention), in order.
logs = st.lists(st.integers(0, 40), max_size=30, unique=True).map(sorted)


@given(log=logs, start=st.none() | st.integers(0, 45), repeats=st.integers(0, 5))
def test_every_offset_from_the_start_is_processed_or_a_gap_and_none_twice(log, start, repeats):
    given_ = [o for o in log if start is None or o >= start]
    # A partition read again from earlier (a re-assignment) gives offsets already taken.
    first_half = given_[: len(given_) // 2]
    expected = {} if start is None else {("activity", 0): start}
    kept1, gaps1 = place_batch(expected, [_message(0, o) for o in first_half])
    kept2, gaps2 = place_batch(expected, [_message(0, o) for o in first_half[-repeats:] if repeats] + [_message(0, o) for o in given_[len(first_half):]])
    kept = [m.offset for m in kept1 + kept2]
    assert kept == given_  # each once, in order
    skipped = [o for _, _, first, last in gaps1 + gaps2 for o in range(first, last + 1)]
    assert not set(skipped) & set(kept)
    if kept:
        low = kept[0] if start is None else start
        assert sorted(kept + skipped) == list(range(low, kept[-1] + 1))  # nothing left between
        assert expected[("activity", 0)] == kept[-1] + 1


def test_partitions_are_placed_each_on_their_own():
    expected = {("activity", 0): 5, ("activity", 1): 0}
    kept, gaps = place_batch(expected, [_message(0, 7), _message(1, 0), _message(1, 1), _message(0, 8), _message(1, 3)])
    assert [(m.partition, m.offset) for m in kept] == [(0, 7), (1, 0), (1, 1), (0, 8), (1, 3)]
    assert gaps == [("activity", 0, 5, 6), ("activity", 1, 2, 2)]


@given(offsets=st.lists(st.integers(0, 30), max_size=25), committed=st.none() | st.integers(0, 20), batches=st.integers(1, 4))
def test_acknowledgements_are_recorded_as_faust_records_them(offsets, committed, batches):
    ours, theirs = _faust_consumer(), _faust_consumer()
    tp = TP("activity", 0)
    for consumer in (ours, theirs):
        consumer._committed_offset[tp] = committed
    size = max(1, len(offsets) // batches)
    for i in range(0, len(offsets), size):
        record_acks(ours, tp, offsets[i : i + size])
    for offset in offsets:
        FaustConsumer.ack(theirs, ConsumerMessage("activity", 0, offset, 0.0, 0, None, b"k", b"v", None))
    assert list(ours._acked[tp]) == list(theirs._acked[tp])
    assert ours._acked_index[tp] == theirs._acked_index[tp]
    assert ours._n_acked == theirs._n_acked


def test_faust_ack_is_the_version_record_acks_repeats():
    source = inspect.getsource(FaustConsumer.ack)
    assert hashlib.sha256(source.encode()).hexdigest() == FAUST_ACK_SHA256, (
        "faust's Consumer.ack changed: compare it with streams.direct.record_acks, then update FAUST_ACK_SHA256"
    )


def test_the_consumer_never_fetches_the_direct_topics():
    reader = DirectReader({}, ["activity", "roster"])
    consumer = _faust_consumer(reader)
    held = {TP("activity", 0), TP("roster", 0), TP("cohort-contributions", 0)}
    assert consumer._set_active_tps(held) == {TP("cohort-contributions", 0)}
    consumer.pause_partitions(held)  # as faust does at an assignment
    consumer.resume_partitions(held)  # as faust does once the tables are recovered
    assert consumer._get_active_partitions() == {TP("cohort-contributions", 0)}
    assert TP("activity", 0) in consumer._paused_partitions


def _app(consumer, generation=3, rebalancing=False):
    return SimpleNamespace(consumer=consumer, consumer_generation_id=generation, rebalancing=rebalancing)


def _in_hand(reader: DirectReader) -> None:
    """A batch handed out by ``batches`` and not yet done (as its loop marks it)."""
    reader._idle = asyncio.Event()
    reader._busy = 1


def test_a_rebalance_waits_for_the_batch_in_hand_and_then_its_partitions_are_not_acknowledged():
    async def scenario():
        reader = DirectReader({}, ["activity"])
        consumer = _faust_consumer(reader)
        _in_hand(reader)
        waiting = asyncio.ensure_future(consumer.wait_empty())  # faust, revoking partitions
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not waiting.done()  # the batch is still being processed
        batch = DirectBatch([_message(0, 4)], [], generation=3)
        acked = await reader.done(_app(consumer, rebalancing=True), batch)
        await asyncio.wait_for(waiting, 5)
        return acked, consumer

    acked, consumer = asyncio.run(scenario())
    assert acked is False
    assert not consumer._acked[TP("activity", 0)]


def test_a_batch_of_an_older_generation_is_not_acknowledged():
    async def scenario():
        reader = DirectReader({}, ["activity"])
        consumer = _faust_consumer(reader)
        _in_hand(reader)
        return await reader.done(_app(consumer, generation=4), DirectBatch([_message(0, 4)], [], generation=3)), consumer

    acked, consumer = asyncio.run(scenario())
    assert acked is False and not consumer._acked[TP("activity", 0)]


def test_a_processed_batch_is_acknowledged_with_its_gaps_so_the_commit_passes_them():
    async def scenario():
        reader = DirectReader({}, ["activity"])
        consumer = _faust_consumer(reader)
        tp = TP("activity", 0)
        consumer._committed_offset[tp] = 10
        _in_hand(reader)
        batch = DirectBatch([_message(0, 10), _message(0, 11), _message(0, 15)], [("activity", 0, 12, 14)], generation=3)
        acked = await reader.done(_app(consumer), batch)
        return acked, consumer, consumer._new_offset(tp), reader

    acked, consumer, new_offset, reader = asyncio.run(scenario())
    assert acked is True
    assert new_offset == 16  # 10-15 committed: the gap does not stop it
    assert reader._idle.is_set()


@pytest.mark.parametrize("first", [10, 11])
def test_the_first_offset_after_the_committed_one_commits(first):
    # faust's _new_offset allows the first acknowledged offset one past the committed one (a marker).
    consumer = _faust_consumer()
    tp = TP("activity", 0)
    consumer._committed_offset[tp] = 10
    record_acks(consumer, tp, [first, first + 1])
    assert consumer._new_offset(tp) == first + 2


def test_a_rebalance_that_begins_while_the_gaps_are_added_leaves_the_batch_unacknowledged():
    async def scenario():
        reader = DirectReader({}, ["activity"])
        consumer = _faust_consumer(reader)
        app = _app(consumer)
        added = consumer._add_gap

        async def add_gap_then_rebalance(tp, first, last):
            await added(tp, first, last)
            app.rebalancing = True  # faust's _add_gap yields to the loop: a revocation can begin there

        consumer._add_gap = add_gap_then_rebalance
        _in_hand(reader)
        batch = DirectBatch([_message(0, 10), _message(0, 15)], [("activity", 0, 11, 14)], generation=3)
        return await reader.done(app, batch), consumer

    acked, consumer = asyncio.run(scenario())
    assert acked is False and not consumer._acked[TP("activity", 0)]


def test_faust_does_not_watch_the_direct_topics_for_a_stalled_fetch():
    # faust's livelock check would log an error every few seconds for partitions it never fetches.
    consumer = _faust_consumer(DirectReader({}, ["activity"]))
    assert consumer.verify_event_path(0.0, TP("activity", 0)) is None


def test_an_assignment_the_broker_cannot_answer_is_tried_again_rather_than_ending_the_agent(monkeypatch):
    from confluent_kafka import KafkaError, KafkaException
    from mode.utils.queues import FlowControlEvent

    import streams.direct as direct

    monkeypatch.setattr(direct, "ASSIGN_RETRY", 0.0)

    class Reader(DirectReader):
        assigns = 0

        def connect(self, timeout: float = 10.0) -> None:
            pass

        def assign(self, held, timeout: float = 30.0) -> None:
            self.assigns += 1
            if self.assigns == 1:
                raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
            self._expected = {}

        def consume(self, size, timeout):
            return [_message(0, 0)], False

    async def scenario():
        reader = Reader({}, ["activity"])
        flow = FlowControlEvent(initially_suspended=False)
        consumer = SimpleNamespace(assignment=lambda: {TP("activity", 0)}, _acked={}, _acked_index={}, _gap={})
        app = SimpleNamespace(flow_control=flow, rebalancing=False, consumer_generation_id=1, consumer=consumer)
        batches = reader.batches(app, 10, lambda: 0.01)
        batch = await asyncio.wait_for(batches.__anext__(), 5)
        await batches.aclose()
        return reader.assigns, batch

    assigns, batch = asyncio.run(scenario())
    assert assigns == 2 and [m.offset for m in batch.messages] == [0]
