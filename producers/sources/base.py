"""The adapter contract: how every source system's data becomes LEAP activity events.

An adapter is one module in ``producers/sources/`` holding one ``Adapter`` subclass, found by
name in the registry (``producers.sources``). Every way into LEAP reaches adapters the same
way: ``leap produce NAME FILE`` and ``leap replay`` read files through ``records`` /
``start`` / ``parse`` / ``finish``; the HTTP endpoint and the live tails hand ``parse`` one
message or row at a time.

The rules every adapter keeps:

- ``parse`` is a pure function of the record (and of what ``start`` read from the header):
  one record in, exactly one ``Event``, ``Skip`` (well-formed but not a student's own
  engagement, counted by reason) or ``Reject`` (malformed: dead-lettered with source,
  position and reason) out. It never raises for bad data.
- Event ids are deterministic (``producers.outcome.event_id`` over a reference naming the
  source record), so publishing the same export twice is harmless.
- The user in a source record is that system's own identity (a Moodle user id, a card
  number, a Panopto user GUID); the adapter names its namespace (``identity`` and
  ``Event.identity``, from ``leap.vocabulary.IDENTITY_NAMESPACES``) and the shell resolves
  it to the student id through the identity map before anything is published.
- An adapter that must see more than one record to make an event (a Panopto viewing is
  many usage items; an absence is an expected student who never tapped) holds what it
  needs and yields the events from ``finish`` at the end of the file, each with the record
  it stands for. The rows it held were counted as skips with the reason saying where they
  went, so ``read + derived == published + skipped + rejected``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from pathlib import Path
from typing import ClassVar

from producers.outcome import CsvRecord, Outcome
from producers.readers import open_text, read_table


class NotThisFormat(ValueError):
    """The file's first record is not this adapter's format; the message says what was expected."""


@dataclass(frozen=True)
class Options:
    """What a user may tell adapters about their files (each adapter reads what applies to it).

    ``tz``: the zone of local times written without an offset (a Moodle Logs report, Panopto's
    US-style times, register exports). ``site``: the source system's name, part of every event
    id, so two Moodle sites never share ids. ``time_formats``: strptime formats of a Moodle
    Logs report's times. ``timetable``: the timetable (expected students per session) that
    card taps are joined to. ``encoding``: the files' text encoding (``readers.open_text``).
    """

    tz: tzinfo = timezone.utc
    site: str = ""
    time_formats: tuple[str, ...] = ()
    timetable: Path | None = None
    encoding: str = "auto"
    extra: dict[str, str] = field(default_factory=dict)


class Adapter(ABC):
    """One source system's exports or messages (subclass per module; see the module doc).

    Class attributes: ``name`` (how users name it: ``leap produce NAME``), ``source`` (the
    LEAP source its events count as; ``vle`` for Moodle even though its assignment events
    are ``coursework``), ``identity`` (the namespace its user ids are in), ``summary`` (one
    line for ``--help``), ``detectable`` (whether ``--format auto`` may try it).
    """

    name: ClassVar[str]
    source: ClassVar[str]
    identity: ClassVar[str]
    summary: ClassVar[str]
    detectable: ClassVar[bool] = True

    def __init__(self, options: Options | None = None, location: str = "-") -> None:
        self.options = options or Options()
        self.location = location  # the file (or feed) read, in positions and dead letters
        self.label = self.name  # what counts are titled with; ``start`` may name the variant

    @contextmanager
    def records(self, path: Path) -> Iterator[Iterator[CsvRecord]]:
        """The file's records in order. Default: a CSV or tab-separated table (``readers.read_table``)."""
        with open_text(path, self.options.encoding) as stream:
            yield read_table(stream)

    @abstractmethod
    def start(self, first: CsvRecord) -> bool:
        """Read the file's first record: ``True`` if it is a header (consumed), ``False`` if it is data.

        Raises ``NotThisFormat`` when the file is not this adapter's.
        """

    @abstractmethod
    def parse(self, record: CsvRecord) -> Outcome:
        """One record to exactly one ``Event``, ``Skip`` or ``Reject``; never raises for bad data."""

    def finish(self) -> Iterable[tuple[CsvRecord, Outcome]]:
        """Events that needed the whole file (after the last record), each with the record it stands for."""
        return ()

    @property
    def file_name(self) -> str:
        """The location's last part, for source references (``events.csv:12``)."""
        return Path(self.location).name
