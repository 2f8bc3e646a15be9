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


SMALL_COHORTS = "smaller cohorts"


def bands_by_cohort(states: dict[str, dict], min_size: int = 1) -> dict[str, Counter[str] | None]:
    """How many students of each cohort are in each band: counts only, never of a small group.

    Cohorts with fewer than ``min_size`` students are pooled into one row; if the pool is
    itself smaller, its counts by band are withheld (``None``), so no row describes fewer
    than ``min_size`` people (the policy's ``min_cohort_size``).
    """
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for record in states.values():
        table[record["cohort"]][record["band"]] += 1
    shown: dict[str, Counter[str] | None] = {}
    pooled: Counter[str] = Counter()
    for cohort, counts in sorted(table.items()):
        if sum(counts.values()) >= min_size:
            shown[cohort] = counts
        else:
            pooled.update(counts)
    if pooled:
        shown[f"{SMALL_COHORTS} (under {min_size} each)"] = pooled if sum(pooled.values()) >= min_size else None
    return shown


def pooled_size(states: dict[str, dict], table: dict[str, Counter[str] | None]) -> int:
    """Students in the rows whose counts were withheld."""
    return len(states) - sum(sum(c.values()) for c in table.values() if c is not None)


BAND_COLUMNS = (*reversed(BAND_ORDER), NO_DATA)
