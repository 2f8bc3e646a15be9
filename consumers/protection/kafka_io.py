"""Kafka for data protection: one student's messages read back, tombstones, topics' retention.

A student's messages on a per-student topic are all on one partition (``partition_for``),
so a subject-access export reads only that partition, from its first to its last offset,
and keeps the messages whose key is the student's id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from consumers.protection.archive import KafkaMessage
from leap.kafka import Publisher, client_config, read_to_end
from leap.settings import Settings
from leap.vocabulary import partition_for
from schemas.codec import Codec, CodecError

# progress(label, messages read so far, messages to read)
Progress = Callable[[str, int, int], None]


class TopicMissing(LookupError):
    """The topic does not exist on the broker."""


def read_key(settings: Settings, name: str, key: str, codec: Codec, schema: str, *, progress: Progress | None = None,
             idle_seconds: float = 30.0) -> list[KafkaMessage]:  # fmt: skip
    """Every message keyed ``key`` on topic ``name`` (short name) still on the broker, oldest first."""
    topic = settings.topic(name)
    consumer = Consumer(client_config(settings, **{"group.id": f"{settings.topic_prefix}-protection-reader", "enable.auto.commit": False}))
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise TopicMissing(f"topic {topic} does not exist")
        partition = partition_for(key.encode(), len(metadata.partitions))
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        total = max(0, high - low)
        if progress:
            progress(topic, 0, total)
        if total == 0:
            return []
        consumer.assign([TopicPartition(topic, partition, low)])
        found: list[KafkaMessage] = []
        last_seen, next_offset = time.monotonic(), low
        wanted = key.encode()
        while next_offset < high:
            batch = [m for m in consumer.consume(5000, timeout=0.5) if m.error() is None]
            if not batch:
                if time.monotonic() - last_seen > idle_seconds:
                    raise TimeoutError(f"no messages from {topic} partition {partition} for {idle_seconds:.0f} s (read to offset {next_offset:,} of {high:,})")
                continue
            last_seen = time.monotonic()
            for msg in batch:
                # Messages published since the watermarks were read belong to a later export.
                if msg.offset() < high and msg.key() == wanted:
                    found.append(_decoded(msg, codec, schema))
                next_offset = max(next_offset, msg.offset() + 1)
            if progress:
                progress(topic, min(next_offset, high) - low, total)
        return found
    finally:
        consumer.close()


def _decoded(msg, codec: Codec, schema: str) -> KafkaMessage:  # type: ignore[no-untyped-def]
    kind, ms = msg.timestamp()
    stamp = ms if kind != 0 and ms >= 0 else None
    if msg.value() is None:
        return KafkaMessage(msg.topic(), msg.partition(), msg.offset(), stamp, None)
    try:
        return KafkaMessage(msg.topic(), msg.partition(), msg.offset(), stamp, codec.decode(msg.value(), expect=schema))
    except CodecError as exc:
        return KafkaMessage(msg.topic(), msg.partition(), msg.offset(), stamp, None, error=str(exc), raw=msg.value())


def tombstones(settings: Settings, names: Iterable[str], key: str) -> dict[str, int]:
    """Publish a tombstone (null value) for ``key`` on each topic (short names); count per topic."""
    sent: dict[str, int] = {}
    with Publisher(settings, client_id="leap-erase") as publisher:
        for name in names:
            publisher.send(settings.topic(name), None, key=key)
            sent[settings.topic(name)] = 1
    return sent


def identity_keys(settings: Settings, student_id: str, codec: Codec) -> list[str]:
    """The identities (``namespace:value``) the identity map holds for the student, now."""
    held: dict[str, str | None] = {}
    for msg in read_to_end(settings, settings.topic("identities")):
        key = (msg.key() or b"").decode("utf-8", "replace")
        try:
            held[key] = None if msg.value() is None else codec.decode(msg.value(), expect="identity")["student_id"]
        except CodecError:
            continue
    return sorted(key for key, student in held.items() if student == student_id)


def forget_identities(settings: Settings, keys: Iterable[str]) -> int:
    """A tombstone for each identity on the compacted identities topic; how many."""
    keys = list(keys)
    with Publisher(settings, client_id="leap-erase") as publisher:
        for key in keys:
            publisher.send(settings.topic("identities"), None, key=key)
    return len(keys)


def topic_retention(settings: Settings, names: Iterable[str]) -> dict[str, tuple[int, int]]:
    """(retention.ms, segment.ms) of each existing topic (short name -> values), from the broker."""
    admin = AdminClient(client_config(settings))
    existing = admin.list_topics(timeout=10).topics
    resources = [ConfigResource(ConfigResource.Type.TOPIC, settings.topic(n)) for n in names if settings.topic(n) in existing]
    found: dict[str, tuple[int, int]] = {}
    for resource, future in admin.describe_configs(resources, request_timeout=30).items() if resources else ():
        configs = future.result()
        short = resource.name.removeprefix(settings.topic_prefix + ".")
        found[short] = (int(configs["retention.ms"].value), int(configs["segment.ms"].value))
    return found
