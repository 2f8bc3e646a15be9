"""Reading the engine's outputs back from Kafka: each student's latest state, band summaries."""

from __future__ import annotations

import time
from collections import Counter, defaultdict

from confluent_kafka import Consumer, TopicPartition

from leap.kafka import client_config
from leap.policy import BAND_ORDER, NO_DATA
from leap.settings import Settings
from schemas.codec import default_codec


def latest_states(settings: Settings, timeout: float = 30.0) -> dict[str, dict]:
    """Every student's latest record on the compacted student-state topic."""
    topic = settings.topic("student-state")
    codec = default_codec()
    consumer = Consumer(client_config(settings, **{"group.id": "leap-state-reader", "enable.auto.commit": False}))
    states: dict[str, dict] = {}
    try:
        partitions = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout) for p in partitions}
        pending = {p for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in pending])
        last_message = time.monotonic()
        while pending:
            # consume() waits for all 10,000 or the timeout: keep each wait short.
            batch = consumer.consume(10_000, timeout=0.2)
            if batch:
                last_message = time.monotonic()
            elif time.monotonic() - last_message > timeout:
                raise TimeoutError(f"no messages from {topic} for {timeout:.0f} s")
            for msg in batch:
                if msg.error() is not None:
                    continue
                if msg.offset() + 1 >= ends[msg.partition()][1]:
                    pending.discard(msg.partition())
                if msg.value() is not None:
                    record = codec.decode(msg.value(), expect="student_state")
                    states[record["student_id"]] = record
    finally:
        consumer.close()
    return states


def bands_by_cohort(states: dict[str, dict]) -> dict[str, Counter[str]]:
    """How many students of each cohort are in each band (counts only: nobody is identified)."""
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for record in states.values():
        table[record["cohort"]][record["band"]] += 1
    return dict(sorted(table.items()))


BAND_COLUMNS = (*reversed(BAND_ORDER), NO_DATA)
