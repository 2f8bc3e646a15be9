"""Reading source exports: one file in, a stream of parser outcomes out.

Both ``leap produce`` (which publishes them) and ``leap replay`` / ``leap evaluate`` (which
compute bands offline) read files here, so an export is read the same way whether it is
streamed or backfilled. Formats (``FORMATS``):

``moodle``
    A Moodle ``logstore_standard_log`` dump or Logs report download (``producers.moodle``;
    which of the two is told from the first row).
``events-jsonl``
    Normalised activity events, one JSON object a line (``producers.events_file``).
``events-csv``
    The same fields as CSV columns with a header row; an empty cell is null, and
    ``event_time`` may be ISO 8601 or Unix milliseconds.

``auto`` tells them apart from the file's start: a ``{`` is JSON lines, a Moodle header (or
a headerless 21-column dump) is Moodle, a header naming the event fields is events CSV;
``events`` does the same between the two normalised formats only.

Every record becomes exactly one outcome: an ``Event``, a ``Skip`` (not a student's own
engagement) or a ``Reject`` (malformed), each with the record's line number and exact text.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from pathlib import Path
from typing import IO

from leap.dead_letter import reason_kind
from producers import moodle
from producers.events_file import parse_event, parse_line
from producers.mysql_text import dialect_of, looks_like_mysql, read_mysql
from producers.outcome import CsvRecord, Event, Outcome, Reject, Skip

# Long PHP-serialized `other` values exceed csv's default 128 KiB field limit in real dumps.
csv.field_size_limit(64 * 1024 * 1024)

MOODLE = "moodle"
EVENTS_JSONL = "events-jsonl"
EVENTS_CSV = "events-csv"
FORMATS = ("auto", MOODLE, "events", EVENTS_JSONL, EVENTS_CSV)
_CANDIDATES = {"auto": (EVENTS_JSONL, MOODLE, EVENTS_CSV), "events": (EVENTS_JSONL, EVENTS_CSV)}

EVENT_COLUMNS = (
    "event_id", "student_id", "source", "action", "event_time", "course", "object_ref",
    "quantity", "attendance_status", "source_ref", "amends",
)  # fmt: skip
REQUIRED_EVENT_COLUMNS = ("event_id", "student_id", "source", "action", "event_time")


class ExportError(ValueError):
    """A file that cannot be read as the format asked for (the message names the file)."""


class _Tee:
    """Feeds lines to csv.reader while keeping the text of the record being read."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.buffer: list[str] = []

    def __iter__(self) -> Iterator[str]:
        for line in self._stream:
            self.buffer.append(line)
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
            yield CsvRecord(line, raw, None, _undecodable(stream))
        elif fields or raw.strip():
            yield CsvRecord(line, raw, fields)
        line = reader.line_num + 1


def _has_undecodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def open_text(path: Path, encoding: str = "auto") -> IO[str]:
    """Open an export as text, newlines kept for csv; ``ExportError`` for an unknown encoding.

    ``auto`` reads UTF-16 when the file starts with its byte-order mark (Excel's "Unicode
    text") and UTF-8 otherwise, with or without a mark; any other codec Python knows may be
    named (a Moodle Logs report saved by Excel on Windows is cp1252). Bytes the encoding
    cannot decode are carried as surrogate escapes, so such a line is rejected on its own and
    its bytes reach the dead-letter topic.
    """
    if encoding == "auto":
        with path.open("rb") as head:
            encoding = "utf-16" if head.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ExportError(f"unknown encoding {encoding!r}: name one Python knows, such as utf-8, cp1252, latin-1 or utf-16") from None
    return io.open(path, encoding="utf-8-sig" if name == "utf-8" else name, errors="surrogateescape", newline="")


NOT_UTF8 = "not valid UTF-8 text"  # the rejection a file in another encoding gets line by line


def _undecodable(stream: IO[str]) -> str:
    """The rejection of a line the stream's encoding could not decode, naming the encoding."""
    name = codecs.lookup(getattr(stream, "encoding", None) or "utf-8").name
    return NOT_UTF8 if name in ("utf-8", "utf-8-sig") else f"not valid {name} text"


