"""The dead-letter topic: where every rejected record goes, whole, with where it was and why."""

from __future__ import annotations

import time

from leap.kafka import Publisher
from leap.settings import Settings
from schemas.codec import Codec


# The most of a rejected record kept on the dead-letter topic. Kafka refuses messages over
# about 1 MB: a bigger rejected row would fail to send and stop the process that rejected it
# (and every good row after it), so the head is kept and the reason says how long it was.
MAX_RAW_BYTES = 64 * 1024
MAX_REASON_CHARS = 1000


def dead_letter_record(*, source: str, location: str, position: str, reason: str, raw: bytes, rejected_at: int | None = None) -> dict:
    """A ``dead_letter`` record (``rejected_at`` defaults to now), cut to a size Kafka accepts."""
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
    }


class DeadLetters:
    """Publishes rejected records to ``<prefix>.dead-letter``, keyed by the rejecting source."""

    def __init__(self, settings: Settings, publisher: Publisher, codec: Codec) -> None:
        self._topic = settings.topic("dead-letter")
        self._publisher = publisher
        self._codec = codec
        self.count = 0

    def reject(self, *, source: str, location: str, position: str, reason: str, raw: bytes) -> None:
        """Send one rejected record to the dead-letter topic."""
        record = dead_letter_record(source=source, location=location, position=position, reason=reason, raw=raw)
        self._publisher.send(self._topic, self._codec.encode("dead_letter", record), key=source)
        self.count += 1
