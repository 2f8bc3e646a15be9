"""A student's record and access log as plain text, for the command line (pure).

Text is printed exactly as stored, with no markup interpretation: a note's ``<script>`` or
``[bold]`` is shown as those characters.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo

SECTIONS = ("notes", "objectives", "referrals", "exemptions", "alerts", "data_queries")
_IDS = {"notes": "note_id", "objectives": "objective_id", "referrals": "referral_id", "exemptions": "exemption_id", "alerts": "alert_id", "data_queries": "query_id"}


def when(value: datetime | date | None, tz: tzinfo | None = None) -> str:
    """A timestamp to the minute in ``tz`` (a date as is; None as -)."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return (value.astimezone(tz) if tz is not None and value.tzinfo else value).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _indent(text: str) -> list[str]:
    return ["    " + line for line in text.splitlines() or [""]]


def _consent(row: dict) -> str:
    if row["consent_to_contact"] is None:
        return "consent not yet given or refused"
    return f"{'consents' if row['consent_to_contact'] else 'declines'} to be contacted ({row['consent_by']}, {when(row['consent_at'])})"


def _body(section: str, row: dict, tz: tzinfo | None) -> list[str]:
    """The lines under a row's header: the row's own text, verbatim."""
    if section == "notes":
        return _indent(row["body"]) + ([f"    (on alert {row['alert_id']})"] if row["alert_id"] else [])
    if section == "objectives":
        lines = [f"    [{row['status']}] due {when(row['due'])}"] + _indent(row["description"])
        if row["progress"]:
            lines += [f"    progress (updated by {row['updated_by']}, {when(row['updated_at'], tz)}):"] + ["  " + line for line in _indent(row["progress"])]
        return lines
    if section == "referrals":
        lines = [f"    to {row['service']} [{row['status']}]: {_consent(row)}"] + _indent(row["reason"])
        if row.get("closed_by"):
            lines.append(f"    closed by {row['closed_by']}, {when(row['closed_at'], tz)}:")
            lines += ["  " + line for line in _indent(row.get("outcome") or "")]
        return lines
    if section == "exemptions":
        return [f"    {row['reason']} {when(row['starts'])} to {when(row['ends'])}"] + (_indent(row["note"]) if row["note"] else [])
    if section == "alerts":
        lines = [f"    {row['kind']} on {when(row['day'])} for {row['recipient']} [{row['status']}]: {row['reason']}"]
        if row["status_by"]:
            lines.append(f"    {row['status']} by {row['status_by']}, {when(row['status_at'], tz)}" + (":" if row["status_note"] else ""))
            lines += ["  " + line for line in _indent(row["status_note"])] if row["status_note"] else []
        return lines
    lines = [f"    about {row['record_type']} {row['record_id']} [{row['status']}]"] + _indent(row["description"])
    if row["resolved_by"]:
        lines.append(f"    {row['status']} by {row['resolved_by']}, {when(row['resolved_at'], tz)}:")
        lines += ["  " + line for line in _indent(row["resolution"] or "")]
    return lines


def section_lines(section: str, rows: list[dict], tz: tzinfo | None = None) -> list[str]:
    """One section of a record (``SECTIONS``): a heading, then each entry with its id, date and author."""
    lines = [f"{section.replace('_', ' ')} ({len(rows)})" + (":" if rows else "")]
    for row in rows:
        lines.append(f"  #{row[_IDS[section]]} {when(row['created_at'], tz)} by {row['author']}")
        lines += _body(section, row, tz)
    return lines


def record_text(record: dict, tz: tzinfo | None = None) -> str:
    """The whole record, section by section."""
    lines = [f"Record of {record['student_id']}: everything staff recorded, all of it visible to the student."]
    for section in SECTIONS:
        lines += section_lines(section, record.get(section, []), tz)
    return "\n".join(lines)


def access_log_text(student_id: str, rows: list[dict], tz: tzinfo | None = None) -> str:
    """The access log, one line per access, refusals marked."""
    lines = [f"Access log of {student_id} ({len(rows)} entries)"]
    for r in rows:
        what = r["action"] + (f" {r['record_type']}" if r["record_type"] else "") + (f" {r['record_id']}" if r["record_id"] else "")
        lines.append(f"  {when(r['at'], tz)} {r['actor']} as {r['role']}: {what}" + (" REFUSED" if not r["allowed"] else "") + f" ({r['purpose']})")
    return "\n".join(lines)
