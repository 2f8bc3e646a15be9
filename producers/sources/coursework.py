"""Coursework systems without a public schema (FASER at Essex and the like): a documented CSV.

FASER (e-submission, e-feedback) publishes no export format, so LEAP defines one for any
coursework system to write. A CSV (or tab-separated) file whose header names these columns,
in any order:

==================  ========  =====================================================
column              required  value
==================  ========  =====================================================
``student_id``      yes       the university's student id (no identity mapping)
``assignment_id``   yes       the system's id of the assignment
``event``           yes       ``submitted``, ``feedback_viewed``, ``draft_saved``,
                              ``extension_granted`` (lower case; spaces and hyphens
                              are read as ``_``)
``timestamp``       yes       when it happened
``due``             no        the assignment's deadline (this student's, extensions
                              included); may be empty
``course``          no        the module code, e.g. ``CE101-4-AU``
``assignment_name`` no        for people reading the file; not used
==================  ========  =====================================================

Any other column makes the file not this format (so a misspelt ``due`` is noticed rather
than ignored). Times are ISO 8601 with or without an offset, ``YYYY-MM-DD HH:MM[:SS]``, or
day-first ``DD/MM/YYYY HH:MM[:SS]`` (a CSV saved by Excel in the UK); without an offset they
are local (``Options.tz``). A ``due`` that is a bare date means the end of that day.

What counts as the student's own engagement:

- ``submitted``: an event, action ``submitted``; ``submitted_late`` when ``due`` is given
  and the submission is after it (still engagement: the engine decides how much it counts);
- ``feedback_viewed``: an event (students confirm they have read feedback before marks show);
- ``draft_saved``: skipped (``draft save: not a submission``): systems save drafts on a timer,
  so their number measures the editor, not the student;
- ``extension_granted``: skipped (``extension: recorded by staff, not the student's activity``).

Events are source ``coursework`` with ``object_ref`` the assignment id and ``course`` the
module code when given. The event id comes from the site, student, assignment, event and
time. A row is *rejected* when a field count differs from the header's, a required value is
empty, ``event`` is none of the four, or ``timestamp``/``due`` is unreadable or outside
2000-2099.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import tzinfo

from leap.vocabulary import STUDENT_ID
from producers import times
from producers.outcome import CsvRecord, Outcome, Reject, Skip, activity
from producers.sources.base import Adapter, NotThisFormat

REQUIRED_COLUMNS = ("student_id", "assignment_id", "event", "timestamp")
OPTIONAL_COLUMNS = ("due", "course", "assignment_name")
ENGAGEMENT = ("submitted", "feedback_viewed")
NOT_ENGAGEMENT = {
    "draft_saved": "draft save: not a submission",
    "extension_granted": "extension: recorded by staff, not the student's activity",
}
EVENTS = (*ENGAGEMENT, *NOT_ENGAGEMENT)
DAY_FIRST_FORMATS = times.DAY_FIRST_OR_DATE
MAX_TEXT = 256


def check_header(cells: Sequence[str]) -> tuple[str, ...]:
    """The header's column names; ``ValueError`` naming missing or unknown columns."""
    header = tuple(cell.strip().lstrip("\ufeff").lower() for cell in cells)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown or len(set(header)) != len(header):
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown {', '.join(c[:30] for c in unknown[:5])}"] if unknown else [])
        raise ValueError(
            f"not a coursework CSV ({'; '.join(problems) or 'a column is repeated'}); "
            f"columns are {', '.join(REQUIRED_COLUMNS)} and optionally {', '.join(OPTIONAL_COLUMNS)}"
        )
    return header


def parse_time(text: str, tz: tzinfo, column: str, *, end_of_day: bool = False) -> int:
    """A time cell to UTC ms (module doc); a bare date is midnight, or the end of the day with ``end_of_day``."""
    return times.parse_time(
        text, column=column, tz=tz, iso=times.ISO_YEAR_FIRST, formats=DAY_FIRST_FORMATS, end_of_day=end_of_day,
        unreadable="is not ISO 8601 or DD/MM/YYYY HH:MM:SS", implausible=times.OUTSIDE, exact=False,
    )  # fmt: skip


def parse_coursework_row(header: Sequence[str], fields: Sequence[str], *, site: str, tz: tzinfo, position: str) -> Outcome:
    """One row to an event, a skip or a rejection (module doc)."""
    if len(fields) != len(header):
        return Reject(f"{len(fields)} fields where the header has {len(header)}")
    row = {name: value.strip() for name, value in zip(header, fields)}
    for name in ("student_id", "assignment_id", "event"):
        if not row[name]:
            return Reject(f"{name} is empty")
        if len(row[name]) > MAX_TEXT:
            return Reject(f"{name} is longer than {MAX_TEXT} characters")
    event = re.sub(r"[\s-]+", "_", row["event"].lower())
    if event not in EVENTS:
        return Reject(f"event {row['event'][:40]!r} is not one of {', '.join(EVENTS)}")
    try:
        when = parse_time(row["timestamp"], tz, "timestamp")
        due = parse_time(row["due"], tz, "due", end_of_day=True) if row.get("due") else None
    except ValueError as exc:
        return Reject(str(exc))
    if event in NOT_ENGAGEMENT:
        return Skip(NOT_ENGAGEMENT[event])
    action = "submitted_late" if event == "submitted" and due is not None and when > due else event
    student, assignment = row["student_id"], row["assignment_id"]
    return activity(
        reference=f"coursework:{site}:{student}:{assignment}:{event}:{when}",
        student_id=student,
        identity=STUDENT_ID,
        source="coursework",
        action=action,
        event_time_ms=when,
        course=row.get("course", "")[:MAX_TEXT] or None,
        object_ref=assignment,
        source_ref=position,
    )


class Coursework(Adapter):
    """A coursework system's documented CSV (module doc)."""

    name = "coursework"
    source = "coursework"
    identity = STUDENT_ID
    summary = "coursework submissions and feedback views as a documented CSV (FASER-like systems)"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.site = self.options.site or self.name
        self._header: tuple[str, ...] | None = None

    def start(self, first: CsvRecord) -> bool:
        """The first row must be the header (module doc)."""
        try:
            self._header = check_header(first.fields or [])
        except ValueError as exc:
            raise NotThisFormat(str(exc)) from None
        return True

    def parse(self, record: CsvRecord) -> Outcome:
        """One row to an event, a skip or a rejection."""
        if self._header is None:
            raise RuntimeError("Coursework.parse before start")
        return parse_coursework_row(self._header, record.fields or [], site=self.site, tz=self.options.tz, position=f"{self.file_name}:{record.line}")
