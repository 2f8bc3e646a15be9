"""The identity map's shell: load it from Kafka, publish an identities file, release quarantined events.

The map lives on the compacted ``leap.identities`` topic, keyed by identity
(``namespace:value``), so every producer reads the same map and a new process learns it by
reading the topic whole. Events whose person was unknown wait on ``leap.identity-quarantine``;
``retry_quarantine`` publishes those the map now knows, and puts the rest back.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from leap.kafka import Publisher, client_config, read_to_end
from leap.settings import Settings
from producers.identities import IdentityMap, Unknown, identity_columns, parse_identity_row
from producers.ingest import Counts, Sink, publish_outcomes
from producers.outcome import CsvRecord, Event, Outcome, Reject
from producers.readers import header_and_rows, open_text
from leap.dead_letter import DeadLetters
from schemas.codec import Codec, CodecError, default_codec


RETRY_GROUP = "{prefix}-identity-retry"  # its committed offset is where the waiting events start


def _entry(msg, codec: Codec) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    """An identities message as (identity, student id; None for a tombstone)."""
    key = (msg.key() or b"").decode("utf-8", "replace")
    return key, None if msg.value() is None else codec.decode(msg.value(), expect="identity")["student_id"]


def load_identity_map(settings: Settings, codec: Codec | None = None, timeout: float = 30.0) -> IdentityMap:
    """The identity map as the ``identities`` topic has it now."""
    codec = codec or default_codec()
    known = IdentityMap()
    for msg in read_to_end(settings, settings.topic("identities"), timeout):
        known.learn(*_entry(msg, codec))
    return known


def identity_outcomes(records: Iterable[CsvRecord], columns: dict[str, int], location: str) -> Iterator[tuple[CsvRecord, Outcome]]:
    """Each row of an identities file as one outcome whose event is the row's identity records.

    A value a row gives to a different student than an earlier row of the same file did is
    a rejection of the later row: the file contradicts itself and someone must decide.
    """
    seen = IdentityMap()
    name = Path(location).name
    for record in records:
        pairs = parse_identity_row(columns, record.fields or []) if record.error is None else Reject(record.error)
        if isinstance(pairs, Reject):
            yield record, pairs
            continue
        conflicts = [problem for key, student in pairs if (problem := seen.conflict(key, student))]
        if conflicts:
            yield record, Reject(conflicts[0])
            continue
        for key, student in pairs:
            seen.learn(key, student)
        yield record, Event({"pairs": pairs, "loaded_from": f"{name}:{record.line}"})


class IdentitySink(Sink):
    """Publishes an identities row's pairs to the compacted topic (one message per identity)."""

    def put(self, record: CsvRecord, outcome: Outcome) -> None:
        """Publish each identity of a row, or dead-letter the row."""
        if not isinstance(outcome, Event):
            super().put(record, outcome)
            return
        for key, student in outcome.record["pairs"]:
            value = {"identity": key, "student_id": student, "loaded_from": outcome.record["loaded_from"]}
            self._publisher.send(self._topic, self._codec.encode("identity", value), key=key)
        self.counts.published += 1


def read_identities_file(path: Path, into: IdentityMap | None = None) -> IdentityMap:
    """An identities CSV (or a roster with identity columns) as a map, for offline runs; rejected rows are left out.

    ``ValueError`` when the header has no ``student_id`` or no identity column.
    """
    known = into if into is not None else IdentityMap()
    with open_text(path) as stream:
        header, records = header_and_rows(stream)
        columns = identity_columns(header)
        for _, outcome in identity_outcomes(records, columns, str(path)):
            if isinstance(outcome, Event):
                for key, student in outcome.record["pairs"]:
                    known.learn(key, student)
    return known


def has_identity_columns(path: Path) -> bool:
    """Whether a CSV's header has ``student_id`` and at least one identity column (a roster may)."""
    try:
        with open_text(path) as stream:
            identity_columns(header_and_rows(stream)[0])
    except ValueError:
        return False
    return True


def publish_identities(path: Path, settings: Settings, *, source: str = "identities") -> Counts:
    """Publish an identities CSV (or a roster with identity columns) to the identities topic.

    ``ValueError`` when the header has no ``student_id`` or no identity column.
    """
    with open_text(path) as stream:
        header, records = header_and_rows(stream)
        columns = identity_columns(header)
        with Publisher.for_command(settings) as publisher:
            sink = IdentitySink(settings, publisher, default_codec(), source=source, location=str(path), topic_name="identities", schema="identity")

            def counted() -> Iterator[CsvRecord]:
                for record in records:
                    sink.counts.read += 1
                    yield record

            return publish_outcomes(identity_outcomes(counted(), columns, str(path)), sink, publisher)


