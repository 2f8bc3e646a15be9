"""Jisc learning-records attendance: the Learning Data Hub's attendance file (UDD), tab-separated.

A header row naming the sixteen columns (in any order; upper or lower case), then one row per
student per event: ``STUDENT_ID EVENT_ID EVENT_NAME EVENT_DESCRIPTION EVENT_TYPE
EVENT_TYPE_DESCRIPTION EVENT_MAX_COUNT EVENT_MANDATORY START_TIME END_TIME EVENT_ATTENDED
ATTENDANCE_LATE ATTENDANCE_CATEGORY STAFF_ID MOD_INSTANCE_ID COURSE_INSTANCE_ID``. The
same columns comma-separated are read too. Identity: ``STUDENT_ID`` (the student id).

Columns read (the others are not):

- ``START_TIME``: ISO 8601 (``2026-10-05T09:00:00``, with an offset or ``Z`` or without one,
  which is then in ``--tz``; ``YYYY-MM-DD HH:MM`` and the UK ``DD/MM/YYYY HH:MM`` are read
  too). It is the event's time. ``END_TIME`` is not read.
- ``EVENT_ATTENDED``: ``1``/``0`` (also ``true``/``false``, ``Y``/``N``, ``yes``/``no``).
- ``ATTENDANCE_LATE``: ``1``/``0`` as above; empty is 0.
- ``ATTENDANCE_CATEGORY``: the institution's own code, read with the register vocabulary
  (``producers.attendance_marks.MARKS``): e.g. ``L`` late, ``P`` present, ``A``/``U``
  absent, ``AA``/``Authorised``/``E``/``Sick``/``EC`` authorised absence. Empty is none.
- ``EVENT_MANDATORY``: ``1``/``0`` as above; empty means mandatory.
- Course: ``MOD_INSTANCE_ID``, or ``COURSE_INSTANCE_ID`` when that is empty.

The mark (Jisc leaves the category codes to the institution; this is LEAP's reading):

- attended: late when ``ATTENDANCE_LATE`` is 1 or the category is a late code, else present;
- not attended: authorised absence when the category is an authorised code, else absent;
- ``EVENT_ATTENDED`` empty: the category alone decides (an absence authorised in advance);
  with no category either, the row is skipped ("not marked yet").

Skipped: not marked yet; a category ``C``/``Cancelled``/``NR``/``Not Required``/``N/A``/
``Exempt`` ("session cancelled or not required"); an absence (authorised or not) from an
event whose ``EVENT_MANDATORY`` is 0 ("absent from an optional event": not attending what was
optional is not disengagement; attending it is counted).

Rejected: a row with a different number of fields from the header; an empty or spaced
``STUDENT_ID`` or ``EVENT_ID``; a ``START_TIME`` that is not a plausible date and time; a
flag that is not 1/0; an unknown category (named, so it can be added); and a row that
contradicts itself (``EVENT_ATTENDED`` 1 with an absence category, 0 with a present or late
category or ``ATTENDANCE_LATE`` 1).

Event ids: from (site, ``EVENT_ID``, ``STUDENT_ID``, mark class); every mark other than
absent amends the absence of the same event and student, so a re-sent file is a repeat and
an absence later marked attended or authorised replaces the absence (the scheme and its
limits are in ``producers.attendance_marks``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import tzinfo

from leap.vocabulary import STUDENT_ID
from producers.attendance_marks import (
    ABSENT, AUTHORISED_ABSENCE, LATE, MARKS, NOT_MARKED, NOT_REQUIRED, NOT_REQUIRED_SKIP, PRESENT,
    checked_id, mark_event, mark_key, session_time_ms,
)  # fmt: skip
from producers.outcome import CsvRecord, Outcome, Reject, Skip
from producers.sources.base import Adapter, NotThisFormat

NAME = "jisc-attendance"
JISC_COLUMNS = (
    "STUDENT_ID", "EVENT_ID", "EVENT_NAME", "EVENT_DESCRIPTION", "EVENT_TYPE", "EVENT_TYPE_DESCRIPTION",
    "EVENT_MAX_COUNT", "EVENT_MANDATORY", "START_TIME", "END_TIME", "EVENT_ATTENDED", "ATTENDANCE_LATE",
    "ATTENDANCE_CATEGORY", "STAFF_ID", "MOD_INSTANCE_ID", "COURSE_INSTANCE_ID",
)  # fmt: skip
_TRUE = frozenset({"1", "TRUE", "Y", "YES"})
_FALSE = frozenset({"0", "FALSE", "N", "NO"})
OPTIONAL_ABSENCE = "absent from an optional event"


def jisc_columns(cells: Sequence[str]) -> dict[str, int]:
    """Each Jisc column's place in a header row; ``ValueError`` unless it names exactly the sixteen."""
    names = [cell.strip().lstrip("\ufeff").upper() for cell in cells]
    if sorted(names) != sorted(JISC_COLUMNS):
        missing = [c for c in JISC_COLUMNS if c not in names]
        detail = f"missing {', '.join(missing[:4])}" if missing else f"{len(names)} columns"
        raise ValueError(f"not a Jisc attendance file ({detail}): expected the header {' '.join(JISC_COLUMNS[:3])} ... {JISC_COLUMNS[-1]}")
    return {name: names.index(name) for name in JISC_COLUMNS}


