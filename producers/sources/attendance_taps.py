"""Card taps (Essex's "Count-Me-In"): students tap their card at the room's reader; joined to the timetable.

A student taps their university card on the reader in the room from 15 minutes before to 15
minutes after the session starts; there is no tap out. A tap is presence; an expected student
with no tap is absent. Which sessions there are, and who is expected at each, comes from the
timetable (``--timetable``), without which the adapter does not start.

The taps file (CSV, or tab-separated), as the reader system exports it, with a header row
(names matched ignoring case; any order; other columns ignored)::

    tap_time,card_number,reader_id,room
    2026-10-05 08:52:14,0041822913,CMI-5N716-01,5N.7.16

``tap_time`` (required): ``YYYY-MM-DD HH:MM[:SS]`` or ISO 8601 with or without an offset, or
the UK ``DD/MM/YYYY HH:MM[:SS]``; without an offset it is in ``--tz``. ``card_number``
(required): the card's number as the reader reads it (identity ``card_number``: the identity
map takes it to the student). ``room`` (required): the reader's room, as the timetable names
it (compared ignoring case and repeated spaces). ``reader_id`` (optional) is not used.

The timetable (CSV, header row, names ignoring case, any order), one row per expected student
per session, as timetabling systems export registers::

    session_id,room,start,end,course,card_number
    CE101-L-W3-MON,5N.7.16,2026-10-05 09:00,2026-10-05 10:00,CE101,0041822913

``session_id``, ``room``, ``start`` (times as for taps) and ``card_number`` are required;
``course`` is optional and becomes the events' course; ``end`` is not used (the tap window is
around the start). Rows of one session must agree on room, start and course.

What each tap is:

- an event *present* for each session in the tap's room whose window (start +/- 15 minutes,
  both ends included) holds the tap time and whose expected students include the card, at
  the session's start time (two sessions at once in one room expecting the same student -
  one class under two codes - both count; the second is derived at the end of the file);
- skipped "no session at this room and time": no session's window in that room holds it;
- skipped "not expected at this session": there is one, but the card is not expected at it
  (the student is at someone else's class);
- skipped "already recorded for this session": the card already tapped for it in this file;
- rejected: a different number of fields from the header, a ``tap_time`` that is not a
  plausible date and time, an empty or spaced ``card_number``, an empty ``room``.

At the end of the file, each expected student who did not tap is an event *absent* (its
record is the timetable row, its source reference the timetable's file and line) for every
session whose window closed before the file's last readable tap *and* at which at least one
card tapped in this file. Sessions the file does not cover get no absences: those still open
or later, and those nobody tapped at (the file is of another day or another building, or the
reader failed, or the session was cancelled or moved online: marking a whole class absent
would be wrong, so a session with no taps at all is left unrecorded).

Taps arrive in several files a day, so a session may be covered by two files, and the later
file may find absent a student whose tap was in the earlier one. The ids make this harmless
(``producers.attendance_marks``): presence and absence of one (session, card) have fixed ids,
and presence amends the absence, so whichever is published first, the presence wins.

A timetable row that cannot be read (a missing or bad field, a session contradicting its
earlier rows) is left out of the timetable and rejected at the end of every taps file read
with it, with the timetable's file and line as its position, so one bad row does not stop the
day's taps. A timetable that is missing, unreadable or without the required header stops the
adapter with one line naming it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from pathlib import Path

from leap.vocabulary import CARD_NUMBER
from producers.attendance_marks import ABSENT, PRESENT, checked_id, mark_event, session_time_ms
from producers.outcome import CsvRecord, Event, Outcome, Reject, Skip
from producers.readers import open_text, read_table
from producers.sources.base import Adapter, NotThisFormat

NAME = "attendance-taps"
WINDOW_MS = 15 * 60 * 1000  # a tap counts from 15 minutes before to 15 minutes after the start
TAP_REQUIRED = ("tap_time", "card_number", "room")
TAP_OPTIONAL = ("reader_id",)
TIMETABLE_REQUIRED = ("session_id", "room", "start", "card_number")
TIMETABLE_OPTIONAL = ("end", "course")
NO_SESSION = "no session at this room and time"
NOT_EXPECTED = "not expected at this session"
ALREADY = "already recorded for this session"


def room_key(text: str) -> str:
    """A room name as rooms are compared: case and repeated spaces ignored."""
    return " ".join(text.split()).casefold()


def header_columns(cells: Sequence[str] | None, required: Sequence[str], optional: Sequence[str], what: str) -> dict[str, int]:
    """Where each named column is in a header row; ``ValueError`` naming ``what`` when a required one is missing."""
    names = [cell.strip().lstrip("\ufeff").lower() for cell in cells or []]
    missing = [name for name in required if name not in names]
    if missing:
        raise ValueError(f"not {what}: no {', '.join(missing)} column (expected {', '.join((*required, *optional))})")
    return {name: names.index(name) for name in (*required, *optional) if name in names}


@dataclass(frozen=True)
class Tap:
    """One readable tap: when (UTC ms), which card, at which room (``room_key``)."""

    time_ms: int
    card: str
    room: str


def parse_tap_row(columns: Mapping[str, int], width: int, fields: Sequence[str], *, tz: tzinfo) -> Tap | Reject:
    """One taps row to a ``Tap``, or a rejection naming the field and the problem."""
    if len(fields) != width:
        return Reject(f"{len(fields)} fields where the header has {width}")
    try:
        when = session_time_ms(fields[columns["tap_time"]], tz, "tap_time")
        card = checked_id(fields[columns["card_number"]], "card_number")
    except ValueError as exc:
        return Reject(str(exc))
    room = room_key(fields[columns["room"]])
    if not room:
        return Reject("room is empty")
    return Tap(when, card, room)


@dataclass(frozen=True)
class TimetableRow:
    """One readable timetable row: a session and one student expected at it."""

    session_id: str
    room: str
    start_ms: int
    course: str
    card: str


def parse_timetable_row(columns: Mapping[str, int], width: int, fields: Sequence[str], *, tz: tzinfo) -> TimetableRow | Reject:
    """One timetable row to a ``TimetableRow``, or a rejection naming the field and the problem."""
    if len(fields) != width:
        return Reject(f"{len(fields)} fields where the header has {width}")
    try:
        session_id = checked_id(fields[columns["session_id"]], "session_id")
        room = room_key(fields[columns["room"]])
        if not room:
            raise ValueError("room is empty")
        start = session_time_ms(fields[columns["start"]], tz, "start")
        card = checked_id(fields[columns["card_number"]], "card_number")
    except ValueError as exc:
        return Reject(str(exc))
    course = fields[columns["course"]].strip() if "course" in columns else ""
    return TimetableRow(session_id, room, start, course, card)


@dataclass
class Session:
    """A timetabled session: where, when, and the expected cards with the timetable record of each."""

    id: str
    room: str
    start_ms: int
    course: str
    line: int
    expected: dict[str, CsvRecord] = field(default_factory=dict)


@dataclass
class Timetable:
    """The sessions by id and by room, and the timetable records left out (with their rejections)."""

    name: str = "timetable"
    sessions: dict[str, Session] = field(default_factory=dict)
    starts: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # room -> sorted (start, id)
    rejects: list[tuple[CsvRecord, Reject]] = field(default_factory=list)

    def add(self, record: CsvRecord, row: TimetableRow | Reject) -> None:
        """Add one parsed timetable record, or keep its rejection; a row contradicting its session is rejected."""
        if isinstance(row, Reject):
            self.rejects.append((record, row))
            return
        session = self.sessions.get(row.session_id)
        if session is None:
            session = self.sessions[row.session_id] = Session(row.session_id, row.room, row.start_ms, row.course, record.line)
            bisect.insort(self.starts.setdefault(row.room, []), (row.start_ms, row.session_id))
        elif (session.room, session.start_ms, session.course) != (row.room, row.start_ms, row.course):
            self.rejects.append((record, Reject(f"session_id {row.session_id[:40]!r} has another room, start or course on line {session.line}")))
            return
        session.expected.setdefault(row.card, record)

    def sessions_at(self, room: str, time_ms: int) -> list[Session]:
        """The sessions in ``room`` whose tap window holds ``time_ms``, earliest first."""
        starts = self.starts.get(room, [])
        low = bisect.bisect_left(starts, time_ms - WINDOW_MS, key=_start)
        high = bisect.bisect_right(starts, time_ms + WINDOW_MS, key=_start)
        return [self.sessions[session_id] for _, session_id in starts[low:high]]


def _start(item: tuple[int, str]) -> int:
    return item[0]


def read_timetable(path: Path, tz: tzinfo, encoding: str = "auto") -> Timetable:
    """The timetable at ``path``; ``ValueError`` (or ``OSError``) when it cannot be read as one at all."""
    timetable = Timetable(path.name)
    with open_text(path, encoding) as stream:
        records = read_table(stream)
        header = next(records, None)
        if header is None:
            raise ValueError("is empty")
        columns = header_columns(header.fields, TIMETABLE_REQUIRED, TIMETABLE_OPTIONAL, "a timetable")
        width = len(header.fields or [])
        for record in records:
            record = replace(record, unit=f"{path.name} line")
            row = Reject(record.error) if record.error else parse_timetable_row(columns, width, record.fields or [], tz=tz)
            timetable.add(record, row)
    return timetable


class AttendanceTaps(Adapter):
    """Card taps joined to the timetable: presence per tap, absences at the end of the file (module doc)."""

    name = NAME
    source = "attendance"
    identity = CARD_NUMBER
    summary = "card taps at room readers (Count-Me-In: tap_time, card_number, reader_id, room) with --timetable of expected students"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.site = self.options.site or NAME
        self.timetable = Timetable()
        self._columns: dict[str, int] | None = None
        self._width = 0
        self._latest: int | None = None  # the last readable tap's time: windows closed before it are covered
        self._tapped: set[str] = set()  # sessions at which any card tapped in this file
        self._present: set[tuple[str, str]] = set()  # (session, card) recorded present in this file
        self._more: list[tuple[CsvRecord, Outcome]] = []  # presences at a second simultaneous session

    def start(self, first: CsvRecord) -> bool:
        """The first row must be the taps header; then the timetable is read (``--timetable``)."""
        try:
            self._columns = header_columns(first.fields, TAP_REQUIRED, TAP_OPTIONAL, "a card-taps export")
        except ValueError as exc:
            raise NotThisFormat(str(exc)) from None
        path = self.options.timetable
        if path is None:
            raise NotThisFormat(
                "card taps need --timetable: a CSV of session_id, room, start, end, course, card_number (one row per expected student)"
            )
        try:
            self.timetable = read_timetable(Path(path), self.options.tz, self.options.encoding)
        except OSError as exc:
            raise NotThisFormat(f"timetable {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise NotThisFormat(f"timetable {path}: {exc}") from None
        self._width = len(first.fields or [])
        return True

    def parse(self, record: CsvRecord) -> Outcome:
        """One tap to a presence, a skip or a rejection (module doc)."""
        if self._columns is None:
            raise RuntimeError("AttendanceTaps.parse before start")
        tap = parse_tap_row(self._columns, self._width, record.fields or [], tz=self.options.tz)
        if isinstance(tap, Reject):
            return tap
        self._latest = tap.time_ms if self._latest is None else max(self._latest, tap.time_ms)
        sessions = self.timetable.sessions_at(tap.room, tap.time_ms)
        self._tapped.update(session.id for session in sessions)
        if not sessions:
            return Skip(NO_SESSION)
        expecting = [session for session in sessions if tap.card in session.expected]
        if not expecting:
            return Skip(NOT_EXPECTED)
        new = [session for session in expecting if (session.id, tap.card) not in self._present]
        if not new:
            return Skip(ALREADY)
        events = [self._mark(session, tap.card, PRESENT, f"{self.file_name}:{record.line}") for session in new]
        self._present.update((session.id, tap.card) for session in new)
        self._more.extend((record, event) for event in events[1:])
        return events[0]

    def finish(self) -> Iterable[tuple[CsvRecord, Outcome]]:
        """Presences at a second simultaneous session, the timetable's rejected rows, then the absences."""
        yield from self._more
        yield from self.timetable.rejects
        if self._latest is None:
            return
        covered = (s for s in self.timetable.sessions.values() if s.id in self._tapped and s.start_ms + WINDOW_MS < self._latest)
        for session in sorted(covered, key=lambda s: (s.start_ms, s.id)):
            for card, row in session.expected.items():
                if (session.id, card) not in self._present:
                    yield row, self._mark(session, card, ABSENT, f"{self.timetable.name}:{row.line}")

    def _mark(self, session: Session, card: str, status: str, source_ref: str) -> Event:
        return mark_event(
            adapter=NAME, site=self.site, session=session.id, person=card, identity=CARD_NUMBER, status=status,
            action="card_tap" if status == PRESENT else "no_card_tap", event_time_ms=session.start_ms,
            source_ref=source_ref, course=session.course,
        )  # fmt: skip
