"""Corrections: the activity an upheld data query says was missed, as an ordinary event.

A student challenges their data ("I was at the 10:00 seminar on 1 Dec; the card reader
failed"); whoever upholds the challenge confirms the source and time, and this module makes
the event the source system should have sent. The engine scores it like any other, so the
student's band moves seconds later, and replaying the activity topic gives the same result.

The event id comes from the query id, so publishing the same correction twice (a retry
after a crash between Kafka and PostgreSQL) is one event to the engine. When the query names
the register mark it corrects (an attendance event recorded as absent), the correction
*amends* that event instead of adding a second mark for the same session.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from leap.kafka import Publisher
from leap.settings import Settings
from producers.outcome import SOURCES, Event, activity
from schemas.codec import Codec

# What each source's corrected activity is, in the words its own adapter uses.
_ACTIONS = {
    "attendance": "attended",
    "vle": "course_module_viewed",
    "coursework": "assessable_submitted",
    "lecture_capture": "recording_viewed",
    "logins": "user_loggedin",
    "library": "item_loaned",
}
# Lecture capture measures minutes; a correction stands for one typical viewing.
CORRECTION_MINUTES = 30.0


class CorrectionError(ValueError):
    """The query does not say enough to correct anything; the message says what is missing."""


def correction_event(query_id: int, student_id: str, source: str | None, at: datetime | None, *, amends: str | None = None) -> Event:
    """The activity event an upheld query ``query_id`` stands for (``at``: an aware datetime)."""
    if source not in SOURCES:
        raise CorrectionError(f"a correction needs the source of the missed activity, one of {', '.join(SOURCES)}")
    if at is None or at.tzinfo is None:
        raise CorrectionError("a correction needs the date and time of the missed activity")
    return activity(
        reference=f"leap-correction:query:{query_id}",
        student_id=student_id,
        source=source,
        action=_ACTIONS[source],
        event_time_ms=int(at.timestamp() * 1000),
        source_ref=f"leap data query {query_id} (upheld)",
        quantity=CORRECTION_MINUTES if source == "lecture_capture" else None,
        attendance_status="present" if source == "attendance" else None,
        amends=amends or None,
    )


def publish_correction(event: Event, settings: Settings, publisher: Publisher, codec: Codec) -> str:
    """Publish a correction on the activity topic and wait until Kafka has it; return its id."""
    record = event.record
    publisher.send(settings.topic("activity"), codec.encode("activity_event", record), key=record["student_id"])
    publisher.flush()
    return record["event_id"]


def correction_hook(settings: Settings, publisher: Publisher, codec: Codec, *, source: str | None = None,
                    at: datetime | None = None, amends: str | None = None) -> Callable[[dict], str | None]:  # fmt: skip
    """The ``on_upheld`` hook of ``consumers.records.resolve_query``: publish the query's correction.

    ``source``, ``at`` and ``amends`` are what the person upholding confirmed; each left out
    is taken from what the student stated on the query. A query about no activity at all (a
    note, a band) publishes nothing (None); one that says only half (a source but no time)
    raises ``CorrectionError``, and the resolution is then not stored.
    """

    def publish(row: dict) -> str | None:
        if not (source or at or row.get("activity_source") or row.get("activity_at")):
            return None
        event = correction_event(
            row["query_id"], row["student_id"], source or row.get("activity_source"), at or row.get("activity_at"), amends=amends
        )
        return publish_correction(event, settings, publisher, codec)

    return publish
