"""MySQL's own text export: ``SELECT ... INTO OUTFILE`` and ``mysqldump --tab``.

MySQL writes fields ``ESCAPED BY '\\'`` by default, which is not CSV: a quote inside a
field is ``\\"`` (not doubled), a backslash is ``\\\\``, a newline or tab inside a field is
``\\n`` / ``\\t`` (or a backslash before the real character), and SQL NULL is ``\\N``.
Fields are separated by a tab (``mysqldump --tab``, the default) or by whatever ``FIELDS
TERMINATED BY`` said (a comma, usually with ``ENCLOSED BY '"'``). Read as CSV, such a file
loses every row whose ``other`` column holds a quote, and Moodle's event names arrive with
doubled backslashes.

Pure functions over text: ``read_mysql`` gives the same records ``read_csv`` does (line,
exact text, fields), with NULL as the field ``\\N`` the adapters already read as NULL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from producers.outcome import CsvRecord

NULL = "\\N"
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
# A record may continue over escaped or quoted newlines; beyond this it is a broken file.
MAX_RECORD_LINES = 1000
# Moodle's event class names as MySQL escapes them: \\core\\event\\user_loggedin.
_ESCAPED_EVENTNAME = re.compile(r"\\\\[a-z][a-z0-9_]*\\\\event\\\\[a-z0-9_]+")
# ...and as CSV writes them: \core\event\user_loggedin (a backslash not preceded by another).
_PLAIN_EVENTNAME = re.compile(r"(?<!\\)\\[a-z][a-z0-9_]*\\event\\[a-z0-9_]+")


class _Incomplete(Exception):
    """The record goes on in the next line (an open quote, or an escaped line end)."""


def looks_like_mysql(head: str) -> bool:
    """Whether the start of a file is MySQL's escaped text: more of its lines hold Moodle event
    names with doubled backslashes than with single ones.

    By the majority, not by the first such line: one CSV row whose event name was typed (or
    pasted) with doubled backslashes must not turn a whole file into MySQL text, where every
    CSV row would be unreadable.
    """
    escaped = plain = 0
    for line in head.splitlines():
        if _ESCAPED_EVENTNAME.search(line):
            escaped += 1
        elif _PLAIN_EVENTNAME.search(line):
            plain += 1
    return escaped > plain


def dialect_of(first_line: str) -> tuple[str, bool]:
    """``(delimiter, enclosed)`` from a file's first line.

    Tab when it has more tabs than commas (``mysqldump --tab``), else comma; enclosed when
    it starts with a quote (``ENCLOSED BY '"'`` quotes every field). In a file that is not
    enclosed a quote is an ordinary character, even at the start of a field.
    """
    return ("\t" if first_line.count("\t") > first_line.count(",") else ","), first_line.startswith('"')


def split_record(text: str, delimiter: str, enclosed: bool = True) -> list[str]:
    """The fields of one record (its text without the line end).

    Raises ``ValueError`` with the reason for malformed text, ``_Incomplete`` when the
    record continues on the next line.
    """
    fields: list[str] = []
    field: list[str] = []
    quoted = closed = is_null = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 == n:
                raise _Incomplete  # an escaped line end: the field holds a newline
            nxt = text[i + 1]
            if nxt == "N" and not field and not quoted and (i + 2 == n or text[i + 2] == delimiter):
                is_null = True
            else:
                field.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if closed and c != delimiter:
            raise ValueError(f"text after the closing quote of field {len(fields) + 1}")
        if c == '"' and enclosed and not quoted and not field and not closed and not is_null:
            quoted = True
        elif c == '"' and quoted:
            if i + 1 < n and text[i + 1] == '"':  # a doubled quote, as CSV writers do
                field.append('"')
                i += 1
            else:
                quoted, closed = False, True
        elif c == delimiter and not quoted:
            fields.append(NULL if is_null else "".join(field))
            field, closed, is_null = [], False, False
        else:
            field.append(c)
        i += 1
    if quoted:
        raise _Incomplete
    fields.append(NULL if is_null else "".join(field))
    return fields


def read_mysql(stream: IO[str], delimiter: str, enclosed: bool = True) -> Iterator[CsvRecord]:
    """Records of a MySQL text export with their first line number and exact text."""
    lines: list[str] = []
    first = 1
    for number, line in enumerate(stream, start=1):
        if not lines:
            first = number
        lines.append(line)
        text = "".join(lines)
        body = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
        try:
            fields = split_record(body, delimiter, enclosed)
        except _Incomplete:
            if len(lines) < MAX_RECORD_LINES:
                continue
            yield CsvRecord(first, text, None, f"a field is still open after {MAX_RECORD_LINES} lines")
        except ValueError as exc:
            yield CsvRecord(first, text, None, f"unreadable MySQL text: {exc}")
        else:
            if body:  # an empty line holds no record
                yield CsvRecord(first, text, fields)
        lines = []
    if lines:
        yield CsvRecord(first, "".join(lines), None, "the file ends inside a field (an open quote or a trailing backslash)")
