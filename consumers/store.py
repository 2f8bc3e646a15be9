"""PostgreSQL writes and reads of the consumer, one transaction per batch.

Idempotence. Each partition's next offset is stored in ``consumer_positions`` in the same
transaction as the rows a batch wrote, and messages below it are skipped: a batch that is
redelivered after a crash (its Kafka offsets not yet committed) changes nothing. Rows also
carry the engine's deterministic ids (band changes) and alerts are unique per (student,
kind, episode), so even a lost position could not duplicate them.

Live state (Redis) and deliveries (email, webhook) are driven from outbox columns here
(``student_current.live_synced``, ``alerts.live_published``, ``alert_deliveries``), so what
PostgreSQL has committed always reaches them, even across a crash between the two.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timezone

import psycopg
from psycopg.types.json import Jsonb

from consumers.core import to_date
from consumers.rules import DROP, Decision, Exemption, Postponed, Route, Student, alert_id, postpones

__all__ = ["to_date"]  # re-exported: the engine's day numbers as dates


def _ts(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, timezone.utc)


def _json(value: dict | None) -> Jsonb:
    return Jsonb(value or {})


# ------------------------------------------------------------------ positions


def positions(conn: psycopg.Connection, topic_partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Next offset to apply per (topic, partition), locked for this transaction."""
    pairs = list(topic_partitions)
    if not pairs:
        return {}
    rows = conn.execute(
        "SELECT topic, partition, next_offset FROM consumer_positions WHERE (topic, partition) IN (SELECT * FROM unnest(%s::text[], %s::int[])) FOR UPDATE",
        ([t for t, _ in pairs], [p for _, p in pairs]),
    ).fetchall()
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


def save_positions(conn: psycopg.Connection, next_offsets: Mapping[tuple[str, int], int]) -> None:
    """Record the next offset to apply per (topic, partition)."""
    conn.cursor().executemany(
        "INSERT INTO consumer_positions (topic, partition, next_offset) VALUES (%s, %s, %s) "
        "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = GREATEST(consumer_positions.next_offset, EXCLUDED.next_offset)",
        [(t, p, o) for (t, p), o in next_offsets.items()],
    )


def all_positions(conn: psycopg.Connection) -> dict[tuple[str, int], int]:
    """Every stored position (where to resume reading)."""
    return {(r["topic"], r["partition"]): r["next_offset"] for r in conn.execute("SELECT * FROM consumer_positions")}


# ------------------------------------------------------------------ engine outputs


def upsert_roster(conn: psycopg.Connection, entries: Iterable[dict], today: date | None = None) -> None:
    """Roster entries as last published (newest wins within a batch: callers pass them in order).

    A student's ``first_rostered`` is ``today`` (default: the database's) when first stored, never changed after.
    """
    conn.cursor().executemany(
        """INSERT INTO students (student_id, programme, year_of_study, mode_of_study, personal_tutor, department, status, updated_at, first_rostered)
           VALUES (%(student_id)s, %(programme)s, %(year_of_study)s, %(mode_of_study)s, %(personal_tutor)s, %(department)s, %(status)s, now(),
                   COALESCE(%(today)s::date, current_date))
           ON CONFLICT (student_id) DO UPDATE SET programme = EXCLUDED.programme, year_of_study = EXCLUDED.year_of_study,
             mode_of_study = EXCLUDED.mode_of_study, personal_tutor = EXCLUDED.personal_tutor, department = EXCLUDED.department,
             status = EXCLUDED.status, updated_at = now()""",
        [
            {
                "student_id": e["student_id"],
                "programme": e.get("programme"),
                "year_of_study": e.get("year_of_study"),
                "mode_of_study": e.get("mode_of_study"),
                "personal_tutor": e.get("personal_tutor_id"),
                "department": e.get("department"),
                "status": e.get("status") or "active",
                "today": today,
            }
            for e in entries
        ],
    )


def remove_from_roster(conn: psycopg.Connection, ids: Iterable[str]) -> None:
    """Students removed from the roster (a tombstone on leap.roster): kept, marked ``not_on_roster``."""
    conn.execute("UPDATE students SET status = 'not_on_roster', updated_at = now() WHERE student_id = ANY(%s)", (list(ids),))


