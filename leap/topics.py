"""LEAP's Kafka topics: what each is for, and retention and compaction chosen for that use.

| topic              | key        | partitions | cleanup | retention | why |
|--------------------|------------|------------|---------|-----------|-----|
| activity           | student id | LEAP_PARTITIONS | delete | 400 days | the log every band is computed from; an academic year and a margin, so a year can be replayed and a challenge checked against the raw events, then gone (data minimisation) |
| roster             | student id | LEAP_PARTITIONS | compact | forever (latest per student) | cohort, mode of study, tutor: the engine needs the latest entry of every student, co-partitioned with activity |
| band-changes       | student id | LEAP_PARTITIONS | delete | 400 days | every change, for alerts and for history; PostgreSQL keeps them after that |
| student-state      | student id | LEAP_PARTITIONS | compact | forever (latest per student) | each student's current score, band and explanation, so a serving store can rebuild from it |
| daily-summaries    | student id | LEAP_PARTITIONS | delete | 400 days | end-of-day score and band, for history charts |
| clock              | none       | LEAP_PARTITIONS | delete | 7 days | ticks (day rollover without events) and cohort baselines sent to every partition; read within seconds, kept a week for diagnosis |
| cohort-contributions | cohort   | LEAP_PARTITIONS | delete | 7 days | students' complete-day measures for the cohort medians; the cohort agent's table holds the state |
| dead-letter        | source     | 1 | delete | 90 days | rejected records with source, position and reason, in the order they failed; long enough to notice, fix and replay |
| identities         | identity   | 1 | compact | forever (latest per identity) | which student each source system's id (card number, Moodle user id, ...) stands for; every adapter's shell reads it whole |
| checkpoints        | tail name  | 1 | compact | forever (latest per tail) | how far each live tail (leap tail moodle) has read, written in the transaction of the events it covers |
| identity-quarantine | identity  | 1 | delete | 400 days | events whose person was not yet in the identity map, until `leap identities retry` publishes them; as long as activity is kept |

Per-student topics share one partition count so a student's activity, roster entry and state
land on the same partition number (Faust joins them by key without repartitioning). Never
raise the count of an existing topic: that moves students between partitions and their
state with them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from leap.kafka import client_config
from leap.settings import Settings

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """One of LEAP's topics: its short name, partitioning and configuration."""

    name: str
    purpose: str
    per_student: bool = True
    partitions: int | None = None
    config: dict[str, str] = field(default_factory=dict)


def _delete(days: int) -> dict[str, str]:
    return {"cleanup.policy": "delete", "retention.ms": str(days * DAY_MS)}


# Compacted topics keep the latest value per key; a tombstone (null value) removes a student.
_COMPACT = {
    "cleanup.policy": "compact",
    "retention.ms": "-1",
    "min.compaction.lag.ms": str(60 * 60 * 1000),
    "delete.retention.ms": str(DAY_MS),
}

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("activity", "normalised activity events from every source", config=_delete(400)),
    TopicSpec("roster", "students' cohort, mode of study and tutor (latest per student)", config=_COMPACT),
    TopicSpec("band-changes", "every change of a student's engagement band", config=_delete(400)),
    TopicSpec("student-state", "each student's current score, band and explanation", config=_COMPACT),
    TopicSpec("daily-summaries", "each student's score and band at the end of each day", config=_delete(400)),
    TopicSpec("clock", "ticks and cohort baselines for every engine partition", config=_delete(7)),
    TopicSpec("cohort-contributions", "students' measures for cohort medians, keyed by cohort", config=_delete(7)),
    TopicSpec(
        "dead-letter",
        "rejected records with source, position and reason",
        per_student=False,
        partitions=1,
        config=_delete(90),
    ),
    TopicSpec("identities", "which student each source system's id stands for", per_student=False, partitions=1, config=_COMPACT),
    TopicSpec("checkpoints", "how far each live tail has read its source", per_student=False, partitions=1, config=_COMPACT),
    TopicSpec(
        "identity-quarantine",
        "events waiting for the identity map to learn their person",
        per_student=False,
        partitions=1,
        config=_delete(400),
    ),
)


