"""What the JSON adapters (``xapi``, ``caliper``) share: decoding a record, ISO 8601 times, JSON array files.

Every failure is a ``ValueError`` (or an error record) with a one-line reason, so a broken
record is rejected on its own while the rest of the file goes on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timezone
from typing import IO

from producers.outcome import CsvRecord
from producers.times import RFC3339_DATE_TIME, parse_time

MAX_TEXT = 256  # ids and references; longer is not an id
# json.loads holds the whole array in memory, several times its size: larger exports must be JSON lines.
MAX_ARRAY_BYTES = 64 * 1024 * 1024

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(text: str) -> bool:
    """Whether ``text`` is a UUID in its usual hyphenated form (any case), as xAPI and Caliper write them."""
    return bool(_UUID.fullmatch(text))


def decode_json(text: str) -> object:
    """A JSON text's value; ``ValueError`` with a one-line reason when it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} (column {exc.colno})") from None
    except (ValueError, RecursionError):  # a number too long to convert, nesting too deep
        raise ValueError("not JSON that can be read (a number too long or nesting too deep)") from None


def iso_time_ms(value: object, name: str) -> int:
    """An ISO 8601 date and time (extended form) to UTC milliseconds; without an offset it is UTC.

    ``ValueError`` naming ``name`` when it is not text, not a date *and* time, or not in 2000-2099.
    """
    if not isinstance(value, str):
        raise ValueError(f"{name} is not text")
    return parse_time(value, column=name, tz=timezone.utc, iso=RFC3339_DATE_TIME, unreadable="is not an ISO 8601 date and time", exact=False)


def read_json_array(stream: IO[str], what: str = "records") -> Iterator[CsvRecord]:
    """A JSON array file's elements as records ``record 1``, ``record 2``...; one error record when it is not one.

    Read whole, up to ``MAX_ARRAY_BYTES``; each element's text is its compact JSON.
    """
    text = stream.read(MAX_ARRAY_BYTES + 1)
    if len(text) > MAX_ARRAY_BYTES:
        yield CsvRecord(1, "", None, f"JSON array file larger than {MAX_ARRAY_BYTES // 2**20} MiB: export it as JSON lines", unit="record")
        return
    try:
        items = decode_json(text)
    except ValueError as exc:
        yield CsvRecord(1, text[:200], None, f"{exc} (a JSON array of {what} was expected)", unit="record")
        return
    if not isinstance(items, list):
        yield CsvRecord(1, text[:200], None, f"not a JSON array of {what}", unit="record")
        return
    for number, item in enumerate(items, start=1):
        yield CsvRecord(number, json.dumps(item), None, unit="record")