def raw_bytes(record: CsvRecord) -> bytes:
    """The exact bytes a record was read from."""
    return record.raw.encode("utf-8", errors="surrogateescape")


def read_lines(stream: IO[str]) -> Iterator[CsvRecord]:
    """Non-blank lines with their numbers (for JSON lines); bytes that are not UTF-8 are an error record."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        if _has_undecodable(line):
            yield CsvRecord(number, line, None, _undecodable(stream))
        else:
            yield CsvRecord(number, line, None)


Parser = Callable[[CsvRecord], Outcome]


def outcome_of(record: CsvRecord, parse: Parser) -> Outcome:
    """What a record is: a rejection when it could not even be read, else its parser's verdict."""
    return Reject(record.error) if record.error else parse(record)


# ------------------------------------------------------------------ normalised events as CSV


def check_event_header(cells: Sequence[str]) -> tuple[str, ...]:
    """The columns of an events CSV header; ``ValueError`` naming missing or unknown columns."""
    header = tuple(cell.strip().lstrip("\ufeff") for cell in cells)
    missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in header]
    unknown = [c for c in header if c not in EVENT_COLUMNS]
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown {', '.join(unknown)}"] if unknown else [])
        raise ValueError(f"not an events CSV header ({'; '.join(parts)}); columns are {', '.join(EVENT_COLUMNS)}")
    return header


def parse_event_row(header: Sequence[str], fields: Sequence[str], *, position: str) -> Outcome:
    """One events CSV row to an event or a rejection: empty cells are null, numbers are read as numbers."""
    if len(fields) != len(header):
        return Reject(f"{len(fields)} fields where the header has {len(header)}")
    row: dict[str, object] = {name: (value if value != "" else None) for name, value in zip(header, fields)}
    quantity = row.get("quantity")
    if isinstance(quantity, str):
        try:
            row["quantity"] = float(quantity)
        except ValueError:
            pass  # parse_event rejects it as "quantity is not a number"
    when = row.get("event_time")
    # ASCII digits only: str.isdigit() is also true of "²" and other digits int() refuses.
    if isinstance(when, str) and when.isascii() and when.isdigit():
        row["event_time"] = int(when)
    return parse_event(row, position=position)


# ------------------------------------------------------------------ detection and opening


@dataclass
class Export:
    """An opened export: its format, its records (any header already read) and their parser."""

    path: Path
    format: str  # moodle | events-jsonl | events-csv
    label: str  # what the counts are titled with, e.g. "logstore_standard_log"
    records: Iterator[CsvRecord]
    parse: Parser

    def outcomes(self) -> Iterator[tuple[CsvRecord, Outcome]]:
        """Every record with what it is, in file order."""
        for record in self.records:
            yield record, outcome_of(record, self.parse)


def _starts_with_brace(stream: IO[str]) -> bool:
    head = stream.read(4096).lstrip()
    stream.seek(0)
    return head.startswith("{")


def _prepend(first: CsvRecord, rest: Iterator[CsvRecord]) -> Iterator[CsvRecord]:
    yield first
    yield from rest


def _records(stream: IO[str], candidates: Sequence[str]) -> Iterator[CsvRecord]:
    """CSV records, or MySQL's escaped text (``producers.mysql_text``) when a Moodle dump is written in it."""
    if MOODLE in candidates and stream.seekable():
        head = stream.read(64 * 1024)
        stream.seek(0)
        if looks_like_mysql(head):
            return read_mysql(stream, *dialect_of(head.split("\n", 1)[0]))
    return read_csv(stream)