def upsert_states(conn: psycopg.Connection, states: Iterable[dict]) -> None:
    """Students' current states; an older state never replaces a newer one."""
    conn.cursor().executemany(
        """INSERT INTO student_current (student_id, cohort, score, band, days_since_last_activity, day, explanation, updated_at, input_offset,
             term_score, term_active_days, term_days, live_synced)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, false)
           ON CONFLICT (student_id) DO UPDATE SET cohort = EXCLUDED.cohort, score = EXCLUDED.score, band = EXCLUDED.band,
             days_since_last_activity = EXCLUDED.days_since_last_activity, day = EXCLUDED.day, explanation = EXCLUDED.explanation,
             updated_at = EXCLUDED.updated_at, input_offset = EXCLUDED.input_offset, term_score = EXCLUDED.term_score,
             term_active_days = EXCLUDED.term_active_days, term_days = EXCLUDED.term_days, live_synced = false
           WHERE (student_current.day, student_current.updated_at) <= (EXCLUDED.day, EXCLUDED.updated_at)""",
        [
            (
                s["student_id"], s["cohort"], s["score"], s["band"], s["days_since_last_activity"], to_date(s["day"]), _json(s["explanation"]),
                _ts(s["updated_at"]), s.get("input_offset"), s.get("term_score"), s.get("term_active_days"), s.get("term_days"),
            )  # fmt: skip
            for s in states
        ],
    )


def upsert_summaries(conn: psycopg.Connection, summaries: Iterable[dict]) -> None:
    """End-of-day summaries (a day summarised again, after late events, is replaced)."""
    conn.cursor().executemany(
        """INSERT INTO engagement_history (student_id, day, cohort, score, band, days_since_last_activity, term_score, term_active_days, term_days)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (student_id, day) DO UPDATE SET cohort = EXCLUDED.cohort, score = EXCLUDED.score, band = EXCLUDED.band,
             days_since_last_activity = EXCLUDED.days_since_last_activity, term_score = EXCLUDED.term_score,
             term_active_days = EXCLUDED.term_active_days, term_days = EXCLUDED.term_days""",
        [
            (s["student_id"], to_date(s["day"]), s["cohort"], s["score"], s["band"], s["days_since_last_activity"], s.get("term_score"), s.get("term_active_days"), s.get("term_days"))
            for s in summaries
        ],
    )


def stored_changes(conn: psycopg.Connection, ids: Iterable[str]) -> frozenset[str]:
    """Which of these band change ids are stored already (an id that is not a UUID never is)."""
    wanted = {}
    for text in ids:
        try:
            wanted[uuid.UUID(text)] = text
        except (ValueError, AttributeError, TypeError):
            continue  # PostgreSQL will refuse it on insert: it is dead-lettered there
    if not wanted:
        return frozenset()
    rows = conn.execute("SELECT change_id FROM band_changes WHERE change_id = ANY(%s)", (list(wanted),))
    return frozenset(wanted[r["change_id"]] for r in rows)


def insert_band_change(conn: psycopg.Connection, change: dict, day: date | None) -> bool:
    """Store a band change; False if it was already stored (same deterministic id)."""
    row = conn.execute(
        """INSERT INTO band_changes (change_id, student_id, cohort, previous_band, new_band, score, day, cause, days_since_last_activity,
             explanation, trigger_event_id, trigger_time, as_of, input_offset)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (change_id) DO NOTHING RETURNING change_id""",
        (
            change["change_id"], change["student_id"], change["cohort"], change["previous_band"], change["new_band"], change["score"], day,
            change["cause"], change["days_since_last_activity"], _json(change["explanation"]), change.get("trigger_event_id"),
            _ts(change.get("trigger_time")), _ts(change["as_of"]), change.get("input_offset"),
        ),
    ).fetchone()
    return row is not None


def add_volumes(conn: psycopg.Connection, counts: Mapping[tuple[str, date], int]) -> None:
    """Add events per (source, day) for the outage guard."""
    conn.cursor().executemany(
        "INSERT INTO source_volumes (source, day, events) VALUES (%s, %s, %s) ON CONFLICT (source, day) DO UPDATE SET events = source_volumes.events + EXCLUDED.events",
        [(s, d, n) for (s, d), n in counts.items()],
    )


def volumes_since(conn: psycopg.Connection, first: date) -> dict[tuple[str, date], int]:
    """Events per (source, day) from ``first`` on."""
    return {(r["source"], r["day"]): r["events"] for r in conn.execute("SELECT source, day, events FROM source_volumes WHERE day >= %s", (first,))}


