"""The publishing shell around the adapters' pure parsers: read a file, publish what it holds.

Each record becomes exactly one of: a record on its topic (activity events on
``leap.activity``, roster entries on ``leap.roster``, keyed by student), a skip (counted by
reason), or a dead-letter record with the file, line and reason. The counts always add up:
``read == published + skipped + rejected``.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from leap.dead_letter import DeadLetters
from leap.kafka import Publisher
from leap.settings import Settings
from producers.outcome import Event, Outcome, Reject, Skip
from schemas.codec import Codec, default_codec

# Long PHP-serialized `other` values exceed csv's default 128 KiB field limit in real dumps.
csv.field_size_limit(64 * 1024 * 1024)


_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|-?\d+")


def _reason_kind(reason: str) -> str:
    # Reasons quote the offending value; summaries group them by kind, not by value.
    return _VALUES.sub("…", reason)


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


@dataclass(frozen=True, slots=True)
class CsvRecord:
    """One record of a file (a CSV record or a line) with its first line number and exact text."""

    line: int
    raw: str
    fields: list[str] | None
    error: str | None = None


class _Tee:
    """Feeds lines to csv.reader while keeping the text of the record being read."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.buffer: list[str] = []
        self.bytes_read = 0

    def __iter__(self) -> Iterator[str]:
        for line in self._stream:
            self.buffer.append(line)
            self.bytes_read += len(line)
            yield line


def read_csv(stream: IO[str], *, delimiter: str = ",") -> Iterator[CsvRecord]:
    """CSV records with their line numbers and raw text; a record csv cannot parse is an error record."""
    tee = _Tee(stream)
    reader = csv.reader(tee, delimiter=delimiter, strict=True)
    line = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raw, tee.buffer = "".join(tee.buffer), []
            yield CsvRecord(line, raw, None, f"unreadable CSV: {exc}")
            line = reader.line_num + 1
            continue
        raw, tee.buffer = "".join(tee.buffer), []
        if _has_undecodable(raw):
            yield CsvRecord(line, raw, None, "not valid UTF-8 text")
        elif fields or raw.strip():
            yield CsvRecord(line, raw, fields)
        line = reader.line_num + 1


def _has_undecodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def open_text(path: Path) -> IO[str]:
    """Open an export as UTF-8 text (with or without a byte-order mark), newlines kept for csv.

    Bytes that are not UTF-8 are carried as surrogate escapes, so such a line is rejected
    on its own and its exact bytes reach the dead-letter topic.
    """
    return io.open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")


def raw_bytes(record: CsvRecord) -> bytes:
    """The exact bytes a record was read from."""
    return record.raw.encode("utf-8", errors="surrogateescape")


def read_lines(stream: IO[str]) -> Iterator[CsvRecord]:
    """Non-blank lines with their numbers (for JSON lines); bytes that are not UTF-8 are an error record."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        if _has_undecodable(line):
            yield CsvRecord(number, line, None, "not valid UTF-8 text")
        else:
            yield CsvRecord(number, line, None)


Parser = Callable[[CsvRecord], Outcome]


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
    """Parse and publish every record, keyed by student; malformed ones go to the dead-letter topic."""
    counts = Counts()
    topic = settings.topic(topic_name)
    dead = DeadLetters(settings, publisher, codec)
    for record in records:
        counts.read += 1
        outcome: Outcome = Reject(record.error) if record.error else parse(record)
        if isinstance(outcome, Event):
            published = outcome.record
            publisher.send(topic, codec.encode(schema, published), key=published["student_id"])
            counts.published += 1
        elif isinstance(outcome, Skip):
            counts.skipped += 1
            counts.skipped_by_reason[outcome.reason] += 1
        else:
            dead.reject(
                source=source,
                location=location,
                position=f"line {record.line}",
                reason=outcome.reason,
                raw=raw_bytes(record),
            )
            counts.rejected += 1
            counts.rejected_by_reason[_reason_kind(outcome.reason)] += 1
        if on_record is not None:
            on_record(record)
    publisher.flush()
    return counts


def publish_file(
    path: Path,
    parse: Callable[[CsvRecord], Outcome],
    *,
    source: str,
    settings: Settings,
    publisher: Publisher,
    codec: Codec,
    on_bytes: Callable[[int], None] | None = None,
    lines: bool = False,
    topic_name: str = "activity",
    schema: str = "activity_event",
) -> Counts:
    """Publish a whole file: CSV records (or JSON lines with ``lines=True``)."""
    with open_text(path) as stream:
        records = read_lines(stream) if lines else read_csv(stream)
        return publish_records(
            records,
            parse,
            source=source,
            location=str(path),
            settings=settings,
            publisher=publisher,
            codec=codec,
            on_record=(lambda r: on_bytes(len(r.raw))) if on_bytes else None,
            topic_name=topic_name,
            schema=schema,
        )


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

        with Publisher(settings) as publisher:
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
