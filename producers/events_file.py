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
import math
from datetime import datetime

from producers.outcome import SOURCES, Event, Outcome, Reject

ATTENDANCE_STATUSES = ("present", "late", "absent", "authorised_absence")
_OPTIONAL_TEXT = ("course", "object_ref", "amends", "source_ref")
# Beyond these an event is a unit mistake or a broken clock, not activity: rejected here,
# before it can reach the engine (the engine checks again; it trusts no producer).
EARLIEST_MS = 946_684_800_000  # 2000-01-01
LATEST_MS = 4_102_444_800_000  # 2100-01-01
MAX_MINUTES = 24 * 60  # one lecture-capture event cannot stand for more than a day
MAX_QUANTITY = 1_000_000  # other sources ignore quantity, but an absurd one is a broken export
MAX_TEXT = 256  # ids and references; longer is not an id


def _text_problem(name: str, value: object) -> str | None:
    if not isinstance(value, str):
        return f"{name} is not text"
    if len(value) > MAX_TEXT:
        return f"{name} is longer than {MAX_TEXT} characters"
    return None


def _time_ms(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("event_time is a boolean")
    if isinstance(value, int):
        if not -(2**62) < value < 2**62:
            raise ValueError(f"event_time {value:.3g} is not a plausible Unix time in milliseconds")
        return value
    if isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"event_time {value[:40]!r} is not ISO 8601") from None
        if stamp.tzinfo is None:
            raise ValueError(f"event_time {value[:40]!r} has no UTC offset")
        return int(stamp.timestamp() * 1000)
    raise ValueError(f"event_time must be ISO 8601 text or Unix milliseconds, not {type(value).__name__}")


def parse_event(obj: object, *, position: str) -> Outcome:
    """One decoded JSON value to an event or a rejection with the reason."""
    if not isinstance(obj, dict):
        return Reject("line is not a JSON object")
    for name in ("event_id", "student_id", "action"):
        if not isinstance(obj.get(name), str) or not obj[name]:
            return Reject(f"{name} is missing or not text")
        if problem := _text_problem(name, obj[name]):
            return Reject(problem)
    source = obj.get("source")
    if not isinstance(source, str) or source not in SOURCES:
        return Reject(f"source {source!r:.40} is not one of {', '.join(SOURCES)}")
    try:
        when = _time_ms(obj.get("event_time"))
    except (ValueError, OverflowError) as exc:
        return Reject(str(exc)[:200])
    if not EARLIEST_MS <= when < LATEST_MS:
        return Reject(f"event_time {when} ms is outside 2000-2099 (seconds or microseconds instead of milliseconds?)")
    quantity = obj.get("quantity")
    if quantity is not None:
        if isinstance(quantity, bool) or not isinstance(quantity, (int, float)):
            return Reject("quantity is not a number")
        if not math.isfinite(quantity) or quantity < 0:
            return Reject(f"quantity {quantity} is not a finite number >= 0")
        limit = MAX_MINUTES if source == "lecture_capture" else MAX_QUANTITY
        if quantity > limit:
            return Reject(f"quantity {quantity:g} is more than {limit:,} ({'minutes in a day' if source == 'lecture_capture' else 'plausible'})")
    status = obj.get("attendance_status")
    if status is not None and (not isinstance(status, str) or status not in ATTENDANCE_STATUSES):
        return Reject(f"attendance_status {status!r:.40} is not one of {', '.join(ATTENDANCE_STATUSES)}")
    if source == "lecture_capture" and quantity is None:
        return Reject("a lecture_capture event needs quantity (minutes watched)")
    if source == "attendance" and status is None:
        return Reject("an attendance event needs attendance_status")
    for name in _OPTIONAL_TEXT:
        if obj.get(name) is not None and (problem := _text_problem(name, obj[name])):
            return Reject(problem)
    if obj.get("amends") is not None and obj["amends"] == obj["event_id"]:
        return Reject("an event cannot amend itself")
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
