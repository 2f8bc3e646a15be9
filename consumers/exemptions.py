"""Exemptions CSV: ``student,from,to,reason[,note]`` -> validated rows, or errors naming the line.

Reasons (as at Leeds): authorised_absence (incl. fieldwork), placement, dissertation,
interruption_of_studies, withdrawn. Dates are ISO (YYYY-MM-DD), both ends included.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

REASONS = ("authorised_absence", "placement", "dissertation", "interruption_of_studies", "withdrawn")
COLUMNS = ("student", "from", "to", "reason")


@dataclass(frozen=True)
class ExemptionRow:
    """One valid exemption."""

    student_id: str
    starts: date
    ends: date
    reason: str
    note: str | None = None


def parse_exemptions(text: str) -> tuple[list[ExemptionRow], list[str]]:
    """Parse the CSV; return the valid rows and one message per invalid line."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        return [], [f"line 1: missing column(s) {', '.join(missing)} (expected {','.join(COLUMNS)}[,note])"]
    rows, errors = [], []
    for line, raw in enumerate(reader, start=2):
        student = (raw.get("student") or "").strip()
        reason = (raw.get("reason") or "").strip().lower().replace(" ", "_")
        try:
            starts = date.fromisoformat((raw.get("from") or "").strip())
            ends = date.fromisoformat((raw.get("to") or "").strip())
        except ValueError:
            errors.append(f"line {line}: dates must be YYYY-MM-DD (got {raw.get('from')!r}, {raw.get('to')!r})")
            continue
        if not student:
            errors.append(f"line {line}: no student id")
        elif reason not in REASONS:
            errors.append(f"line {line}: reason {raw.get('reason')!r} is not one of {', '.join(REASONS)}")
        elif ends < starts:
            errors.append(f"line {line}: ends {ends} before it starts {starts}")
        else:
            rows.append(ExemptionRow(student, starts, ends, reason, (raw.get("note") or "").strip() or None))
    return rows, errors
