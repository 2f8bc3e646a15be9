"""One local day of one student, as the engagement model keeps it: totals and the events behind them.

``streams.model`` holds a student's days (``StudentState``) and what events do to them;
``streams.state_codec`` stores them. A day's totals are integers per source (lecture capture
in seconds), indexed by the positions below; each event is remembered by its 64-bit id
hash with its effect code and amount, so a redelivered event is recognised and a correction
undoes exactly what the original did.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left
from typing import Protocol

# Positions in Day.totals.
VLE, COURSEWORK, LECTURE_SECONDS, LOGINS, LIBRARY, ATTENDED, EXPECTED = range(7)
TOTALS = 7
RELATIVE_INDEX = {"vle": VLE, "coursework": COURSEWORK, "lecture_capture": LECTURE_SECONDS, "logins": LOGINS, "library": LIBRARY}
# Effect codes stored per event: the source's totals index, or these.
ATTENDANCE = 5
VOID = 255  # amended by a correction: remembered, counts for nothing
# Attendance amounts: what the register mark adds to (attended, expected).
ATTENDANCE_MARKS = {"present": 2, "late": 2, "absent": 1, "authorised_absence": 0}
_MARK_EFFECT = {2: (1, 1), 1: (0, 1), 0: (0, 0)}


# A stored event: its 8-byte id hash, 1-byte code and 8-byte amount.
EVENT_BYTES = 17
PACKED_ID = struct.Struct("=Q")  # an id hash as array("Q") stores it (native order)


class Day:
    """One local day of one student: totals, and the events that made them.

    A day read back from storage keeps the record ``streams.state_codec`` stored (its head,
    then ids, codes and amounts) and unpacks its events only when one of them changes:
    a student's evaluation reads every kept day's totals and searches their ids, but
    changes one day at most, so the others go back to storage as the same bytes.
    """

    __slots__ = ("totals", "_ids", "_codes", "_amounts", "record", "_events_at")

    def __init__(self) -> None:
        self.totals = [0] * TOTALS
        self._ids = array("Q")
        self._codes = array("B")
        self._amounts = array("q")
        # The codec's whole record of this day while unchanged since it was read (None once
        # changed), and where its events start in it.
        self.record: bytes | None = None
        self._events_at = 0

    @classmethod
    def restored(cls, totals: list[int], record: bytes, events_at: int) -> Day:
        """A day as ``streams.state_codec`` stored it: its ``record``, whose events (17 bytes
        each: the codec checks) start at ``events_at``. The record is written back as it is
        while the day does not change (a day never moves to another date, so the date in it
        stays true)."""
        day = cls.__new__(cls)
        day.totals = totals
        day._ids = day._codes = day._amounts = None
        day.record = record
        day._events_at = events_at
        return day

    def _unpack(self) -> None:
        record = self.record
        assert record is not None
        at = self._events_at
        n = (len(record) - at) // EVENT_BYTES
        self._ids, self._codes, self._amounts = array("Q"), array("B"), array("q")
        self._ids.frombytes(record[at : at + 8 * n])
        self._codes.frombytes(record[at + 8 * n : at + 9 * n])
        self._amounts.frombytes(record[at + 9 * n :])
        self.record = None

    @property
    def ids(self) -> array:
        """Event id hashes, sorted."""
        if self._ids is None:
            self._unpack()
        return self._ids  # type: ignore[return-value]

    @property
    def codes(self) -> array:
        """Each event's effect code (``VOID`` once corrected away), in the order of ``ids``."""
        if self._codes is None:
            self._unpack()
        return self._codes  # type: ignore[return-value]

    @property
    def amounts(self) -> array:
        """Each event's amount, in the order of ``ids``."""
        if self._amounts is None:
            self._unpack()
        return self._amounts  # type: ignore[return-value]

    def holds(self, packed: bytes, hashed: int) -> bool:
        """Whether this day has the event whose id hash is ``hashed`` (``packed``: its 8 stored bytes).

        A stored day is searched in its record without unpacking it: a match must start on
        an 8-byte boundary of the ids' part to be an id.
        """
        record = self.record
        if record is None:  # find's search, inlined: every event of a backlog passes here once per kept day
            ids = self._ids
            i = bisect_left(ids, hashed)  # type: ignore[arg-type]
            return i < len(ids) and ids[i] == hashed  # type: ignore[arg-type,index]
        at = self._events_at
        end = at + 8 * ((len(record) - at) // EVENT_BYTES)
        i = record.find(packed, at, end)
        while i >= 0 and (i - at) % 8:
            i = record.find(packed, i + 1, end)
        return i >= 0

    def find(self, hashed: int) -> int:
        """Index of an event hash, or -1 (a stored day is unpacked: the caller is about to change it)."""
        ids = self.ids
        i = bisect_left(ids, hashed)
        return i if i < len(ids) and ids[i] == hashed else -1

    def _add(self, code: int, amount: int, sign: int) -> None:
        if code == ATTENDANCE:
            attended, expected = _MARK_EFFECT[amount]
            self.totals[ATTENDED] += sign * attended
            self.totals[EXPECTED] += sign * expected
        elif code != VOID:
            self.totals[code] += sign * amount

    def insert(self, hashed: int, code: int, amount: int) -> None:
        """Remember an event and add its effect (caller checked it is new)."""
        if self.record is not None:
            self._unpack()
        ids = self._ids
        i = bisect_left(ids, hashed)  # type: ignore[arg-type]
        ids.insert(i, hashed)  # type: ignore[union-attr]
        self._codes.insert(i, code)  # type: ignore[union-attr]
        self._amounts.insert(i, amount)  # type: ignore[union-attr]
        self._add(code, amount, 1)

    def void(self, index: int) -> None:
        """Undo the effect of the event at ``index``; keep its id so it is never applied again."""
        self._add(self.codes[index], self.amounts[index], -1)
        self.codes[index] = VOID
        self.amounts[index] = 0

    @property
    def active(self) -> bool:
        """Whether anything on this day is activity (one definition for band and inactivity)."""
        t = self.totals
        return bool(t[VLE] or t[COURSEWORK] or t[LECTURE_SECONDS] or t[LOGINS] or t[LIBRARY] or t[ATTENDED])


class ColdDays(Protocol):
    """Archived days as ``streams.state_codec`` stored them, not yet unpacked: one piece of bytes.

    A live event reads its student's state, but only the window's days are evaluated; the
    days before it (all of them archived) matter only if the event is a duplicate of one of
    theirs, which one search of their bytes answers.
    """

    record: bytes  # written back as it is
    count: int
    last: int  # the latest day in it

    def holds(self, packed: bytes) -> bool:
        """Whether an event whose 8 stored id bytes are ``packed`` is among these days'."""

    def split(self, before: float) -> tuple[dict[int, Day], ColdDays | None]:
        """The days earlier than ``before``, unpacked, and the rest still packed (None: none left)."""

    def thaw(self) -> dict[int, Day]:
        """The days, unpacked."""
