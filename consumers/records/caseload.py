"""A member of staff's caseload, and a student's engagement history, for the portal's pages.

Both are guarded reads: each student shown is one the actor may see (``view_status``), and
each is written to that student's access log, so a student sees every tutor's look at the
caseload that listed them. Sorting is a pure function, tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import psycopg

from consumers.records.guard import allow, log_allowed, relations_for
from leap.access import Actor, decide
from leap.policy import BAND_ORDER

# Days of history behind each caseload row's trend line, and on a student's chart (12 weeks).
TREND_DAYS = 28
HISTORY_DAYS = 84

_CANDIDATES = """
SELECT s.student_id, s.programme, s.year_of_study, s.mode_of_study, s.status, s.personal_tutor, s.department,
       c.band, c.score, c.days_since_last_activity, c.day,
       (SELECT count(*) FROM alerts a WHERE a.student_id = s.student_id AND a.closed_at IS NULL AND a.status IN ('new', 'acknowledged')) AS open_alerts
FROM students s LEFT JOIN student_current c USING (student_id)
WHERE s.personal_tutor = %(me)s OR s.department = ANY(%(departments)s) OR s.programme = ANY(%(programmes)s)
   OR s.student_id IN (SELECT student_id FROM referrals WHERE service = %(service)s AND consent_to_contact AND status <> 'closed')
"""


def caseload_order(rows: Iterable[dict]) -> list[dict]:
    """Students needing attention first: lowest band, then longest without activity, then id.

    No data (never scored) comes before Very low: nobody has seen that student engage.
    Unknown days since activity (never active) count as the longest.
    """
    rank = {band: i + 1 for i, band in enumerate(BAND_ORDER)}

    def key(row: dict) -> tuple:
        days = row.get("days_since_last_activity")
        return (rank.get(row.get("band") or "", 0), -(days if days is not None else 10**6), row["student_id"])

    return sorted(rows, key=key)


def caseload(conn: psycopg.Connection, actor: Actor) -> list[dict]:
    """The students ``actor`` looks after (tutees, department or programme, referred), most in need first.

    Each row has the roster fields, band, score, days since last activity, open alerts and
    ``trend`` (daily scores of the last ``TREND_DAYS`` days, oldest first, None where unscored).
    """
    params = {
        "me": actor.user_id,
        "departments": sorted(actor.departments),
        "programmes": sorted(actor.programmes),
        "service": actor.service,
    }
    with conn.transaction():
        rows = conn.execute(_CANDIDATES, params).fetchall()
        relations = relations_for(conn, (r["student_id"] for r in rows))
        shown = []
        for row in rows:
            decision = decide(actor, "view_status", relations[row["student_id"]])
            if decision.allowed and decision.role != "admin":  # an administrator has no caseload
                log_allowed(conn, actor, decision, "view_status", row["student_id"], "caseload")
                shown.append(row)
        trends = _trends(conn, [r["student_id"] for r in shown], TREND_DAYS)
    for row in shown:
        row["trend"] = trends.get(row["student_id"], [])
    return caseload_order(shown)


def _trends(conn: psycopg.Connection, student_ids: list[str], days: int) -> dict[str, list[float | None]]:
    """Each student's daily scores over the last ``days`` days of history, oldest first (None: no summary)."""
    last = conn.execute("SELECT max(day) AS day FROM engagement_history").fetchone()["day"]
    if last is None or not student_ids:
        return {}
    found: dict[str, dict[date, float | None]] = {}
    for r in conn.execute(
        "SELECT student_id, day, score FROM engagement_history WHERE student_id = ANY(%s) AND day > %s",
        (student_ids, last - timedelta(days=days)),
    ):
        found.setdefault(r["student_id"], {})[r["day"]] = r["score"]
    return {sid: [scores.get(last - timedelta(days=n)) for n in range(days - 1, -1, -1)] for sid, scores in found.items()}


def history_of(conn: psycopg.Connection, actor: Actor, student_id: str, days: int = HISTORY_DAYS) -> list[dict]:
    """The student's end-of-day score and band for their last ``days`` days of history, oldest first."""
    decision = allow(conn, actor, "view_status", student_id, record_type="history")
    with conn.transaction():
        rows = conn.execute(
            """SELECT day, score, band, days_since_last_activity FROM engagement_history
               WHERE student_id = %s AND day > (SELECT max(day) FROM engagement_history WHERE student_id = %s) - %s ORDER BY day""",
            (student_id, student_id, days),
        ).fetchall()
        log_allowed(conn, actor, decision, "view_status", student_id, "history")
    return rows