def save_arrivals(conn: psycopg.Connection, arrivals: Mapping[str, float]) -> None:
    """Each source's latest arrival (Unix seconds); an older one never replaces a newer one."""
    conn.cursor().executemany(
        "INSERT INTO source_arrivals (source, last_arrival) VALUES (%s, %s) "
        "ON CONFLICT (source) DO UPDATE SET last_arrival = GREATEST(source_arrivals.last_arrival, EXCLUDED.last_arrival)",
        [(source, datetime.fromtimestamp(at, timezone.utc)) for source, at in arrivals.items()],
    )


def last_arrivals(conn: psycopg.Connection) -> dict[str, float]:
    """Each source's latest arrival (Unix seconds)."""
    return {r["source"]: r["last_arrival"].timestamp() for r in conn.execute("SELECT source, last_arrival FROM source_arrivals")}


# ------------------------------------------------------------------ alert context


def students(conn: psycopg.Connection, ids: Iterable[str]) -> dict[str, Student]:
    """Roster facts of these students (absent: not on the roster)."""
    rows = conn.execute("SELECT student_id, status, personal_tutor, department, first_rostered FROM students WHERE student_id = ANY(%s)", (list(ids),))
    return {r["student_id"]: Student(r["student_id"], r["status"], r["personal_tutor"], r["department"], r["first_rostered"]) for r in rows}


def exemptions(conn: psycopg.Connection, ids: Iterable[str]) -> dict[str, tuple[Exemption, ...]]:
    """Each student's exemptions."""
    found: dict[str, list[Exemption]] = {}
    for r in conn.execute("SELECT student_id, starts, ends, reason FROM exemptions WHERE student_id = ANY(%s)", (list(ids),)):
        found.setdefault(r["student_id"], []).append(Exemption(r["starts"], r["ends"], r["reason"]))
    return {k: tuple(v) for k, v in found.items()}


def open_episodes(conn: psycopg.Connection, ids: Iterable[str]) -> dict[tuple[str, str], str]:
    """(student, kind) -> the episode of their open alert."""
    rows = conn.execute("SELECT student_id, kind, episode FROM alerts WHERE closed_at IS NULL AND student_id = ANY(%s)", (list(ids),))
    return {(r["student_id"], r["kind"]): r["episode"] for r in rows}


def postponed_drops(conn: psycopg.Connection, ids: Iterable[str]) -> dict[str, Postponed]:
    """Student -> their latest drop suppressed in a break or an exemption, not yet revisited."""
    rows = conn.execute(
        """SELECT DISTINCT ON (student_id) student_id, episode, day FROM alert_suppressions
           WHERE postponed AND kind = %s AND student_id = ANY(%s) ORDER BY student_id, day DESC, decided_at DESC""",
        (DROP, list(ids)),
    )
    return {r["student_id"]: Postponed(r["episode"], r["day"]) for r in rows}


def _settle_postponed(conn: psycopg.Connection, student_id: str, how: str) -> None:
    conn.execute(
        "UPDATE alert_suppressions SET postponed = false, resolved = %s WHERE student_id = %s AND kind = %s AND postponed",
        (how, student_id, DROP),
    )


# ------------------------------------------------------------------ alerts


def record_decision(
    conn: psycopg.Connection,
    student_id: str,
    decision: Decision,
    day: date,
    route: Route,
    facts: Mapping,
    channels: Iterable[tuple[str, str]],
) -> str | None:
    """Apply a rule's decision; return the new alert's id when one was raised or held.

    ``facts``: band, score, days_since_last_activity, explanation (dict), trigger_change_id.
    ``channels``: (channel, target) deliveries to queue when the alert is raised.
    """
    if decision.action == "suppress":
        conn.execute(
            """INSERT INTO alert_suppressions (student_id, kind, episode, day, reason, postponed) VALUES (%s, %s, %s, %s, %s, %s)
               ON CONFLICT (student_id, kind, episode) DO UPDATE SET day = EXCLUDED.day, reason = EXCLUDED.reason, decided_at = now(),
                 postponed = alert_suppressions.postponed OR EXCLUDED.postponed""",
            (student_id, decision.kind, decision.episode, day, decision.reason, postpones(decision)),
        )
        return None
    if decision.action == "resolve":
        _settle_postponed(conn, student_id, f"{day.isoformat()}: {decision.reason}")
        return None
    if decision.action == "close":
        conn.execute(
            # A held alert whose student recovered is never sent.
            """UPDATE alerts SET closed_at = now(), closed_reason = %s, status = CASE WHEN status = 'held' THEN 'dropped' ELSE status END
               WHERE student_id = %s AND kind = %s AND episode = %s AND closed_at IS NULL""",
            (decision.reason, student_id, decision.kind, decision.episode),
        )
        return None
    if decision.action not in ("raise", "hold"):
        return None
    new_id = alert_id(student_id, decision.kind, decision.episode)
    raised = decision.action == "raise"
    row = conn.execute(
        """INSERT INTO alerts (alert_id, student_id, kind, episode, status, recipient, recipient_role, day, band, score,
             days_since_last_activity, reason, explanation, trigger_change_id, held_for, raised_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END)
           ON CONFLICT DO NOTHING RETURNING alert_id""",
        (
            new_id, student_id, decision.kind, decision.episode, "new" if raised else "held", route.recipient, route.role, day,
            facts.get("band"), facts.get("score"), facts.get("days_since_last_activity"), decision.reason, _json(facts.get("explanation")),
            facts.get("trigger_change_id"), list(decision.held_for), raised,
        ),
    ).fetchone()
    if decision.kind == DROP:
        # A drop alert (new, or this episode's already) supersedes any postponed one.
        _settle_postponed(conn, student_id, f"{day.isoformat()}: alerted ({decision.episode})")
    if row is None:
        return None  # this episode (or another open one of this kind) already has its alert
    if raised:
        queue_deliveries(conn, new_id, channels)
    return new_id


