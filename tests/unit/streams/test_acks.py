"""streams.acks: the worker's consumer records acknowledgements only for processed messages."""

from __future__ import annotations

import faust
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from streams.drain import use_draining_consumer


def _consumer(processed):
    app = faust.App("acks-test", broker="kafka://127.0.0.1:1", store="memory://")
    app.topics.acking_topics.add("activity")  # as faust marks the topics its agents read
    use_draining_consumer(app, processed=processed)
    return app.consumer


def _message(offset: int) -> ConsumerMessage:
    return ConsumerMessage("activity", 0, offset, 0.0, 0, None, b"k", b"v", None)


def test_a_processed_message_is_acknowledged_and_a_skipped_one_is_not():
    done = {3}
    consumer = _consumer(lambda m: m.offset in done)
    tp = TP("activity", 0)
    processed, skipped = _message(3), _message(4)
    processed.ack(consumer)  # what faust's stream does after an agent had it
    skipped.ack(consumer)  # what faust's stream does with a message it skipped in a rebalance
    assert list(consumer._acked[tp]) == [3]
    assert not skipped.acked
    # Read again and processed this time: then it counts.
    done.add(4)
    again = _message(4)
    again.ack(consumer)
    assert sorted(consumer._acked[tp]) == [3, 4]


def test_without_a_rule_every_ack_is_recorded_as_in_faust():
    app = faust.App("acks-test-2", broker="kafka://127.0.0.1:1", store="memory://")
    app.topics.acking_topics.add("activity")
    use_draining_consumer(app)
    _message(7).ack(app.consumer)
    assert list(app.consumer._acked[TP("activity", 0)]) == [7]


def test_faust_still_acknowledges_what_its_stream_skips():
    # Why the guard exists: if a faust upgrade stops acking skipped messages, this fails and
    # the guard (and its re-reads) can be reconsidered.
    import inspect

    from faust.streams import Stream

    source = inspect.getsource(Stream._py_aiter)
    assert "message.generation_id != self.app.consumer_generation_id" in source
    assert "if event is not None and (do_ack or value is skipped_value):" in source
