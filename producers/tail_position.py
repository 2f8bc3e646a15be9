"""Where a live tail of a log table has got to: the highest id read, and the gaps below it (pure).

Reading ``WHERE id > last`` alone loses rows: ids are handed out when a transaction inserts,
not when it commits, so a slow request's row 100 can become visible after row 101 was read.
The position therefore remembers every id skipped over (a *gap*) and asks for it again on
each poll, until it appears or has been missing for ``GAP_WAIT_MS`` (a rolled-back insert
never appears; an id sequence cache can skip ids for good). The position is saved with the
events it covers, in one Kafka transaction, so a restart resumes exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

GAP_WAIT_MS = 10 * 60 * 1000  # far longer than any Moodle request holds its log rows uncommitted
MAX_GAPS = 10_000  # a jump bigger than this (a restored or reset table) is not watched id by id


@dataclass(frozen=True)
class Position:
    """Every id up to ``high`` has been read, except ``gaps``: ``(id, first noticed at ms)``, ascending."""

    high: int = 0
    gaps: tuple[tuple[int, int], ...] = ()

    def gap_ids(self) -> list[int]:
        """The ids still awaited."""
        return [gap for gap, _ in self.gaps]


def advance(position: Position, ids: Iterable[int], now_ms: int, *, wait_ms: int = GAP_WAIT_MS, max_gaps: int = MAX_GAPS) -> tuple[Position, list[int]]:
    """The position after a poll returned ``ids`` (ascending, ``> high`` or among the gaps), and which of them are new.

    An id at or below ``high`` that is not a gap was read before (a repeat after a restart
    or an overlapping poll): it is not new, so nothing is published twice.
    """
    waiting = dict(position.gaps)
    high, fresh = position.high, []
    for row_id in sorted(set(ids)):
        if row_id in waiting:
            del waiting[row_id]
            fresh.append(row_id)
        elif row_id > high:
            if row_id - high - 1 <= max_gaps:
                waiting.update((missing, now_ms) for missing in range(high + 1, row_id))
            high = row_id
            fresh.append(row_id)
    kept = sorted((gap, since) for gap, since in waiting.items() if now_ms - since < wait_ms)
    return Position(high, tuple(kept[-max_gaps:])), fresh