def queue_deliveries(conn: psycopg.Connection, alert: str, channels: Iterable[tuple[str, str]]) -> None:
    """Queue an alert's email/webhook deliveries (sent after the transaction commits)."""
    conn.cursor().executemany(
        "INSERT INTO alert_deliveries (alert_id, channel, target) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        [(alert, channel, target) for channel, target in channels],
    )


def held_alerts(conn: psycopg.Connection) -> list[dict]:
    """Held alerts with the student's current state (if any)."""
    return conn.execute(
        """SELECT a.alert_id, a.student_id, a.kind, a.day, a.held_for, a.recipient, c.band AS current_band,
                  c.days_since_last_activity AS current_days_since, c.day AS current_day, c.input_offset AS current_offset
           FROM alerts a LEFT JOIN student_current c USING (student_id) WHERE a.status = 'held' FOR UPDATE OF a"""
    ).fetchall()


def release(conn: psycopg.Connection, alert: str, channels: Iterable[tuple[str, str]]) -> None:
    """A held alert, confirmed: raise it now."""
    conn.execute("UPDATE alerts SET status = 'new', raised_at = now() WHERE alert_id = %s AND status = 'held'", (alert,))
    queue_deliveries(conn, alert, channels)


def drop(conn: psycopg.Connection, alert: str, reason: str) -> None:
    """A held alert the outage explained: never sent; its episode ends."""
    conn.execute(
        "UPDATE alerts SET status = 'dropped', closed_at = now(), closed_reason = %s, status_at = now(), status_by = 'leap' WHERE alert_id = %s AND status = 'held'",
        (reason, alert),
    )


# ------------------------------------------------------------------ outbox for live state


def unsynced_states(conn: psycopg.Connection, limit: int = 5000) -> list[dict]:
    """Current states not yet copied to Redis."""
    return conn.execute(
        "SELECT student_id, cohort, score, band, days_since_last_activity, day, explanation, updated_at FROM student_current WHERE NOT live_synced LIMIT %s",
        (limit,),
    ).fetchall()


def mark_synced(conn: psycopg.Connection, states: Iterable[dict]) -> None:
    """Mark states copied to Redis (unless they changed again meanwhile)."""
    conn.cursor().executemany(
        "UPDATE student_current SET live_synced = true WHERE student_id = %s AND updated_at = %s",
        [(s["student_id"], s["updated_at"]) for s in states],
    )


def unpublished_alerts(conn: psycopg.Connection, limit: int = 1000) -> list[dict]:
    """Raised alerts not yet on their recipient's Redis stream."""
    return conn.execute(
        """SELECT alert_id, student_id, kind, recipient, recipient_role, day, band, score, days_since_last_activity, reason, raised_at
           FROM alerts WHERE raised_at IS NOT NULL AND NOT live_published ORDER BY raised_at LIMIT %s""",
        (limit,),
    ).fetchall()


def mark_published(conn: psycopg.Connection, alerts: Iterable[str]) -> None:
    """Mark alerts put on their recipient's Redis stream."""
    conn.execute("UPDATE alerts SET live_published = true WHERE alert_id = ANY(%s)", (list(alerts),))
