"""Attendance registers (SEAtS and similar): one row per student per timetabled event, with the mark.

No register system publishes its export schema, so this adapter reads the report a SEAtS
style system downloads as CSV (or tab-separated), one row per (event, student), with a
header row. Column names are matched ignoring case and repeated spaces; columns in any order,
others (names, titles, room, who marked) are ignored:

``Student ID`` (required)
    The student's university id (identity ``student_id``).
``Event ID`` (required)
    The register system's id of the timetabled event (session).
``Event Start`` (required)
    When the session started: ``YYYY-MM-DD HH:MM[:SS]``, ISO 8601 with or without an offset,
    or the UK ``DD/MM/YYYY HH:MM[:SS]``; without an offset it is in ``--tz``. It is the
    event's time. ``Event End`` is not read.
``Mark`` (required; also ``Attendance Mark`` or ``Attendance Status``)
    ``P``/``Present``/``Attended``/``Online`` -> present; ``L``/``Late`` -> late;
    ``A``/``Absent``/``U``/``Unexplained``/``Unauthorised`` -> absent; ``AA``/``Authorised``/
    ``Authorised Absence``/``E``/``Explained``/``Excused``/``Sick``/``Medical``/``EC`` ->
    authorised absence (the full table is ``producers.attendance_marks.MARKS``).
``Module Code`` (optional; also ``Module``)
    The event's course.

Skipped (well-formed, but no mark to count): an empty mark ("not marked yet": the register
was not taken or the session is still to come), and ``Cancelled``/``NR``/``Not Required``/
``N/A``/``Exempt`` ("session cancelled or not required").

Rejected: a row with a different number of fields from the header, an empty or spaced
``Student ID`` or ``Event ID``, an ``Event Start`` that is not a plausible date and time, and a
mark that is none of the above (named in the reason, so it can be added).

Event ids: from (site, Event ID, Student ID, mark class), and every mark other than absent
amends the absence of the same session and student, so a re-export is a repeat and an
absence changed after a challenge or a sick note replaces the absence
(``producers.attendance_marks`` explains the scheme and which changes it cannot express). A
row repeated in one file is the same event, counted once by the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import tzinfo

from leap.vocabulary import STUDENT_ID
from producers.attendance_marks import MARKS, NOT_MARKED, NOT_REQUIRED, NOT_REQUIRED_SKIP, checked_id, mark_event, mark_key, session_time_ms
from producers.outcome import CsvRecord, Outcome, Reject, Skip
from producers.sources.base import Adapter, NotThisFormat

NAME = "attendance-register"
# The columns read, by the names (lower case) a register export may give them.
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "student": ("student id",),
    "event": ("event id",),
    "start": ("event start",),
    "mark": ("mark", "attendance mark", "attendance status"),
    "course": ("module code", "module"),
}
REQUIRED = ("student", "event", "start", "mark")
HEADER_HELP = "Student ID, Event ID, Event Start, Mark (and optionally Module Code)"


def register_columns(cells: Sequence[str]) -> dict[str, int]:
    """Where each column read is in a header row; ``ValueError`` when a required one is missing."""
    names = [" ".join(cell.strip().lstrip("\ufeff").split()).lower() for cell in cells]
    found: dict[str, int] = {}
    for key, aliases in COLUMN_NAMES.items():
        for alias in aliases:
            if alias in names:
                found[key] = names.index(alias)
                break
    missing = [COLUMN_NAMES[key][0] for key in REQUIRED if key not in found]
    if missing:
        raise ValueError(f"not an attendance register export: no {', '.join(missing)} column (expected {HEADER_HELP})")
    return found


def parse_register_row(
    columns: Mapping[str, int], width: int, fields: Sequence[str], *, site: str, tz: tzinfo, position: str
) -> Outcome:
    """One register row to an event, a skip or a rejection (see the module doc).

    ``columns`` is ``register_columns`` of the header and ``width`` the header's length;
    ``position`` (file and line) is the event's source reference.
    """
    if len(fields) != width:
        return Reject(f"{len(fields)} fields where the header has {width}")
    mark = mark_key(fields[columns["mark"]])
    try:
        student = checked_id(fields[columns["student"]], "Student ID")
        event = checked_id(fields[columns["event"]], "Event ID")
        start = session_time_ms(fields[columns["start"]], tz, "Event Start")
    except ValueError as exc:
        return Reject(str(exc))
    if not mark:
        return Skip(NOT_MARKED)
    if mark in NOT_REQUIRED:
        return Skip(NOT_REQUIRED_SKIP)
    status = MARKS.get(mark)
    if status is None:
        return Reject(f"Mark {mark[:40]!r} is not a known attendance mark")
    course = fields[columns["course"]].strip() if "course" in columns else ""
    return mark_event(
        adapter=NAME, site=site, session=event, person=student, identity=STUDENT_ID, status=status,
        action="session_marked", event_time_ms=start, source_ref=position, course=course,
    )  # fmt: skip


class AttendanceRegister(Adapter):
    """A register system's export: one row per student per event, with the mark (module doc)."""

    name = NAME
    source = "attendance"
    identity = STUDENT_ID
    summary = "attendance register export (SEAtS and similar): Student ID, Event ID, Event Start, Mark per row"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.site = self.options.site or NAME
        self._columns: dict[str, int] | None = None
        self._width = 0

    def start(self, first: CsvRecord) -> bool:
        """The first row must be the header naming the register's columns."""
        try:
            self._columns = register_columns(first.fields or [])
        except ValueError as exc:
            raise NotThisFormat(str(exc)) from None
        self._width = len(first.fields or [])
        return True

    def parse(self, record: CsvRecord) -> Outcome:
        """One row to an event, a skip or a rejection."""
        if self._columns is None:
            raise RuntimeError("AttendanceRegister.parse before start")
        return parse_register_row(
            self._columns, self._width, record.fields or [], site=self.site, tz=self.options.tz,
            position=f"{self.file_name}:{record.line}",
        )  # fmt: skip
