"""Reading a student's records: their status, whole record, alerts and access log.

The guarded functions (taking an ``Actor``) ask ``decide`` through
:func:`consumers.records.guard.allow` and log the read in the same transaction; the plain
ones below them are their queries, also used by operators' commands.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from consumers.records.guard import allow, log_allowed, relations_for
from leap.access import Actor, decide


def student_status(conn: psycopg.Connection, student_id: str) -> dict | None:
    """A student's roster entry, current state, open alerts and exemptions (None if unknown)."""
    roster = conn.execute("SELECT * FROM students WHERE student_id = %s", (student_id,)).fetchone()
    current = conn.execute(
        "SELECT cohort, score, band, days_since_last_activity, day, explanation, updated_at FROM student_current WHERE student_id = %s", (student_id,)
    ).fetchone()
    if roster is None and current is None:
        return None
    alerts = conn.execute(
        """SELECT alert_id, kind, status, recipient, day, band, reason, held_for, raised_at FROM alerts
           WHERE student_id = %s AND closed_at IS NULL ORDER BY created_at""",
        (student_id,),
    ).fetchall()
    exemptions = conn.execute("SELECT starts, ends, reason, note FROM exemptions WHERE student_id = %s ORDER BY starts", (student_id,)).fetchall()
    return {"student_id": student_id, "roster": roster, "current": current, "open_alerts": alerts, "exemptions": exemptions}


def list_alerts(conn: psycopg.Connection, recipient: str | None = None, statuses: Iterable[str] = ("new", "acknowledged", "held")) -> list[dict]:
    """Alerts (by default the ones needing attention), newest first, optionally for one recipient."""
    return conn.execute(
        """SELECT alert_id, student_id, kind, status, recipient, recipient_role, day, band, score, days_since_last_activity, reason, held_for, raised_at
           FROM alerts WHERE status = ANY(%s) AND (%s::text IS NULL OR recipient = %s) ORDER BY day DESC, student_id""",
        (list(statuses), recipient, recipient),
    ).fetchall()


def alert_summary(conn: psycopg.Connection) -> list[dict]:
    """Alerts by kind and status, and suppressions by kind (counts only)."""
    rows = conn.execute("SELECT kind, status, count(*) AS n FROM alerts GROUP BY kind, status ORDER BY kind, status").fetchall()
    rows += conn.execute("SELECT kind, 'suppressed' AS status, count(*) AS n FROM alert_suppressions GROUP BY kind ORDER BY kind").fetchall()
    return rows


# ------------------------------------------------------------------ guarded reads

# Every section of a student's record, each row with an ``author`` and a ``created_at``.
_RECORD = {
    "notes": "SELECT note_id, author, created_at, body, alert_id FROM notes WHERE student_id = %s ORDER BY created_at, note_id",
    "objectives": """SELECT objective_id, author, created_at, description, due, status, progress, updated_by, updated_at
                     FROM objectives WHERE student_id = %s ORDER BY created_at, objective_id""",
    "referrals": """SELECT referral_id, author, created_at, service, reason, consent_to_contact, status, consent_by, consent_at, outcome, closed_by, closed_at
                    FROM referrals WHERE student_id = %s ORDER BY created_at, referral_id""",
    "exemptions": """SELECT exemption_id, recorded_by AS author, recorded_at AS created_at, starts, ends, reason, note
                     FROM exemptions WHERE student_id = %s ORDER BY recorded_at, exemption_id""",
    "alerts": """SELECT alert_id, 'leap' AS author, created_at, kind, status, recipient, day, band, reason, raised_at,
                        status_by, status_at, status_note, closed_at, closed_reason
                 FROM alerts WHERE student_id = %s ORDER BY created_at""",
    "data_queries": """SELECT query_id, raised_by AS author, created_at, record_type, record_id, description, status, resolution,
                              resolved_by, resolved_at, correction_event_id, activity_source, activity_at
                       FROM data_queries WHERE student_id = %s ORDER BY created_at, query_id""",
}


def student_record(conn: psycopg.Connection, actor: Actor, student_id: str, stated: str | None = None) -> dict:
    """Everything staff recorded about the student, section by section, each row with author and date."""
    decision = allow(conn, actor, "view_records", student_id, record_type="record")
    with conn.transaction():
        found = {"student_id": student_id, **{name: conn.execute(sql, (student_id,)).fetchall() for name, sql in _RECORD.items()}}
        log_allowed(conn, actor, decision, "view_records", student_id, "record", stated=stated)
    return found


