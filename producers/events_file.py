"""Normalised activity events as JSON lines: the generic adapter, and `leap simulate`'s output.

Each line is one object with the ``activity_event`` fields: ``event_id``, ``student_id``,
``source`` (vle, coursework, lecture_capture, attendance, logins, library), ``action``,
``event_time`` (ISO 8601 with offset, or Unix milliseconds), and optionally ``course``,
``object_ref``, ``quantity`` (minutes for lecture capture), ``attendance_status`` (present,
late, absent, authorised_absence), ``source_ref`` and ``amends`` (the event id a correction
replaces). A system without an adapter of its own can publish this format.
"""

from __future__ import annotations

import json
from datetime import datetime

from producers.outcome import SOURCES, Event, Outcome, Reject

ATTENDANCE_STATUSES = ("present", "late", "absent", "authorised_absence")
_OPTIONAL_TEXT = ("course", "object_ref", "amends")


def _time_ms(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("event_time is a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            raise ValueError(f"event_time {value!r} has no UTC offset")
        return int(stamp.timestamp() * 1000)
    raise ValueError(f"event_time must be ISO 8601 text or Unix milliseconds, not {type(value).__name__}")


def parse_event(obj: object, *, position: str) -> Outcome:
    """One decoded JSON value to an event or a rejection with the reason."""
    if not isinstance(obj, dict):
        return Reject("line is not a JSON object")
    for name in ("event_id", "student_id", "action"):
        if not isinstance(obj.get(name), str) or not obj[name]:
            return Reject(f"{name} is missing or not text")
    source = obj.get("source")
    if source not in SOURCES:
        return Reject(f"source {source!r} is not one of {', '.join(SOURCES)}")
    try:
        when = _time_ms(obj.get("event_time"))
    except ValueError as exc:
        return Reject(str(exc))
    quantity = obj.get("quantity")
    if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, (int, float))):
        return Reject("quantity is not a number")
    status = obj.get("attendance_status")
    if status is not None and status not in ATTENDANCE_STATUSES:
        return Reject(f"attendance_status {status!r} is not one of {', '.join(ATTENDANCE_STATUSES)}")
    for name in _OPTIONAL_TEXT:
        if obj.get(name) is not None and not isinstance(obj[name], str):
            return Reject(f"{name} is not text")
    return Event(
        {
            "event_id": obj["event_id"],
            "student_id": obj["student_id"],
            "source": source,
            "action": obj["action"],
            "event_time": when,
            "course": obj.get("course"),
            "object_ref": obj.get("object_ref"),
            "quantity": None if quantity is None else float(quantity),
            "attendance_status": status,
            "source_ref": obj.get("source_ref") or position,
            "amends": obj.get("amends"),
        }
    )


def parse_line(line: str, *, position: str) -> Outcome:
    """One JSON line to an event or a rejection."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return Reject(f"not JSON: {exc.msg} at column {exc.colno}")
    return parse_event(obj, position=position)