@dataclass(frozen=True)
class TopicStatus:
    """A topic as the broker has it."""

    name: str
    partitions: int
    messages: int
    purpose: str
    cleanup_policy: str


def _partitions(spec: TopicSpec, settings: Settings) -> int:
    return settings.partitions if spec.per_student else (spec.partitions or 1)


def create_topics(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Create LEAP's topics that are missing and bring existing ones to their configuration.

    Returns one line per topic saying what was done. Idempotent. Raises ``RuntimeError`` if a
    topic exists with fewer partitions than configured (that cannot be fixed without moving
    students' state, so it needs a person).
    """
    admin = AdminClient(client_config(settings))
    existing = admin.list_topics(timeout=timeout).topics
    report: list[str] = []
    to_create: list[NewTopic] = []
    for spec in TOPICS:
        name = settings.topic(spec.name)
        wanted = _partitions(spec, settings)
        if name in existing:
            have = len(existing[name].partitions)
            if have < wanted:
                raise RuntimeError(
                    f"{name} has {have} partitions, the settings ask for {wanted}: "
                    "adding partitions moves students between them; migrate it deliberately"
                )
            continue
        to_create.append(
            NewTopic(name, num_partitions=wanted, replication_factor=settings.replication_factor, config=spec.config)
        )
    futures = admin.create_topics(to_create, request_timeout=timeout) if to_create else {}
    for name, future in futures.items():
        try:
            future.result()
            report.append(f"created {name}")
        except KafkaException as exc:
            if exc.args[0].code() != exc.args[0].TOPIC_ALREADY_EXISTS:  # a concurrent creator won
                raise
    created = {t.topic for t in to_create}
    _wait_for_leaders(settings, created, timeout)
    resources = [
        ConfigResource(
            ConfigResource.Type.TOPIC,
            settings.topic(spec.name),
            incremental_configs=[ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in spec.config.items()],
        )
        for spec in TOPICS
        if settings.topic(spec.name) not in created
    ]
    if resources:
        for resource, future in admin.incremental_alter_configs(resources, request_timeout=timeout).items():
            future.result()
            report.append(f"exists {resource.name} (configuration applied)")
    return report


def delete_topics(settings: Settings, timeout: float = 60.0) -> list[str]:
    """Delete LEAP's topics under this prefix, and the engine's own (``<prefix>-engine-*``); return their names.

    Returns once the broker no longer lists them, so they can be created afresh at once.
    For a development or demonstration deployment (``leap reset``): every event goes.
    """
    admin = AdminClient(client_config(settings))
    ours = {settings.topic(spec.name) for spec in TOPICS}
    engine = f"{settings.topic_prefix}-engine-"
    names = sorted(n for n in admin.list_topics(timeout=timeout).topics if n in ours or n.startswith(engine))
    if not names:
        return []
    _delete_named(admin, names, timeout)
    deadline = time.monotonic() + timeout
    while set(names) & set(admin.list_topics(timeout=timeout).topics):
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics still listed {timeout:.0f} s after deleting them")
        time.sleep(0.2)  # deletion is asynchronous in the controller; poll until it is done
    return names


def delete_topics_starting(settings: Settings, prefix: str, timeout: float = 30.0) -> list[str]:
    """Delete every topic whose name starts with ``prefix``: a test's, a benchmark's or a chaos
    run's own deployment, faust's internal topics included. Returns their names."""
    admin = AdminClient(client_config(settings))
    names = sorted(t for t in admin.list_topics(timeout=timeout).topics if t.startswith(prefix))
    if names:
        _delete_named(admin, names, timeout)
    return names


def delete_deployment(settings: Settings, prefix: str) -> None:
    """Delete a deployment of its own (a test's or a chaos run's): its topics and the engine's
    and the consumer's groups (a group that never committed has nothing to delete)."""
    delete_topics_starting(settings, prefix)
    admin = AdminClient(client_config(settings))  # kept referenced: its futures complete only while it lives
    for future in admin.delete_consumer_groups([engine_group(prefix), consumer_group(prefix)]).values():
        try:
            future.result()
        except KafkaException:
            pass


def _delete_named(admin: AdminClient, names: list[str], timeout: float) -> None:
    for future in admin.delete_topics(names, operation_timeout=timeout, request_timeout=timeout).values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:  # already gone
                raise


_SETTLING = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
}


def _wait_for_leaders(settings: Settings, names: set[str], timeout: float) -> None:
    # A new topic is usable once every partition's leader answers; metadata can name the
    # leader a moment before it serves requests, so ask each partition for its offsets.
    if not names:
        return
    deadline = time.monotonic() + timeout
    consumer = Consumer(client_config(settings, **{"group.id": "leap-topics-create", "enable.auto.commit": False}))
    try:
        for name in sorted(names):
            partitions = None
            while partitions is None:
                topic = consumer.list_topics(name, timeout=timeout).topics.get(name)
                if topic is not None and topic.error is None and topic.partitions:
                    partitions = sorted(topic.partitions)
                elif time.monotonic() > deadline:
                    raise RuntimeError(f"topic {name} has no metadata after {timeout:.0f} s")
                else:
                    time.sleep(0.1)
            for partition in partitions:
                while True:
                    try:
                        consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=timeout)
                        break
                    except KafkaException as exc:
                        error = exc.args[0]
                        settling = error.retriable() or error.code() in _SETTLING
                        if not settling or time.monotonic() > deadline:
                            raise
                        time.sleep(0.1)
    finally:
        consumer.close()


