"""Normalised activity events (``leap produce events``): the generic adapter, and `leap simulate`'s output.

JSON lines, or CSV with the same names as header columns (an empty cell is null, and
``event_time`` may be ISO 8601 or Unix milliseconds); which of the two is told from the
file's first character.

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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from producers.outcome import SOURCES, CsvRecord, Event, Outcome, Reject
from producers.readers import open_text, read_lines, read_table
from producers.sources.base import Adapter, NotThisFormat
from producers.times import EARLIEST_MS, ISO_ANY, LATEST_MS

EVENT_COLUMNS = (
    "event_id", "student_id", "source", "action", "event_time", "course", "object_ref",
    "quantity", "attendance_status", "source_ref", "amends",
)  # fmt: skip
REQUIRED_EVENT_COLUMNS = ("event_id", "student_id", "source", "action", "event_time")
ATTENDANCE_STATUSES = ("present", "late", "absent", "authorised_absence")
_OPTIONAL_TEXT = ("course", "object_ref", "amends", "source_ref")
# Beyond EARLIEST_MS/LATEST_MS (producers.times) an event is a unit mistake or a broken clock,
# not activity: rejected here, before it can reach the engine (it checks again; it trusts no producer).
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
        stamp = ISO_ANY.read(value)
        if stamp is None:
            raise ValueError(f"event_time {value[:40]!r} is not ISO 8601")
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


# ------------------------------------------------------------------ the same fields as CSV


def check_event_header(cells: Sequence[str]) -> tuple[str, ...]:
    """The columns of an events CSV header; ``ValueError`` naming missing or unknown columns."""
    header = tuple(cell.strip().lstrip("\ufeff") for cell in cells)
    missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in header]
    unknown = [c for c in header if c not in EVENT_COLUMNS]
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown {', '.join(unknown)}"] if unknown else [])
        raise ValueError(f"not an events CSV header ({'; '.join(parts)}); columns are {', '.join(EVENT_COLUMNS)}")
    return header


def parse_event_row(header: Sequence[str], fields: Sequence[str], *, position: str) -> Outcome:
    """One events CSV row to an event or a rejection: empty cells are null, numbers are read as numbers."""
    if len(fields) != len(header):
        return Reject(f"{len(fields)} fields where the header has {len(header)}")
    row: dict[str, object] = {name: (value if value != "" else None) for name, value in zip(header, fields)}
    quantity = row.get("quantity")
    if isinstance(quantity, str):
        try:
            row["quantity"] = float(quantity)
        except ValueError:
            pass  # parse_event rejects it as "quantity is not a number"
    when = row.get("event_time")
    # ASCII digits only: str.isdigit() is also true of "²" and other digits int() refuses.
    if isinstance(when, str) and when.isascii() and when.isdigit():
        row["event_time"] = int(when)
    return parse_event(row, position=position)


class Events(Adapter):
    """Normalised activity events, JSON lines or CSV: ids are already student ids."""

    name = "events"
    source = "any"
    identity = "student_id"
    summary = "normalised activity events: JSON lines, or CSV with the same column names (a system without an adapter of its own)"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._header: tuple[str, ...] | None = None

    @contextmanager
    def records(self, path: Path) -> Iterator[Iterator[CsvRecord]]:
        """JSON lines when the file starts with ``{``, else a table."""
        with open_text(path, self.options.encoding) as stream:
            head = stream.read(4096).lstrip()
            stream.seek(0)
            yield read_lines(stream) if head.startswith("{") else read_table(stream)

    def start(self, first: CsvRecord) -> bool:
        """JSON lines have no header; a CSV's first row must name the event fields."""
        if first.fields is None:
            # Strict, so --format auto leaves other JSON lines (xAPI, Caliper) to their adapters.
            try:
                value = json.loads(first.raw)
            except (ValueError, RecursionError):
                value = None
            if not isinstance(value, dict) or "event_id" not in value:
                raise NotThisFormat("not normalised events: the first JSON line must be an object with event_id")
            self.label = "events"
            return False
        try:
            self._header = check_event_header(first.fields)
        except ValueError as exc:
            raise NotThisFormat(f"not JSON lines (does not start with '{{'); {exc}") from None
        self.label = "events (CSV)"
        return True

    def parse(self, record: CsvRecord) -> Outcome:
        """One line or row to an event or a rejection."""
        position = f"{self.file_name}:{record.line}"
        if self._header is None:
            return parse_line(record.raw, position=position)
        return parse_event_row(self._header, record.fields or [], position=position)
