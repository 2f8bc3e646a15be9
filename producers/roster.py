"""The roster: students' programme, year, mode of study, tutor and status, from a CSV export.

Columns (header required, any order, extra columns ignored):
``student_id, programme, year_of_study, mode_of_study, personal_tutor_id, department, status``.
``mode_of_study`` is ``full_time``/``part_time`` (also ``FT``/``PT``, ``full-time``...);
``status`` one of active, interrupted, withdrawn, placement, year_abroad, completed.
A student's cohort is their programme and year: ``BSC-CS/Y2``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from leap.vocabulary import UNASSIGNED, cohort_of
from producers.outcome import Reject

__all__ = ["COLUMNS", "REQUIRED", "STATUSES", "UNASSIGNED", "check_header", "cohort_of", "load_roster_file", "parse_roster_row"]

COLUMNS = ("student_id", "programme", "year_of_study", "mode_of_study", "personal_tutor_id", "department", "status")
REQUIRED = ("student_id", "programme", "year_of_study", "mode_of_study", "status")
STATUSES = ("active", "interrupted", "withdrawn", "placement", "year_abroad", "completed")
_MODES = {
    "full_time": "full_time", "full-time": "full_time", "ft": "full_time", "full time": "full_time",
    "part_time": "part_time", "part-time": "part_time", "pt": "part_time", "part time": "part_time",
}  # fmt: skip

def check_header(header: list[str]) -> list[str]:
    """The normalised header; ``ValueError`` naming missing columns."""
    names = [h.strip().lstrip("\ufeff").lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ValueError(f"roster header lacks {', '.join(missing)}; columns are {', '.join(COLUMNS)}")
    return names


def parse_roster_row(header: list[str], fields: list[str]) -> dict | Reject:
    """One roster row to a ``roster_entry`` record, or a rejection with the reason."""
    if len(fields) != len(header):
        return Reject(f"expected {len(header)} columns, found {len(fields)}")
    row = {name: value.strip() for name, value in zip(header, fields)}
    student = row.get("student_id", "")
    if not student:
        return Reject("student_id is empty")
    if not row.get("programme"):
        return Reject("programme is empty")
    try:
        year = int(row["year_of_study"])
    except ValueError:
        return Reject(f"year_of_study is not a number: {row['year_of_study'][:20]!r}")
    if not 0 <= year <= 10:
        return Reject(f"year_of_study {year} is out of range 0-10")
    mode = _MODES.get(row["mode_of_study"].lower())
    if mode is None:
        return Reject(f"mode_of_study {row['mode_of_study'][:20]!r} is not full_time or part_time")
    status = row["status"].lower()
    if status not in STATUSES:
        return Reject(f"status {status[:20]!r} is not one of {', '.join(STATUSES)}")
    return {
        "student_id": student,
        "programme": row["programme"],
        "year_of_study": year,
        "mode_of_study": mode,
        "personal_tutor_id": row.get("personal_tutor_id") or None,
        "department": row.get("department") or None,
        "status": status,
    }


def load_roster_file(path: Path) -> dict[str, dict]:
    """A roster CSV as {student_id: entry}; raises ``ValueError`` on a bad header or row."""
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.reader(stream)
        header = check_header(next(reader))
        roster: dict[str, dict] = {}
        for line, fields in enumerate(reader, start=2):
            entry = parse_roster_row(header, fields)
            if not isinstance(entry, dict):
                raise ValueError(f"{path}:{line}: {entry.reason}")
            roster[entry["student_id"]] = entry
    return roster
