"""Viewings of recorded lectures: the many small pieces a player reports, summed into one event each.

Lecture capture players report what was watched in pieces, not viewings: Panopto writes a
usage item for every stretch between a start, seek, pause or speed change; Opencast writes
a footprint for every stretch of continuous playing. Counting pieces would reward seeking,
so the adapters (``producers.sources.panopto``, ``producers.sources.opencast``) hold them and
sum them here at the end of the file.

A *viewing* is one person's pieces of one recording (the adapter chooses the key) in time
order. It ends where the next piece starts ``GAP_MS`` (30 minutes) or more after the end of
everything before it (a piece ends at its start plus the seconds it watched): a student who
comes back after lunch has started a new viewing. It also ends where adding the next piece
would make it more than a day of watching (``MAX_SECONDS``), since one event may stand for
at most 1,440 minutes; the rest starts a new viewing rather than being lost. Pieces are
sorted by time first: exports are not always in order. Each viewing becomes one ``viewed``
event (``viewing_events``). ``unix_ms`` is ``producers.times.unix_ms``, kept here for callers.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass

from producers.outcome import CsvRecord, Event, activity
from producers.times import unix_ms

GAP_MS = 30 * 60 * 1000
MAX_SECONDS = 24 * 60 * 60  # the engine takes at most 1,440 minutes in one lecture-capture event


@dataclass(frozen=True, slots=True)
class Piece:
    """One reported stretch of watching: whose viewing it belongs to, when it started, how long, and its record."""

    key: Hashable
    start_ms: int
    seconds: float
    record: CsvRecord


def split_viewings(pieces: Iterable[Piece]) -> list[list[Piece]]:
    """The pieces grouped into viewings (module doc), ordered by each viewing's first piece."""
    by_key: dict[Hashable, list[Piece]] = {}
    for piece in pieces:
        by_key.setdefault(piece.key, []).append(piece)
    viewings: list[list[Piece]] = []
    for group in by_key.values():
        group.sort(key=lambda p: (p.start_ms, p.record.line))
        current: list[Piece] = []
        total, end = 0.0, 0
        for piece in group:
            if current and (piece.start_ms - end >= GAP_MS or total + piece.seconds > MAX_SECONDS):
                viewings.append(current)
                current, total = [], 0.0
            if not current:
                end = piece.start_ms
            current.append(piece)
            total += piece.seconds
            end = max(end, piece.start_ms + round(piece.seconds * 1000))
        viewings.append(current)
    viewings.sort(key=lambda v: (v[0].start_ms, v[0].record.line))
    return viewings


def minutes_watched(viewing: list[Piece]) -> float:
    """A viewing's minutes: its pieces' seconds summed (rounded to 0.0001 so sums are stable)."""
    return round(sum(piece.seconds for piece in viewing) / 60, 4)


def viewing_record(viewing: list[Piece]) -> CsvRecord:
    """The record a viewing's event stands for: its first piece's position, every piece's text in time order."""
    first = viewing[0].record
    raw = "".join(p.record.raw if p.record.raw.endswith("\n") else p.record.raw + "\n" for p in viewing)
    return CsvRecord(first.line, raw, first.fields, unit=first.unit)


def viewing_events(pieces: Iterable[Piece], *, reference: str, identity: str, file_name: str, noun: str) -> Iterator[tuple[CsvRecord, Event]]:
    """One ``viewed`` lecture-capture event per viewing of ``pieces``, with the record it stands for.

    Keys are ``(person, recording, ...)`` text: the person (in ``identity``) watched the
    recording (``object_ref``). A viewing of 0 minutes makes no event. The event id's
    reference is ``reference``, every key part and the first piece's time, ``:``-separated;
    the source reference is the first piece's place in ``file_name`` and how many ``noun``
    pieces were summed (``panopto.tsv:12 (3 usage items)``).
    """
    for viewing in split_viewings(pieces):
        minutes = minutes_watched(viewing)
        if minutes <= 0:
            continue
        first = viewing[0]
        key: tuple[str, ...] = first.key  # type: ignore[assignment]
        record = first.record
        count = len(viewing)
        yield viewing_record(viewing), activity(
            reference=f"{reference}:{':'.join(key)}:{first.start_ms}",
            student_id=key[0],
            identity=identity,
            source="lecture_capture",
            action="viewed",
            event_time_ms=first.start_ms,
            object_ref=key[1],
            quantity=minutes,
            # a line's number alone; any other unit named (a response's ``action 3``)
            source_ref=f"{file_name}:{record.line if record.unit == 'line' else record.position} ({count} {noun}{'' if count == 1 else 's'})",
        )


__all__ = ["GAP_MS", "MAX_SECONDS", "Piece", "minutes_watched", "split_viewings", "unix_ms", "viewing_events", "viewing_record"]
