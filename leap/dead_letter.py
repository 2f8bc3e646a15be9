"""The dead-letter topic: where every rejected record goes, whole, with where it was and why."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator

from confluent_kafka import Consumer, KafkaException, TopicPartition

from leap.kafka import Publisher, client_config
from leap.settings import Settings
from schemas.codec import Codec, CodecError


# The most of a rejected record kept on the dead-letter topic. Kafka refuses messages over
# about 1 MB: a bigger rejected row would fail to send and stop the process that rejected it
# (and every good row after it), so the head is kept and the reason says how long it was.
MAX_RAW_BYTES = 64 * 1024
MAX_REASON_CHARS = 1000


def dead_letter_record(*, source: str, location: str, position: str, reason: str, raw: bytes, rejected_at: int | None = None,
                       context: bytes | None = None) -> dict:  # fmt: skip
    """A ``dead_letter`` record (``rejected_at`` defaults to now), cut to a size Kafka accepts.

    ``context``: what reading the record again needs beside it (a file's header line).
    """
    reason = reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"
    if len(raw) > MAX_RAW_BYTES:
        reason = f"{reason} [record of {len(raw):,} bytes: the first {MAX_RAW_BYTES:,} kept]"
        raw = raw[:MAX_RAW_BYTES]
    return {
        "source": source,
        "location": location[:MAX_REASON_CHARS],
        "position": position[:MAX_REASON_CHARS],
        "reason": reason,
        "raw": raw,
        "rejected_at": int(time.time() * 1000) if rejected_at is None else rejected_at,
        "context": None if context is None else context[:MAX_RAW_BYTES],
    }


class DeadLetters:
    """Publishes rejected records to ``<prefix>.dead-letter``, keyed by the rejecting source."""

    def __init__(self, settings: Settings, publisher: Publisher, codec: Codec) -> None:
        self._topic = settings.topic("dead-letter")
        self._publisher = publisher
        self._codec = codec
        self.count = 0

    def reject(self, *, source: str, location: str, position: str, reason: str, raw: bytes, context: bytes | None = None) -> None:
        """Send one rejected record to the dead-letter topic."""
        record = dead_letter_record(source=source, location=location, position=position, reason=reason, raw=raw, context=context)
        self._publisher.send(self._topic, self._codec.encode("dead_letter", record), key=source)
        self.count += 1


# Quoted values, dates and times, and free-standing numbers (not the 8 of "UTF-8").
_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?|(?<![\w.-])-?\d+(?:\.\d+)?(?![\w.])")


def reason_kind(reason: str) -> str:
    """A reason with its quoted values and numbers elided, so summaries group by kind, not value."""
    return _VALUES.sub("…", reason)


def summarise(letters: Iterable[dict]) -> Counter[tuple[str, str]]:
    """How many dead letters there are of each (source, kind of reason)."""
    return Counter((letter["source"], reason_kind(letter["reason"])) for letter in letters)


def read_dead_letters(settings: Settings, codec: Codec, timeout: float = 10.0, *, start: int | None = None, stop: int | None = None) -> Iterator[dict]:
    """The records on the dead-letter topic from offset ``start`` (default: the oldest kept)
    to before ``stop`` (default: the end when called), oldest first, each with its ``offset``.

    Reads without a consumer group (nothing is committed, so reading never hides a record
    from the next reader). A record that is not a dead letter at all is shown as one, with
    the reason.
    """
    topic = settings.topic("dead-letter")
    consumer = Consumer(client_config(settings, **{"group.id": "leap-dead-letters-reader", "enable.auto.commit": False}))
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout)
        low, high = max(low, start or 0), high if stop is None else min(high, stop)
        if high <= low:
            return
        consumer.assign([TopicPartition(topic, 0, low)])
        position = low
        while position < high:
            msg = consumer.poll(timeout)
            if msg is None:
                raise RuntimeError(f"{topic} did not answer within {timeout:.0f} s at offset {position} of {high}")
            if msg.error():
                raise KafkaException(msg.error())
            offset = msg.offset()
            position = offset + 1
            try:
                letter = codec.decode(msg.value() or b"", expect="dead_letter")
            except CodecError as exc:
                letter = dead_letter_record(source="?", location=topic, position=str(offset), reason=f"not a dead-letter record: {exc}",
                                            raw=msg.value() or b"", rejected_at=msg.timestamp()[1])  # fmt: skip
            yield {"offset": offset, **letter}
    finally:
        consumer.close()