@dataclass
class RetryCounts:
    """What a retry did with the quarantined events it read."""

    read: int = 0
    released: int = 0
    still_unknown: int = 0
    unknown_by_namespace: Counter[str] = field(default_factory=Counter)


def retry_quarantine(settings: Settings, timeout: float = 30.0) -> RetryCounts:
    """Publish the quarantined events whose person the map now knows; put the others back.

    Reads the quarantine from its consumer group's committed position to the end as it is
    now, publishes, waits for Kafka's acknowledgements, and only then commits: a crash
    repeats some work but loses nothing (event ids make a repeat harmless).
    """
    codec = default_codec()
    known = load_identity_map(settings, codec, timeout)
    topic = settings.topic("identity-quarantine")
    counts = RetryCounts()
    consumer = Consumer(client_config(settings, **{"group.id": RETRY_GROUP.format(prefix=settings.topic_prefix), "enable.auto.commit": False,
                                                    "auto.offset.reset": "earliest"}))  # fmt: skip
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout)
        committed = consumer.committed([TopicPartition(topic, 0)], timeout=timeout)[0].offset
        start = max(low, committed if committed >= 0 else low)
        if start >= high:
            return counts
        consumer.assign([TopicPartition(topic, 0, start)])
        with Publisher.for_command(settings) as publisher:
            position = start
            while position < high:
                msg = consumer.poll(timeout)
                if msg is None:
                    raise TimeoutError(f"{topic} did not answer within {timeout:.0f} s at offset {position} of {high}")
                if msg.error() is not None:
                    continue
                position = msg.offset() + 1
                if msg.offset() >= high:
                    break
                try:
                    _retry_one(msg.value() or b"", known, codec, publisher, settings, counts)
                except CodecError as exc:  # not a quarantined event: kept, not fatal
                    DeadLetters(settings, publisher, codec).reject(source="identity-retry", location=topic, position=f"0:{msg.offset()}",
                                                                   reason=f"not a quarantined event: {exc}", raw=msg.value() or b"")  # fmt: skip
                    counts.read += 1
            publisher.flush()
        consumer.commit(offsets=[TopicPartition(topic, 0, position)], asynchronous=False)
    finally:
        consumer.close()
    return counts


def _retry_one(value: bytes, known: IdentityMap, codec: Codec, publisher: Publisher, settings: Settings, counts: RetryCounts) -> None:
    held = codec.decode(value, expect="quarantined_event")
    counts.read += 1
    namespace = held["identity"].partition(":")[0]
    event = codec.decode(held["event"], expect="activity_event")
    resolved = known.resolve(Event(event, namespace))
    if isinstance(resolved, Unknown):
        publisher.send(settings.topic("identity-quarantine"), value, key=held["identity"])
        counts.still_unknown += 1
        counts.unknown_by_namespace[namespace] += 1
        return
    publisher.send(settings.topic("activity"), codec.encode("activity_event", resolved.record), key=resolved.record["student_id"])
    counts.released += 1




def follow_identities(settings: Settings, known: IdentityMap, ready: threading.Event, stop: threading.Event, codec: Codec | None = None) -> None:
    """Keep ``known`` up to date with the identities topic until ``stop`` is set (a long-running process's thread).

    ``ready`` is set once the map has read up to where the topic ended when it started, so
    a server can say it is not ready before it knows the people it resolves.
    """
    codec = codec or default_codec()
    topic = settings.topic("identities")
    consumer = Consumer(client_config(settings, **{"group.id": f"leap-follower-{topic}", "enable.auto.commit": False}))
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])  # 0: from the oldest kept
        behind = {p for p, end in ends.items() if end > 0}
        if not behind:
            ready.set()
        while not stop.is_set():
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            try:
                known.learn(*_entry(msg, codec))
            except CodecError:
                pass  # not an identity record; the map is unchanged (load_identity_map would refuse the same)
            if msg.partition() in behind and msg.offset() + 1 >= ends[msg.partition()]:
                behind.discard(msg.partition())
                if not behind:
                    ready.set()
    finally:
        consumer.close()