def _flag(value: str, column: str, empty: bool | None) -> bool | None:
    text = value.strip().upper()
    if not text:
        return empty
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{column} {value.strip()[:20]!r} is not 1 or 0")


def jisc_status(attended: bool | None, late: bool, category: str | None) -> str | None:
    """The mark of a row's flags and category status (``None``: not marked); ``ValueError`` on a contradiction."""
    if attended is None:
        if category is None and not late:
            return None
        attended = category in (PRESENT, LATE) or (category is None and late)
    if attended:
        if category in (ABSENT, AUTHORISED_ABSENCE):
            raise ValueError("EVENT_ATTENDED is 1 but ATTENDANCE_CATEGORY is an absence")
        return LATE if late or category == LATE else PRESENT
    if late:
        raise ValueError("ATTENDANCE_LATE is 1 but EVENT_ATTENDED is 0")
    if category in (PRESENT, LATE):
        raise ValueError("EVENT_ATTENDED is 0 but ATTENDANCE_CATEGORY is attendance")
    return AUTHORISED_ABSENCE if category == AUTHORISED_ABSENCE else ABSENT


def parse_jisc_row(columns: Mapping[str, int], fields: Sequence[str], *, site: str, tz: tzinfo, position: str) -> Outcome:
    """One Jisc attendance row to an event, a skip or a rejection (see the module doc)."""
    if len(fields) != len(columns):
        return Reject(f"{len(fields)} fields where the header has {len(columns)}")
    row = {name: fields[index] for name, index in columns.items()}
    category = mark_key(row["ATTENDANCE_CATEGORY"])
    try:
        student = checked_id(row["STUDENT_ID"], "STUDENT_ID")
        event = checked_id(row["EVENT_ID"], "EVENT_ID")
        start = session_time_ms(row["START_TIME"], tz, "START_TIME")
        attended = _flag(row["EVENT_ATTENDED"], "EVENT_ATTENDED", None)
        late = bool(_flag(row["ATTENDANCE_LATE"], "ATTENDANCE_LATE", False))
        mandatory = _flag(row["EVENT_MANDATORY"], "EVENT_MANDATORY", True)
        if category in NOT_REQUIRED:
            return Skip(NOT_REQUIRED_SKIP)
        if category and category not in MARKS:
            raise ValueError(f"ATTENDANCE_CATEGORY {category[:40]!r} is not a known attendance code")
        status = jisc_status(attended, late, MARKS.get(category))
    except ValueError as exc:
        return Reject(str(exc))
    if status is None:
        return Skip(NOT_MARKED)
    if not mandatory and status in (ABSENT, AUTHORISED_ABSENCE):
        return Skip(OPTIONAL_ABSENCE)
    course = row["MOD_INSTANCE_ID"].strip() or row["COURSE_INSTANCE_ID"].strip()
    return mark_event(
        adapter=NAME, site=site, session=event, person=student, identity=STUDENT_ID, status=status,
        action="session_marked", event_time_ms=start, source_ref=position, course=course,
    )  # fmt: skip


class JiscAttendance(Adapter):
    """The Jisc Learning Data Hub attendance file (module doc)."""

    name = NAME
    source = "attendance"
    identity = STUDENT_ID
    summary = "Jisc learning-records attendance file (TSV: STUDENT_ID EVENT_ID ... EVENT_ATTENDED ATTENDANCE_LATE ATTENDANCE_CATEGORY ...)"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.site = self.options.site or NAME
        self._columns: dict[str, int] | None = None

    def start(self, first: CsvRecord) -> bool:
        """The first row must be the sixteen-column Jisc header."""
        try:
            self._columns = jisc_columns(first.fields or [])
        except ValueError as exc:
            raise NotThisFormat(str(exc)) from None
        return True

    def parse(self, record: CsvRecord) -> Outcome:
        """One row to an event, a skip or a rejection."""
        if self._columns is None:
            raise RuntimeError("JiscAttendance.parse before start")
        return parse_jisc_row(self._columns, record.fields or [], site=self.site, tz=self.options.tz, position=f"{self.file_name}:{record.line}")