def list_topics(settings: Settings, timeout: float = 30.0) -> list[TopicStatus]:
    """LEAP's topics on the broker with partitions and message counts (high minus low watermark).

    On compacted topics the count is an upper bound: compaction removes superseded records
    lazily.
    """
    admin = AdminClient(client_config(settings))
    metadata = admin.list_topics(timeout=timeout).topics
    consumer = Consumer(client_config(settings, **{"group.id": "leap-topics-list", "enable.auto.commit": False}))
    statuses = []
    try:
        for spec in TOPICS:
            name = settings.topic(spec.name)
            if name not in metadata:
                continue
            total = 0
            for partition in metadata[name].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=timeout)
                total += high - low
            statuses.append(
                TopicStatus(name, len(metadata[name].partitions), total, spec.purpose, spec.config["cleanup.policy"])
            )
    finally:
        consumer.close()
    return statuses


def group_lag(settings: Settings, group: str, topics: list[str], timeout: float = 30.0) -> int:
    """Messages on ``topics`` not yet committed by consumer ``group`` (never-committed partitions count whole)."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    admin = AdminClient(client_config(settings))
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=timeout)[group].result()
    committed = {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions}
    consumer = Consumer(client_config(settings, **{"group.id": "leap-lag-reader", "enable.auto.commit": False}))
    lag = 0
    try:
        metadata = consumer.list_topics(timeout=timeout).topics
        for topic in topics:
            for partition in metadata[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
                lag += high - max(committed.get((topic, partition), low), low)
    finally:
        consumer.close()
    return lag


def engine_group(prefix: str) -> str:
    """The stream workers' consumer group, and faust's app id (its tables' changelogs start with it)."""
    return f"{prefix}-engine"


def consumer_group(prefix: str) -> str:
    """The alert consumer's consumer group."""
    return f"{prefix}-consumer"


def engine_changelog(prefix: str, table: str) -> str:
    """The changelog topic of one of the engine's tables (faust names it after the app id)."""
    return f"{engine_group(prefix)}-{table}-changelog"
