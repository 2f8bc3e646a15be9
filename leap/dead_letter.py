"""The dead-letter topic: where every rejected record goes, whole, with where it was and why."""

from __future__ import annotations

import time

from leap.kafka import Publisher
from leap.settings import Settings
from schemas.codec import Codec


def dead_letter_record(*, source: str, location: str, position: str, reason: str, raw: bytes) -> dict:
    """A ``dead_letter`` record; ``rejected_at`` is now."""
    return {
        "source": source,
        "location": location,
        "position": position,
        "reason": reason,
        "raw": raw,
        "rejected_at": int(time.time() * 1000),
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
