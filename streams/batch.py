"""What a batch of the engine takes and gives: Kafka messages in, an ``Outbox`` out, and the
per-partition clock it keeps between batches (``streams.engine`` decides, ``streams.app``
does the I/O)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from leap.dead_letter import dead_letter_record
from leap.vocabulary import partition_for
from schemas.codec import Codec
from streams.model import StudentState
from streams.scoring import Baseline


def rejected(msg: Message, reason: str, at_ms: int | None = None) -> dict:
    """The dead-letter record of a message the worker could not use: its topic, ``partition:offset`` and bytes."""
    return dead_letter_record(source="engine", location=msg.topic, position=f"{msg.partition}:{msg.offset}", reason=reason,
                              raw=msg.value or b"", rejected_at=at_ms)  # fmt: skip


def partition_key(partition: int, partitions: int) -> bytes:
    """A table key that the murmur2 partitioner sends to ``partition`` (for per-partition state)."""
    i = 0
    while True:
        key = f"partition-{partition}-{i}".encode()
        if partition_for(key, partitions) == partition:
            return key
        i += 1


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka message, as the engine needs it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int  # ms


@dataclass
class PartitionClock:
    """One partition's time and the cohort baselines it has received."""

    now: int = 0
    day: int = 0
    baselines: dict[str, Baseline] = field(default_factory=dict)
    # The highest leap.activity offset of this partition read: the engine's watermark, sent
    # with every state and band change so a reader can tell a caught-up state from one
    # computed half-way through a backlog.
    input_offset: int = -1

    def dumps(self) -> bytes:
        """JSON for the changelog (small, written on ticks, baselines and batches only)."""
        return json.dumps(
            {
                "now": self.now,
                "day": self.day,
                "input_offset": self.input_offset,
                "baselines": {c: [b.day, list(b.medians), list(b.used), b.members] for c, b in self.baselines.items()},
            }
        ).encode()

    @classmethod
    def loads(cls, data: bytes) -> PartitionClock:
        """Read a clock from its changelog form."""
        obj = json.loads(data)
        baselines = {c: Baseline(c, d, tuple(m), tuple(u), n) for c, (d, m, u, n) in obj["baselines"].items()}
        return cls(obj["now"], obj["day"], baselines, obj.get("input_offset", -1))


@dataclass
class Outbox:
    """What a batch produced: records to send, state to write, and counts for metrics."""

    band_changes: list[tuple[bytes, dict]] = field(default_factory=list)
    states: list[tuple[bytes, dict]] = field(default_factory=list)
    summaries: list[tuple[bytes, dict]] = field(default_factory=list)
    contributions: list[tuple[bytes, dict]] = field(default_factory=list)
    dead_letters: list[dict] = field(default_factory=list)
    writes: dict[bytes, StudentState] = field(default_factory=dict)
    deletes: set[bytes] = field(default_factory=set)
    clock_writes: set[int] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)

    def encoded(self, codec: Codec) -> Iterator[tuple[str, bytes, bytes]]:
        """Every record to send, encoded: ``(topic short name, key, value)``, in the order to send."""
        encode = codec.encode
        for topic, schema, records in (
            ("band-changes", "band_change", self.band_changes),
            ("student-state", "student_state", self.states),
            ("daily-summaries", "daily_summary", self.summaries),
            ("contributions", "cohort_message", self.contributions),
        ):
            for key, record in records:
                yield topic, key, encode(schema, record)
        for record in self.dead_letters:
            yield "dead-letter", b"engine", encode("dead_letter", record)
