"""What the attendance adapters share: the register-mark vocabulary, session times, and mark event ids.

Three adapters read attendance (``attendance-taps``, ``attendance-register``,
``jisc-attendance``); each names a session and a person, and says which mark the person has.

Mark event ids
    A register mark is changed after it was first published: a student challenges an absence
    (the card reader failed, the session moved online), or sends a sick note. The engine
    counts an event id once, and a later event with ``amends=<earlier id>`` voids the earlier
    one, even when the earlier one arrives after it. The adapter publishing the new mark does
    not know the old one, so the ids are chosen so that the common changes work without it:

    - a mark's id is made from (adapter, site, session, person, *mark class*), where present
      and late are one class ("attended": the engine gives them the same effect, so a change
      between them is a repeat of the same event) and absent and authorised absence are one
      class each;
    - every mark but absent carries ``amends`` = the id of the *absent* mark of the same session
      and person.

    So absent -> present/late/authorised (a challenge upheld, a sick note) replaces the
    absence whatever order the exports are read in, and re-exports are repeats. What it cannot
    express (an event voids one id): attended -> absent or authorised, and authorised ->
    absent, leave the first mark counted (attended stays attended; authorised stays
    authorised). Those changes need a correction through ``leap`` (``producers.corrections``).
"""

from __future__ import annotations

from datetime import tzinfo
from urllib.parse import quote

from producers.outcome import Event, activity, event_id
from producers.times import DAY_FIRST, ISO_WITH_TIME, parse_time

PRESENT, LATE, ABSENT, AUTHORISED_ABSENCE = "present", "late", "absent", "authorised_absence"
STATUSES = (PRESENT, LATE, ABSENT, AUTHORISED_ABSENCE)
_MARK_CLASS = {PRESENT: "attended", LATE: "attended", ABSENT: "absent", AUTHORISED_ABSENCE: "authorised"}

# Register marks as universities write them (compared upper-cased, spaces collapsed).
MARKS: dict[str, str] = {
    **dict.fromkeys(("P", "PRESENT", "ATTENDED", "O", "ONLINE", "ATTENDED ONLINE"), PRESENT),
    **dict.fromkeys(("L", "LATE", "ATTENDED LATE"), LATE),
    **dict.fromkeys(
        ("A", "ABSENT", "U", "UNEXPLAINED", "UNEXPLAINED ABSENCE", "UNAUTHORISED", "UNAUTHORIZED",
         "UNAUTHORISED ABSENCE", "UNAUTHORIZED ABSENCE", "N", "NOT ATTENDED"),
        ABSENT,
    ),
    **dict.fromkeys(
        ("AA", "AUTH", "AUTHORISED", "AUTHORIZED", "AUTHORISED ABSENCE", "AUTHORIZED ABSENCE", "E",
         "EXPLAINED", "EXPLAINED ABSENCE", "EXCUSED", "SICK", "ILLNESS", "MEDICAL", "EC",
         "EXTENUATING CIRCUMSTANCES"),
        AUTHORISED_ABSENCE,
    ),
}  # fmt: skip
# Marks saying the student was not expected after all: the session did not happen for them.
NOT_REQUIRED = frozenset({"C", "CANCELLED", "CANCELED", "SESSION CANCELLED", "NR", "NOT REQUIRED", "N/A", "NA", "EXEMPT"})
NOT_MARKED = "not marked yet"
NOT_REQUIRED_SKIP = "session cancelled or not required"

MAX_ID = 64  # student, card and session ids; longer is not an id


def mark_key(text: str) -> str:
    """A mark as looked up in ``MARKS``: upper-cased, spaces collapsed."""
    return " ".join(text.split()).upper()


def session_time_ms(text: str, tz: tzinfo, column: str) -> int:
    """A session or tap time to UTC milliseconds; ``ValueError`` naming ``column`` when it is not one.

    ``YYYY-MM-DD HH:MM[:SS]`` or ISO 8601 (``T``, fractions, an offset or ``Z``), or the UK
    day-first ``DD/MM/YYYY HH:MM[:SS]`` that spreadsheets save; a time without an offset is
    in ``tz``. A date without a time, and times before 2000 or from 2100, are refused.
    """
    value = text.strip()
    if not value:
        raise ValueError(f"{column} is empty")
    return parse_time(
        value, column=column, tz=tz, iso=ISO_WITH_TIME, formats=DAY_FIRST, exact=False,
        unreadable="is not a date and time (YYYY-MM-DD HH:MM[:SS], ISO 8601 or DD/MM/YYYY HH:MM)",
    )  # fmt: skip


def checked_id(value: str, column: str) -> str:
    """An id cell stripped; ``ValueError`` naming ``column`` when it is empty or cannot be an id."""
    text = value.strip()
    if not text:
        raise ValueError(f"{column} is empty")
    if len(text) > MAX_ID:
        raise ValueError(f"{column} is longer than {MAX_ID} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise ValueError(f"{column} {text[:40]!r} has spaces or control characters")
    return text


def mark_reference(adapter: str, site: str, session: str, person: str, status: str) -> str:
    """The event reference of ``person``'s mark ``status`` at ``session`` (see the module doc)."""
    # Quoted so that ids holding ':' cannot run into one another.
    return f"{adapter}:{site}:{quote(session, safe='')}:{quote(person, safe='')}:{_MARK_CLASS[status]}"


def mark_event(
    *,
    adapter: str,
    site: str,
    session: str,
    person: str,
    identity: str,
    status: str,
    action: str,
    event_time_ms: int,
    source_ref: str,
    course: str | None,
) -> Event:
    """An attendance event for one mark, with the id and ``amends`` of the module doc's scheme."""
    absent = event_id(mark_reference(adapter, site, session, person, ABSENT))
    return activity(
        reference=mark_reference(adapter, site, session, person, status),
        student_id=person,
        identity=identity,
        source="attendance",
        action=action,
        event_time_ms=event_time_ms,
        course=course or None,
        object_ref=f"session:{session}",
        attendance_status=status,
        source_ref=source_ref,
        amends=None if status == ABSENT else absent,
    )
