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
sorted by time first: exports are not always in order.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from producers.outcome import CsvRecord

GAP_MS = 30 * 60 * 1000
MAX_SECONDS = 24 * 60 * 60  # the engine takes at most 1,440 minutes in one lecture-capture event
# Plausible times: anything outside is a unit mistake or a broken clock, not a viewing.
EARLIEST_MS = 946_684_800_000  # 2000-01-01
LATEST_MS = 4_102_444_800_000  # 2100-01-01


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def unix_ms(stamp: datetime) -> int:
    """An aware time in Unix milliseconds, exactly (no float rounding); ``OverflowError`` past the calendar."""
    return (stamp - _EPOCH) // timedelta(milliseconds=1)


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
