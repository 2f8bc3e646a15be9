"""Read back what was published, to the last message, from the real broker."""

from __future__ import annotations

from confluent_kafka import Consumer, Message, TopicPartition

from leap.kafka import client_config
from leap.settings import Settings


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """The high watermark of each partition of ``topic``."""
    consumer = Consumer(client_config(settings, **{"group.id": "leap-test-offsets"}))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    finally:
        consumer.close()


def read_range(settings: Settings, topic: str, start: dict[int, int], end: dict[int, int]) -> list[Message]:
    """Every message of ``topic`` from ``start`` up to (not including) ``end``, per partition."""
    consumer = Consumer(client_config(settings, **{"group.id": "leap-test-reader", "enable.auto.commit": False}))
    pending = {p for p in end if end[p] > start.get(p, 0)}
    consumer.assign([TopicPartition(topic, p, start.get(p, 0)) for p in pending])
    messages: list[Message] = []
    try:
        idle = 0
        while pending:
            batch = consumer.consume(10_000, timeout=1.0)
            if not batch:
                idle += 1
                assert idle < 30, f"no messages for 30 s; still waiting on partitions {sorted(pending)}"
                continue
            idle = 0
            for msg in batch:
                assert msg.error() is None, msg.error()
                if msg.offset() < end[msg.partition()]:
                    messages.append(msg)
                if msg.offset() + 1 >= end[msg.partition()]:
                    pending.discard(msg.partition())
    finally:
        consumer.close()
    return messages
