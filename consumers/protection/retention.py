"""The retention job: delete PostgreSQL rows past their period (``leap retention run``).

Periods come from the policy's ``[retention]`` section, cut-offs from
``consumers.protection.cutoffs``. One transaction: every step, and an access-log entry for
the run. Deleting only what is past its cut-off makes a second run the same day a no-op,
so it is safe to run daily. ``dry_run`` runs the same statements and rolls them back: the
counts are exactly what a real run would remove.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

import psycopg

from consumers.protection.cutoffs import cutoffs, local_midnight
from consumers.records.guard import audit, refuse
from leap.access import Actor
from leap.policy import Retention

_LEFT = "student_id IN (SELECT student_id FROM students WHERE status <> 'active' AND left_on < %(day)s)"
_CLOSED = "alert_id IN (SELECT alert_id FROM alerts WHERE closed_at < %(at)s)"

# (label, the rule whose cut-off applies, statement), in order: an alert's updates,
# deliveries and notes' links to it go before the alert.
STEPS: tuple[tuple[str, str, str], ...] = (
    ("notes", "notes", f"DELETE FROM notes WHERE {_LEFT}"),
    ("objectives", "objectives", f"DELETE FROM objectives WHERE {_LEFT}"),
    ("referrals", "referrals", f"DELETE FROM referrals WHERE {_LEFT}"),
    ("data_queries", "data_queries", f"DELETE FROM data_queries WHERE {_LEFT}"),
    ("exemptions", "exemptions", f"DELETE FROM exemptions WHERE {_LEFT}"),
    ("engagement_history", "engagement_history", "DELETE FROM engagement_history WHERE day < %(day)s"),
    ("band_changes", "band_changes", "DELETE FROM band_changes WHERE as_of < %(at)s"),
    ("alert_updates", "alerts", f"DELETE FROM alert_updates WHERE {_CLOSED}"),
    ("alert_deliveries", "alerts", f"DELETE FROM alert_deliveries WHERE {_CLOSED}"),
    ("notes unlinked from deleted alerts", "alerts", f"UPDATE notes SET alert_id = NULL WHERE {_CLOSED}"),
    ("alerts", "alerts", "DELETE FROM alerts WHERE closed_at < %(at)s"),
    ("alert_suppressions", "alert_suppressions", "DELETE FROM alert_suppressions WHERE decided_at < %(at)s AND NOT postponed"),
    ("access_log", "access_log", "DELETE FROM access_log WHERE at < %(at)s"),
)


@dataclass(frozen=True)
class Outcome:
    """One step of a run: what, the first day kept, and how many rows went (or would go)."""

    label: str
    keeps_from: date
    rows: int


def run_retention(conn: psycopg.Connection, actor: Actor, retention: Retention, today: date, tz: ZoneInfo, *, dry_run: bool = False) -> list[Outcome]:
    """Delete every row past its period as of ``today``; the count per step. Administrators only."""
    if not conn.autocommit:
        raise ValueError("run_retention needs an autocommit connection")
    if "admin" not in actor.roles:
        raise refuse(conn, actor, "retention", f"{actor.user_id} is not a LEAP administrator", record_type="retention")
    days = cutoffs(retention, today)
    outcomes = []
    with conn.transaction() as tx:
        # The access log refuses deletes except inside a transaction that says it is this job (migration 0006).
        conn.execute("SET LOCAL leap.retention = 'on'")
        for label, rule, sql in STEPS:
            day = days[rule]
            rows = conn.execute(sql, {"day": day, "at": local_midnight(day, tz)}).rowcount
            outcomes.append(Outcome(label, day, rows))
        if dry_run:
            raise psycopg.Rollback(tx)
        summary = ", ".join(f"{o.label} {o.rows}" for o in outcomes if o.rows) or "nothing past its period"
        audit(conn, actor.user_id, "admin", "retention", f"retention run as of {today.isoformat()}: {summary}", record_type="retention")
    return outcomes
