"""Reading files as records: text encodings, CSV and tab-separated tables, JSON lines.

Every adapter reads through here, so a file is decoded the same way whatever it holds: a
record carries its first line number and exact text, and a record that cannot be read
(broken quoting, bytes that are not text in the file's encoding) is an error record that
the adapter's caller rejects on its own while the rest of the file goes on.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from producers.outcome import CsvRecord

# Long PHP-serialized `other` values exceed csv's default 128 KiB field limit in real dumps.
csv.field_size_limit(64 * 1024 * 1024)


class ExportError(ValueError):
    """A file that cannot be read as the format asked for (the message names the file)."""


class _Tee:
    """Feeds lines to csv.reader while keeping the text of the record being read."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.buffer: list[str] = []

    def __iter__(self) -> Iterator[str]:
        for line in self._stream:
            self.buffer.append(line)
            yield line


def read_csv(stream: IO[str], *, delimiter: str = ",") -> Iterator[CsvRecord]:
    """CSV records with their line numbers and raw text; a record csv cannot parse is an error record."""
    tee = _Tee(stream)
    reader = csv.reader(tee, delimiter=delimiter, strict=True)
    line = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raw, tee.buffer = "".join(tee.buffer), []
            yield CsvRecord(line, raw, None, f"unreadable CSV: {exc}")
            line = reader.line_num + 1
            continue
        raw, tee.buffer = "".join(tee.buffer), []
        if _has_undecodable(raw):
            yield CsvRecord(line, raw, None, _undecodable(stream))
        elif fields or raw.strip():
            yield CsvRecord(line, raw, fields)
        line = reader.line_num + 1


def _has_undecodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def open_text(path: Path, encoding: str = "auto") -> IO[str]:
    """Open an export as text, newlines kept for csv; ``ExportError`` for an unknown encoding.

    ``auto`` reads UTF-16 when the file starts with its byte-order mark (Excel's "Unicode
    text") and UTF-8 otherwise, with or without a mark; any other codec Python knows may be
    named (a Moodle Logs report saved by Excel on Windows is cp1252). Bytes the encoding
    cannot decode are carried as surrogate escapes, so such a line is rejected on its own and
    its bytes reach the dead-letter topic.
    """
    if encoding == "auto":
        with path.open("rb") as head:
            encoding = "utf-16" if head.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ExportError(f"unknown encoding {encoding!r}: name one Python knows, such as utf-8, cp1252, latin-1 or utf-16") from None
    return io.open(path, encoding="utf-8-sig" if name == "utf-8" else name, errors="surrogateescape", newline="")


NOT_UTF8 = "not valid UTF-8 text"  # the rejection a file in another encoding gets line by line


def _undecodable(stream: IO[str]) -> str:
    """The rejection of a line the stream's encoding could not decode, naming the encoding."""
    name = codecs.lookup(getattr(stream, "encoding", None) or "utf-8").name
    return NOT_UTF8 if name in ("utf-8", "utf-8-sig") else f"not valid {name} text"


def raw_bytes(record: CsvRecord) -> bytes:
    """The exact bytes a record was read from."""
    if record.data is not None:
        return record.data
    return record.raw.encode("utf-8", errors="surrogateescape")


def read_lines(stream: IO[str]) -> Iterator[CsvRecord]:
    """Non-blank lines with their numbers (for JSON lines); bytes that are not UTF-8 are an error record."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        if _has_undecodable(line):
            yield CsvRecord(number, line, None, _undecodable(stream))
        else:
            yield CsvRecord(number, line, None)


def delimiter_of(first_line: str) -> str:
    """A table's delimiter from its first line: a tab when it has more tabs than commas, else a comma."""
    return "\t" if first_line.count("\t") > first_line.count(",") else ","


def read_table(stream: IO[str]) -> Iterator[CsvRecord]:
    """A CSV or tab-separated file's records (the delimiter told from the first line; see ``read_csv``)."""
    delimiter = ","
    if stream.seekable():
        delimiter = delimiter_of(stream.readline())
        stream.seek(0)
    return read_csv(stream, delimiter=delimiter)


def header_and_rows(stream: IO[str]) -> tuple[list[str], Iterator[CsvRecord]]:
    """A CSV's header cells and its remaining records; ``ValueError`` when there is no readable header."""
    records = read_csv(stream)
    first = next(records, None)
    if first is None or first.fields is None:
        raise ValueError("empty or unreadable header")
    return first.fields, records
