"""Reading the engine's outputs back, and waiting for it to catch up, against the real broker."""

from __future__ import annotations

import time

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from leap.kafka import client_config
from leap.settings import Settings
from schemas.codec import default_codec
from tests.integration.kafka_helpers import end_offsets, read_range


def latest_states(settings: Settings) -> dict[str, dict]:
    """Every student's latest record on the student-state topic."""
    topic = settings.topic("student-state")
    states: dict[str, dict] = {}
    codec = default_codec()
    for msg in read_range(settings, topic, {}, end_offsets(settings, topic)):
        record = codec.decode(msg.value(), expect="student_state")
        states[record["student_id"]] = record
    return states


def all_records(settings: Settings, name: str, schema: str) -> list[dict]:
    """Every record of one of LEAP's topics, decoded."""
    topic = settings.topic(name)
    codec = default_codec()
    return [codec.decode(m.value(), expect=schema) for m in read_range(settings, topic, {}, end_offsets(settings, topic))]


def group_lag(settings: Settings, group: str, topics: list[str]) -> int:
    """Messages not yet committed by ``group`` on ``topics`` (a partition never committed counts whole)."""
    admin = AdminClient(client_config(settings))
    committed: dict[tuple[str, int], int] = {}
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    for tp in result.topic_partitions:
        committed[(tp.topic, tp.partition)] = tp.offset
    lag = 0
    for topic in topics:
        for partition, high in end_offsets(settings, topic).items():
            low = committed.get((topic, partition), -1)
            lag += high - max(low, 0)
    return lag


def wait_until(predicate, seconds: float, what: str, interval: float = 1.0):
    """Poll ``predicate`` until it returns a truthy value; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what} (last: {last!r})")