def _open_csv(
    path: Path, stream: IO[str], candidates: Sequence[str], *, site: str, tz: tzinfo, time_formats: Sequence[str]
) -> Export:
    records = _records(stream, candidates)
    first = next(records, None)
    if first is None or first.fields is None:
        raise ExportError(f"{path}: empty file or unreadable first row")
    problems = []
    if MOODLE in candidates:
        try:
            fmt, is_header = moodle.detect_format(first.fields)
        except ValueError as exc:
            problems.append(str(exc))
        else:
            parse_row = moodle.row_parser(fmt, first.fields, site=site, location=str(path), tz=tz, time_formats=time_formats)
            body = records if is_header else _prepend(first, records)
            return Export(path, MOODLE, fmt, body, lambda r: parse_row(r.fields or [], r.line))
    if EVENTS_CSV in candidates:
        try:
            header = check_event_header(first.fields)
        except ValueError as exc:
            problems.append(str(exc))
        else:
            name = path.name
            return Export(path, EVENTS_CSV, "events (CSV)", records, lambda r: parse_event_row(header, r.fields or [], position=f"{name}:{r.line}"))
    if len(candidates) > 1:
        problems.insert(0, "not JSON lines (does not start with '{')")
    raise ExportError(f"{path}: {'; '.join(problems)}")


@contextmanager
def open_export(
    path: Path,
    fmt: str = "auto",
    *,
    site: str = "moodle",
    tz: tzinfo = timezone.utc,
    time_formats: Sequence[str] = moodle.DEFAULT_REPORT_TIME_FORMATS,
    encoding: str = "auto",
) -> Iterator[Export]:
    """Open ``path`` as format ``fmt`` (one of ``FORMATS``); ``ExportError`` when it is not one.

    ``site``, ``tz`` and ``time_formats`` are the Moodle adapter's: the site name in every
    event id, and the zone and formats of a Logs report's Time column. ``encoding``: see
    ``open_text``.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    candidates = _CANDIDATES.get(fmt, (fmt,))
    with open_text(path, encoding) as stream:
        if fmt == EVENTS_JSONL or (EVENTS_JSONL in candidates and _starts_with_brace(stream)):
            name = path.name
            yield Export(path, EVENTS_JSONL, "events", read_lines(stream), lambda r: parse_line(r.raw, position=f"{name}:{r.line}"))
        else:
            yield _open_csv(path, stream, candidates, site=site, tz=tz, time_formats=time_formats)


# ------------------------------------------------------------------ reading for offline use


@dataclass
class ReadCounts:
    """What reading did with the records: ``read == events + skipped + rejected``."""

    read: int = 0
    events: int = 0
    skipped: int = 0
    rejected: int = 0
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)  # files read, by label

    def add(self, outcome: Outcome) -> None:
        """Count one record's outcome."""
        self.read += 1
        if isinstance(outcome, Event):
            self.events += 1
        elif isinstance(outcome, Skip):
            self.skipped += 1
            self.skipped_by_reason[outcome.reason] += 1
        else:
            self.rejected += 1
            self.rejected_by_reason[reason_kind(outcome.reason)] += 1

    def summary(self) -> dict[str, int]:
        """The four totals."""
        return {"read": self.read, "events": self.events, "skipped": self.skipped, "rejected": self.rejected}


def read_events(
    paths: Iterable[Path],
    fmt: str = "auto",
    *,
    counts: ReadCounts | None = None,
    on_record: Callable[[CsvRecord], None] | None = None,
    **options: object,
) -> Iterator[dict | None]:
    """The activity events in export files, for an offline run (``streams.replay.replay``).

    Each rejected record is yielded as ``None`` (the replay counts it); skipped records are
    not yielded. ``counts``, when given, is filled in as the files are read; ``options`` are
    ``open_export``'s Moodle options. Raises ``ExportError`` on a file of no known format.
    """
    counts = counts if counts is not None else ReadCounts()
    for path in paths:
        with open_export(Path(path), fmt, **options) as export:  # type: ignore[arg-type]
            counts.formats[export.label] += 1
            for record, outcome in export.outcomes():
                counts.add(outcome)
                if on_record is not None:
                    on_record(record)
                if isinstance(outcome, Event):
                    yield outcome.record
                elif isinstance(outcome, Reject):
                    yield None
