"""The records' errors and the pure checks on what is written (no storage here)."""

from __future__ import annotations

# Long enough for any note a tutor writes; short enough that a pasted file is refused.
MAX_TEXT = 4000
MAX_NAME = 200  # services, record types and ids, user ids

ALERT_UPDATES = {"acknowledged": "acknowledge", "actioned": "action", "dismissed": "dismiss"}
OBJECTIVE_STATUSES = ("open", "met", "not_met", "withdrawn")
QUERY_OUTCOMES = ("upheld", "rejected")
# Sources whose missed activity a data query can claim (and an upheld one correct).
CORRECTABLE_SOURCES = ("attendance", "vle", "coursework", "lecture_capture", "logins", "library")
# What a student may change on their own objective: staff set the rest.
STUDENT_OBJECTIVE_FIELDS = frozenset({"progress"})
OBJECTIVE_FIELDS = frozenset({"description", "due", "status", "progress"})


class RecordError(Exception):
    """A request the records refuse; ``str()`` is the one-line message for the user."""

    exit_code = 2


class InvalidInput(RecordError):
    """Text too long or empty, a status that does not exist, a field that cannot be changed."""


class UnknownUser(RecordError):
    """Neither in the staff directory nor a student on the roster."""


class NotFound(RecordError):
    """No such student, note, objective, referral, query or alert."""


class Forbidden(RecordError):
    """``decide`` refused; the message says why (and the refusal is in the access log)."""

    exit_code = 3


def check_text(label: str, text: str | None, *, limit: int = MAX_TEXT, required: bool = True) -> str | None:
    """``text`` unchanged if it may be stored (escaping is the renderer's job), else InvalidInput."""
    if text is None or text == "":
        if required:
            raise InvalidInput(f"{label} is empty")
        return None
    if not text.strip():
        raise InvalidInput(f"{label} is only white space")
    if len(text) > limit:
        raise InvalidInput(f"{label} is {len(text):,} characters; at most {limit:,} are stored")
    if "\x00" in text:
        raise InvalidInput(f"{label} contains a NUL character, which cannot be stored")
    return text


def alert_update_error(current: str, target: str) -> str | None:
    """Why an alert in status ``current`` cannot become ``target`` (None: it can).

    Only a raised alert is worked on: a held one was never sent, a dropped one never will be.
    Acknowledged may be skipped; actioned and dismissed are final.
    """
    if target not in ALERT_UPDATES:
        return f"an alert can become {', '.join(ALERT_UPDATES)}, not {target!r}"
    if current in ("held", "dropped"):
        return f"the alert is {current}: it was never sent to anyone, so there is nothing to {ALERT_UPDATES[target]}"
    if current in ("actioned", "dismissed"):
        return f"the alert was already {current}"
    if current == target:
        return f"the alert is already {current}"
    return None


def objective_change_error(fields: set[str], by_student: bool) -> str | None:
    """Why this set of objective fields cannot be changed (None: it can)."""
    if not fields:
        return "nothing to change: give a description, due date, status or progress"
    unknown = fields - OBJECTIVE_FIELDS
    if unknown:
        return f"objectives have no field(s) {', '.join(sorted(unknown))}"
    if by_student and fields - STUDENT_OBJECTIVE_FIELDS:
        return f"a student records progress on their own objectives; staff change the {', '.join(sorted(fields - STUDENT_OBJECTIVE_FIELDS))}"
    return None
