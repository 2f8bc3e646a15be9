"""Reading dead letters again through their adapters, after a fix (pure, but for the adapters' registry).

A record is dead-lettered with its adapter's name as ``source``, its exact bytes, and, when
it was one row of a file with a header, that header line (``context``), so it can be read
again on its own: after the adapter was fixed, or with the option its file needed (the
``--time-format`` of a Logs report, the ``--tz`` of a register). Records the HTTP endpoint
refused are read by the adapter of their kind (``ingest-xapi`` by ``xapi``). The engine's
own dead letters are activity events it refused: replaying re-publishes them unchanged (the
shell does that), for after an engine fix.

What cannot be read again is said, not guessed: a source with no adapter, a row whose file
had a header that was not kept (records dead-lettered before LEAP kept headers), MySQL-escaped
dump rows (their dialect is the file's), events an adapter made from a whole file
(absences, summed viewings).
"""

from __future__ import annotations

import csv
import io

from producers.outcome import CsvRecord, Outcome
from producers.readers import delimiter_of
from producers.sources import NotThisFormat, Options, adapters

INGEST_KINDS = {"ingest-xapi": "xapi", "ingest-caliper": "caliper", "ingest-events": "events"}
ENGINE = "engine"


def adapter_for(source: str) -> str | None:
    """The adapter that reads a dead letter of ``source`` again, if any."""
    name = INGEST_KINDS.get(source, source)
    return name if name in adapters() else None


def _line(position: str) -> int:
    number = position.rsplit(" ", 1)[-1]
    return int(number) if number.isdigit() else 0


def as_record(raw: bytes, position: str, delimiter: str | None = None) -> CsvRecord:
    """A dead letter's bytes as the record a reader made of them: JSON as a line, a binary record as bytes, else a table row."""
    text = raw.decode("utf-8", errors="surrogateescape")
    line = _line(position)
    if text.lstrip().startswith(("{", "[")):
        return CsvRecord(line, text, None, data=raw)
    if position.startswith("record "):
        return CsvRecord(line, text, None, unit="record", data=raw)
    try:
        fields = next(csv.reader(io.StringIO(text), delimiter=delimiter or delimiter_of(text.split("\n", 1)[0])), [])
    except csv.Error as exc:
        return CsvRecord(line, text, None, error=f"unreadable CSV: {exc}", data=raw)
    return CsvRecord(line, text, fields, data=raw)


def reread(letter: dict, options: Options) -> Outcome | str:
    """What a dead letter's adapter makes of it now, or why it cannot be read again."""
    source, position = letter["source"], letter["position"]
    name = adapter_for(source)
    if name is None:
        return f"no adapter reads {source} records"
    if position in ("file", "body") or "timetable" in position or "(" in position:
        return "not one record of its own (a whole file or request, or made from several)"
    adapter = adapters()[name](options, letter["location"])
    context = letter.get("context")
    try:
        if context:
            header = as_record(context, "line 1")
            if header.fields is None or not adapter.start(header):
                return f"its kept header is not a {name} header"
            record = as_record(letter["raw"], position, delimiter_of(context.decode("utf-8", "replace").split("\n", 1)[0]))
        else:
            record = as_record(letter["raw"], position)
            if not record.error and adapter.start(record):
                return "it needs its file's header, which was not kept with it"
    except NotThisFormat as exc:
        return f"{name} cannot read it on its own: {exc}"
    if record.error:
        return record.error
    return adapter.parse(record)
