"""Reading and recording what staff see and do, each access written to the audit log."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from consumers.exemptions import ExemptionRow


def audit(conn: psycopg.Connection, actor: str, role: str, action: str, purpose: str, *, student_id: str | None = None, record_type: str | None = None, record_id: str | None = None) -> None:
    """Append one entry to the access log (it cannot be updated or deleted)."""
    conn.execute(
        "INSERT INTO access_log (actor, role, action, student_id, record_type, record_id, purpose) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (actor, role, action, student_id, record_type, record_id, purpose),
    )


def add_exemptions(conn: psycopg.Connection, rows: Iterable[ExemptionRow], recorded_by: str) -> int:
    """Store exemptions (one already stored is not stored twice); return how many were new."""
    added = 0
    for row in rows:
        cur = conn.execute(
            """INSERT INTO exemptions (student_id, starts, ends, reason, note, recorded_by) VALUES (%s, %s, %s, %s, %s, %s)
               ON CONFLICT (student_id, starts, ends, reason) DO NOTHING""",
            (row.student_id, row.starts, row.ends, row.reason, row.note, recorded_by),
        )
        added += cur.rowcount
    return added


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
