"""Reading source exports through their adapters: one file in, each record with its outcome out.

Both ``leap produce`` (which publishes them) and ``leap replay`` / ``leap evaluate`` (which
compute bands offline) read files here, so an export is read the same way whether it is
streamed or backfilled. Formats are the registered adapters' names (``producers.sources``),
or ``auto``: the detectable adapters are tried in turn on the file's first record, and the
first that accepts it reads the file.

Every record becomes exactly one outcome: an ``Event``, a ``Skip`` (not a student's own
engagement) or a ``Reject`` (malformed), each with the record's position and exact text;
events an adapter derives from the whole file follow the last record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from leap.dead_letter import reason_kind
from producers.identities import IdentityMap
from producers.outcome import CsvRecord, Event, Outcome, Reject, Skip
from producers.readers import ExportError
from producers.sources import Adapter, NotThisFormat, Options, adapter, adapters, names

Parser = Callable[[CsvRecord], Outcome]


def formats() -> tuple[str, ...]:
    """What ``--format`` accepts: ``auto`` and every adapter's name."""
    return ("auto", *names())


def outcome_of(record: CsvRecord, parse: Parser) -> Outcome:
    """What a record is: a rejection when it could not even be read, else its parser's verdict."""
    return Reject(record.error) if record.error else parse(record)


@dataclass
class Export:
    """An opened export: its adapter (started on the first record) and its remaining records."""

    path: Path
    adapter: Adapter
    records: Iterator[CsvRecord]
    header: CsvRecord | None = None  # the first record, when it was a header

    @property
    def format(self) -> str:
        """The adapter's name."""
        return self.adapter.name

    @property
    def label(self) -> str:
        """What the counts are titled with, e.g. ``logstore_standard_log``."""
        return self.adapter.label

    def outcomes(self) -> Iterator[tuple[CsvRecord, Outcome]]:
        """Every record with what it is, in file order, then the events derived from the whole file."""
        for record in self.records:
            yield record, outcome_of(record, self.adapter.parse)
        yield from self.adapter.finish()


def _prepend(first: CsvRecord, rest: Iterator[CsvRecord]) -> Iterator[CsvRecord]:
    yield first
    yield from rest


@contextmanager
def open_export(path: Path, fmt: str = "auto", options: Options | None = None) -> Iterator[Export]:
    """Open ``path`` with adapter ``fmt`` (or the first that accepts it); ``ExportError`` when none does."""
    options = options or Options()
    if fmt != "auto" and fmt not in adapters():
        raise ExportError(f"unknown format {fmt!r}; choose from {', '.join(formats())}")
    candidates = [adapter(fmt)] if fmt != "auto" else [cls for cls in adapters().values() if cls.detectable]
    problems = []
    for cls in candidates:
        reader = cls(options, str(path))
        with reader.records(path) as records:
            first = next(records, None)
            if first is None:  # an export of a quiet hour: nothing to read, not an error
                yield Export(path, reader, iter(()))
                return
            try:
                if first.error:
                    raise NotThisFormat(f"first record unreadable: {first.error}")
                is_header = reader.start(first)
            except NotThisFormat as exc:
                problems.append(f"{cls.name}: {exc}" if len(candidates) > 1 else str(exc))
                continue
            yield Export(path, reader, records if is_header else _prepend(first, records), first if is_header else None)
            return
    raise ExportError(f"{path}: {'; '.join(problems)}")


# ------------------------------------------------------------------ reading for offline use


@dataclass
class ReadCounts:
    """What reading did with the records: ``read == events + skipped + rejected``."""

    read: int = 0
    events: int = 0
    skipped: int = 0
    rejected: int = 0
    unknown: int = 0  # events whose person the identity map does not know (the stream quarantines them)
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
    options: Options | None = None,
    identities: IdentityMap | None = None,
) -> Iterator[dict | None]:
    """The activity events in export files, for an offline run (``streams.replay.replay``).

    Each rejected record is yielded as ``None`` (the replay counts it); skipped records are
    not yielded. Events are resolved to students through ``identities`` as the stream does;
    one whose person it does not know is counted in ``counts.unknown`` and left out, as the
    stream quarantines it. ``counts``, when given, is filled in as the files are read;
    ``options`` are the adapters' options. Raises ``ExportError`` on a file of no known format.
    """
    known = identities if identities is not None else IdentityMap()
    counts = counts if counts is not None else ReadCounts()
    for path in paths:
        with open_export(Path(path), fmt, options) as export:
            counts.formats[export.label] += 1
            for record, outcome in export.outcomes():
                counts.add(outcome)
                if on_record is not None:
                    on_record(record)
                if isinstance(outcome, Event):
                    resolved = known.resolve(outcome)
                    if isinstance(resolved, Event):
                        yield resolved.record
                    else:
                        counts.unknown += 1
                elif isinstance(outcome, Reject):
                    yield None