def list_notes(conn: psycopg.Connection, actor: Actor, student_id: str) -> list[dict]:
    """The student's notes, oldest first."""
    decision = allow(conn, actor, "view_records", student_id, record_type="notes")
    with conn.transaction():
        rows = conn.execute(_RECORD["notes"], (student_id,)).fetchall()
        log_allowed(conn, actor, decision, "view_records", student_id, "notes")
    return rows


def status_of(conn: psycopg.Connection, actor: Actor, student_id: str, stated: str | None = None) -> dict | None:
    """The student's status (see :func:`student_status`), if ``actor`` may see it."""
    decision = allow(conn, actor, "view_status", student_id, record_type="student_status")
    with conn.transaction():
        found = student_status(conn, student_id)
        log_allowed(conn, actor, decision, "view_status", student_id, "student_status", stated=stated)
    if found is not None and decision.role == "support_service":
        # A service sees what it needs to help (docs/access.md): the band and how it was
        # worked out, not other staff's alerts or the reasons for an exemption.
        found = {**found, "open_alerts": [], "exemptions": []}
    return found


def access_log_of(conn: psycopg.Connection, actor: Actor, student_id: str) -> list[dict]:
    """Who looked at or changed the student's records, and who was refused, oldest first."""
    decision = allow(conn, actor, "view_access_log", student_id, record_type="access_log")
    with conn.transaction():
        rows = conn.execute(
            "SELECT at, actor, role, action, record_type, record_id, purpose, allowed FROM access_log WHERE student_id = %s ORDER BY at, access_id",
            (student_id,),
        ).fetchall()
        log_allowed(conn, actor, decision, "view_access_log", student_id, "access_log")
    return rows


def _visible(conn: psycopg.Connection, actor: Actor, rows: list[dict], record_type: str) -> list[dict]:
    """The rows about students ``actor`` may view the records of; each student shown is logged.

    A list is a filter, not a request about one student: the others are left out, not refused.
    """
    relations = relations_for(conn, (r["student_id"] for r in rows))
    decisions = {sid: decide(actor, "view_records", relation) for sid, relation in relations.items()}
    for sid, decision in decisions.items():
        if decision.allowed:
            log_allowed(conn, actor, decision, "view_records", sid, record_type)
    return [r for r in rows if decisions[r["student_id"]].allowed]


def alerts_for(conn: psycopg.Connection, actor: Actor, recipient: str | None = None, statuses: Iterable[str] = ("new", "acknowledged", "held")) -> list[dict]:
    """:func:`list_alerts`, only about students ``actor`` may view (each logged)."""
    with conn.transaction():
        return _visible(conn, actor, list_alerts(conn, recipient, statuses), "alerts")


def list_queries(conn: psycopg.Connection, actor: Actor, student_id: str | None = None, statuses: Iterable[str] = ("open",)) -> list[dict]:
    """Data queries in these statuses, of one student or of every student ``actor`` may view, oldest first."""
    decision = None if student_id is None else allow(conn, actor, "view_records", student_id, record_type="data_queries")
    with conn.transaction():
        rows = conn.execute(
            """SELECT query_id, student_id, raised_by AS author, created_at, record_type, record_id, description, status, resolution,
                      resolved_by, resolved_at, correction_event_id, activity_source, activity_at
               FROM data_queries WHERE status = ANY(%s) AND (%s::text IS NULL OR student_id = %s) ORDER BY created_at, query_id""",
            (list(statuses), student_id, student_id),
        ).fetchall()
        if decision is None:
            return _visible(conn, actor, rows, "data_queries")
        log_allowed(conn, actor, decision, "view_records", student_id, "data_queries")
        return rows


def referrals_of(conn: psycopg.Connection, actor: Actor, student_id: str) -> list[dict]:
    """The student's referrals ``actor`` may see: all of them, or a support service's own (``only_service``)."""
    decision = allow(conn, actor, "view_referrals", student_id, record_type="referrals")
    with conn.transaction():
        rows = conn.execute(_RECORD["referrals"], (student_id,)).fetchall()
        log_allowed(conn, actor, decision, "view_referrals", student_id, "referrals")
    return [r for r in rows if decision.covers_service(r["service"])]
