"""A record faust's own producer loses ends the worker before the commit that would pass it."""

from __future__ import annotations

import asyncio
from collections import deque
from functools import partial
from types import SimpleNamespace

from aiokafka.errors import KafkaTimeoutError
from aiokafka.producer.message_accumulator import BatchBuilder, MessageAccumulator, MessageBatch
from aiokafka.structs import TopicPartition
from faust.topics import Topic

from streams.send_errors import DELIVERY_DEADLINE, SendFailures


def test_a_lost_record_ends_the_worker_with_the_reason():
    reasons: list[str] = []
    SendFailures(reasons.append).on_send_error(None, KafkaTimeoutError("batch expired"), None)
    SendFailures(reasons.append).on_send_error(None, OSError("broker gone"), None)
    assert reasons == [
        "faust's producer could not deliver a record: KafkaTimeoutError: batch expired",
        "faust's producer could not deliver a record: OSError: broker gone",
    ]


def test_the_failure_is_reported_before_the_flush_that_precedes_a_commit_returns():
    # faust commits offsets after ``await producer.flush()``, which waits on aiokafka's batch
    # futures; the worker must end (SendFailures, from faust's _on_published) before then.
    order: list[str] = []
    guard = SendFailures(lambda reason: order.append("worker ends"))

    async def scenario() -> None:
        tp = TopicPartition("leap.cohort-members-changelog", 0)
        batch = MessageBatch(tp, BatchBuilder(16384, 0), ttl=DELIVERY_DEADLINE, linger_time=0)
        record = batch.append(b"key", b"value", None)
        sent = SimpleNamespace(set_exception=lambda exc: None, message=SimpleNamespace(channel=SimpleNamespace(get_topic_name=lambda: tp.topic)))
        topic = SimpleNamespace(app=SimpleNamespace(sensors=guard))
        record.add_done_callback(partial(Topic._on_published, topic, message=sent, producer=None, state=None))
        accumulator = SimpleNamespace(_batches={tp: deque([batch])}, _pending_batches=set())

        async def commit() -> None:
            await MessageAccumulator.flush(accumulator)
            order.append("offsets committed")

        committing = asyncio.ensure_future(commit())
        await asyncio.sleep(0)  # the commit now waits in the flush
        batch.failure(KafkaTimeoutError("batch expired"))
        await committing

    asyncio.run(scenario())
    assert order == ["worker ends", "offsets committed"]


def test_the_worker_installs_it_and_bounds_faust_sends_as_its_own(tmp_path):
    from leap.settings import Settings
    from streams.app import create_app

    app = create_app(Settings(state_dir=tmp_path), datadir=tmp_path / "worker")
    assert app.conf.producer_request_timeout == DELIVERY_DEADLINE
    assert [s for s in app.sensors if isinstance(s, SendFailures)]
