"""The publishing shell around the adapters: read a file, resolve identities, publish what it holds.

Each record becomes exactly one of: an activity event on ``leap.activity`` keyed by student,
a skip (counted by reason), a dead-letter record with the file, position and reason, or, when
the identity map does not know the person yet, a quarantined event on
``leap.identity-quarantine`` (``producers.identity_map``). The counts always add up:
``read + derived == published + skipped + rejected + quarantined``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from leap.dead_letter import DeadLetters, reason_kind
from leap.kafka import DeliveryError, Publisher
from leap.settings import Settings
from producers.exports import Export, outcome_of
from producers.identities import IdentityMap, Unknown
from producers.outcome import CsvRecord, Event, Outcome, Reject, Skip
from producers.readers import header_and_rows, open_text, raw_bytes
from schemas.codec import Codec, default_codec


@dataclass
class Counts:
    """What one ingest run did with the records it read."""

    read: int = 0
    derived: int = 0  # events an adapter made from the whole file (absences, summed viewings)
    published: int = 0
    skipped: int = 0
    rejected: int = 0
    quarantined: int = 0
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    quarantined_by_reason: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, int]:
        """The totals, as printed by ``--json``."""
        return {"read": self.read, "derived": self.derived, "published": self.published, "skipped": self.skipped,
                "rejected": self.rejected, "quarantined": self.quarantined}  # fmt: skip


class Sink:
    """Where outcomes go: events to their topic, rejections to the dead letters, unknown people to quarantine."""

    def __init__(self, settings: Settings, publisher: Publisher, codec: Codec, *, source: str, location: str,
                 identities: IdentityMap | None = None, topic_name: str = "activity", schema: str = "activity_event",
                 context: bytes | None = None) -> None:  # fmt: skip
        self.counts = Counts()
        self._topic = settings.topic(topic_name)
        self._quarantine = settings.topic("identity-quarantine")
        self._schema = schema
        self._publisher, self._codec = publisher, codec
        self._dead = DeadLetters(settings, publisher, codec)
        self._identities = identities if identities is not None else IdentityMap()
        self.source, self.location = source, location
        self.context = context  # the file's header line, kept with each dead letter so it can be replayed

    def put(self, record: CsvRecord, outcome: Outcome) -> None:
        """Publish, count, dead-letter or quarantine one record's outcome."""
        counts = self.counts
        if isinstance(outcome, Event):
            resolved = self._identities.resolve(outcome)
            if isinstance(resolved, Unknown):
                self._hold(record, outcome, resolved)
                return
            published = resolved.record
            self._publisher.send(self._topic, self._codec.encode(self._schema, published), key=published["student_id"])
            counts.published += 1
        elif isinstance(outcome, Skip):
            counts.skipped += 1
            counts.skipped_by_reason[outcome.reason] += 1
        else:
            self._dead.reject(source=self.source, location=self.location, position=record.position, reason=outcome.reason, raw=raw_bytes(record),
                              context=self.context)  # fmt: skip
            counts.rejected += 1
            counts.rejected_by_reason[reason_kind(outcome.reason)] += 1

    def _hold(self, record: CsvRecord, event: Event, unknown: Unknown) -> None:
        held = {
            "identity": unknown.key, "source": self.source, "location": self.location, "position": record.position,
            "reason": unknown.reason, "event": self._codec.encode("activity_event", event.record),
            "quarantined_at": int(time.time() * 1000),
        }  # fmt: skip
        self._publisher.send(self._quarantine, self._codec.encode("quarantined_event", held), key=unknown.key)
        self.counts.quarantined += 1
        self.counts.quarantined_by_reason[f"{event.identity} not in the identity map"] += 1


def publish_outcomes(pairs: Iterable[tuple[CsvRecord, Outcome]], sink: Sink, publisher: Publisher,
                     on_record: Callable[[CsvRecord], None] | None = None) -> Counts:  # fmt: skip
    """Put every ``(record, outcome)`` into ``sink`` and wait for Kafka's acknowledgements.

    If Kafka fails, the ``DeliveryError`` carries the counts so far (``.counts``) and how many
    messages Kafka had acknowledged (``.acknowledged``), for the report.
    """
    try:
        for record, outcome in pairs:
            sink.put(record, outcome)
            if on_record is not None:
                on_record(record)
        publisher.flush()
    except DeliveryError as exc:
        exc.counts, exc.acknowledged = sink.counts, publisher.delivered  # type: ignore[attr-defined]
        raise
    return sink.counts


def publish_export(export: Export, *, settings: Settings, publisher: Publisher, codec: Codec, identities: IdentityMap | None = None,
                   on_record: Callable[[CsvRecord], None] | None = None) -> Counts:  # fmt: skip
    """Publish every record of an opened export through its adapter (see the module doc)."""
    context = raw_bytes(export.header) if export.header is not None else None
    sink = Sink(settings, publisher, codec, source=export.adapter.name, location=str(export.path), identities=identities, context=context)
    counts = sink.counts

    def pairs() -> Iterable[tuple[CsvRecord, Outcome]]:
        for record in export.records:
            counts.read += 1
            yield record, outcome_of(record, export.adapter.parse)
        for pair in export.adapter.finish():
            counts.derived += 1
            yield pair

    return publish_outcomes(pairs(), sink, publisher, on_record)


def publish_roster(path: Path, settings: Settings) -> Counts:
    """Publish a roster CSV to the compacted roster topic; ``ValueError`` on a bad header."""
    from producers.roster import check_header, parse_roster_row

    with open_text(path) as stream:
        cells, records = header_and_rows(stream)
        header = check_header(cells)

        def parse(record: CsvRecord) -> Outcome:
            entry = parse_roster_row(header, record.fields or [])
            return entry if isinstance(entry, Reject) else Event(entry)

        with Publisher.for_command(settings) as publisher:
            sink = Sink(settings, publisher, default_codec(), source="roster", location=str(path), topic_name="roster", schema="roster_entry")

            def pairs() -> Iterable[tuple[CsvRecord, Outcome]]:
                for record in records:
                    sink.counts.read += 1
                    yield record, outcome_of(record, parse)

            return publish_outcomes(pairs(), sink, publisher)
