"""One record as read from a file, and what an adapter's parser makes of it: an event, a skip, or a rejection.

Parsers are pure functions from a record to one of these, so every rule is testable without
Kafka; the publishing shell (producers.ingest) decides what to do with each.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from leap.vocabulary import EVENT_NAMESPACE, STUDENT_ID

# LEAP's event ids: uuid5(EVENT_NAMESPACE, "<system>:<record reference>").

SOURCES = ("vle", "coursework", "lecture_capture", "attendance", "logins", "library")


def event_id(reference: str) -> str:
    """A stable event id for a source record: the same reference always gives the same id."""
    return str(uuid.uuid5(EVENT_NAMESPACE, reference))


@dataclass(frozen=True, slots=True)
class Event:
    """A student's own engagement: ``record`` is an ``activity_event`` ready to encode.

    ``identity`` is the namespace (``leap.vocabulary.IDENTITY_NAMESPACES``) of the id in
    ``record["student_id"]``: anything but ``student_id`` is resolved through the identity
    map before it is published.
    """

    record: dict[str, Any]
    identity: str = STUDENT_ID


@dataclass(frozen=True, slots=True)
class Skip:
    """A well-formed record that is not a student's own engagement (counted, not published)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Reject:
    """A malformed record: it goes to the dead-letter topic with this reason."""

    reason: str


Outcome = Event | Skip | Reject


def activity(
    *,
    reference: str,
    student_id: str,
    source: str,
    action: str,
    event_time_ms: int,
    source_ref: str,
    course: str | None = None,
    object_ref: str | None = None,
    quantity: float | None = None,
    attendance_status: str | None = None,
    amends: str | None = None,
    identity: str = STUDENT_ID,
) -> Event:
    """Build an activity event; ``reference`` identifies the source record for its event id.

    ``student_id`` is the person's id in the ``identity`` namespace (the source system's own).
    """
    return Event(
        {
            "event_id": event_id(reference),
            "student_id": student_id,
            "source": source,
            "action": action,
            "event_time": event_time_ms,
            "course": course,
            "object_ref": object_ref,
            "quantity": quantity,
            "attendance_status": attendance_status,
            "source_ref": source_ref,
            "amends": amends,
        },
        identity,
    )


@dataclass(frozen=True, slots=True)
class CsvRecord:
    """One record of a file (a CSV record, a line, a binary record) with its position and exact content.

    ``line`` is the record's first line number (or, with ``unit`` "record", its number in a
    binary file); ``raw`` its exact text, ``data`` its exact bytes when it is not text.
    """

    line: int
    raw: str
    fields: list[str] | None
    error: str | None = None
    unit: str = "line"
    data: bytes | None = None

    @property
    def position(self) -> str:
        """Where the record is in its file, in words: 'line 12', 'record 3'."""
        return f"{self.unit} {self.line}"
