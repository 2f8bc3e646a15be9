"""The publishing shell around the adapters' pure parsers: read a file, publish what it holds.

Each record becomes exactly one of: a record on its topic (activity events on
``leap.activity``, roster entries on ``leap.roster``, keyed by student), a skip (counted by
reason), or a dead-letter record with the file, line and reason. The counts always add up:
``read == published + skipped + rejected``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from leap.dead_letter import DeadLetters, reason_kind
from leap.kafka import DeliveryError, Publisher
from leap.settings import Settings
from producers.exports import CsvRecord, Parser, open_text, outcome_of, raw_bytes, read_csv
from producers.outcome import Event, Outcome, Reject, Skip
from schemas.codec import Codec, default_codec


@dataclass
class Counts:
    """What one ingest run did with the records it read."""

    read: int = 0
    published: int = 0
    skipped: int = 0
    rejected: int = 0
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    rejected_by_reason: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, int]:
        """The four totals, as printed by ``--json``."""
        return {"read": self.read, "published": self.published, "skipped": self.skipped, "rejected": self.rejected}


def publish_records(
    records: Iterator[CsvRecord],
    parse: Parser,
    *,
    source: str,
    location: str,
    settings: Settings,
    publisher: Publisher,
    codec: Codec,
    on_record: Callable[[CsvRecord], None] | None = None,
    topic_name: str = "activity",
    schema: str = "activity_event",
) -> Counts:
    """Parse and publish every record, keyed by student; malformed ones go to the dead-letter topic.

    If Kafka fails, the ``DeliveryError`` carries the counts so far (``.counts``) and how many
    messages Kafka had acknowledged (``.acknowledged``), for the report.
    """
    counts = Counts()
    topic = settings.topic(topic_name)
    dead = DeadLetters(settings, publisher, codec)
    try:
        for record in records:
            counts.read += 1
            outcome = outcome_of(record, parse)
            if isinstance(outcome, Event):
                published = outcome.record
                publisher.send(topic, codec.encode(schema, published), key=published["student_id"])
                counts.published += 1
            elif isinstance(outcome, Skip):
                counts.skipped += 1
                counts.skipped_by_reason[outcome.reason] += 1
            else:
                dead.reject(source=source, location=location, position=f"line {record.line}", reason=outcome.reason, raw=raw_bytes(record))
                counts.rejected += 1
                counts.rejected_by_reason[reason_kind(outcome.reason)] += 1
            if on_record is not None:
                on_record(record)
        publisher.flush()
    except DeliveryError as exc:
        exc.counts, exc.acknowledged = counts, publisher.delivered  # type: ignore[attr-defined]
        raise
    return counts


def publish_roster(path: Path, settings: Settings) -> Counts:
    """Publish a roster CSV to the compacted roster topic; ``ValueError`` on a bad header."""
    from producers.roster import check_header, parse_roster_row

    with open_text(path) as stream:
        records = read_csv(stream)
        first = next(records, None)
        if first is None or first.fields is None:
            raise ValueError("empty or unreadable header")
        header = check_header(first.fields)

        def parse(record: CsvRecord) -> Outcome:
            entry = parse_roster_row(header, record.fields or [])
            return entry if isinstance(entry, Reject) else Event(entry)

        with Publisher.for_command(settings) as publisher:
            return publish_records(
                records,
                parse,
                source="roster",
                location=str(path),
                settings=settings,
                publisher=publisher,
                codec=default_codec(),
                topic_name="roster",
                schema="roster_entry",
            )
