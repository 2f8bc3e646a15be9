"""Erasure: a student removed from PostgreSQL, Redis and the compacted topics, and the erasure recorded.

Order, so that a failure part-way leaves nothing hidden and running ``leap erase`` again
finishes the job: (1) ask the policy (``erase``: administrators, with a reason) and check
the student may be erased (``erasure_rules``); read the topics' retention (an unreachable
Kafka stops here, before anything changed); (2) one PostgreSQL transaction, holding the
erasure lock the consumer respects: delete every row about the student, pseudonymise their
access-log entries, insert the ``erasures`` record (the student named only by keyed hash)
and its own access-log entry; (3) Redis: their state, alert-stream entries and markers;
(4) Kafka: a tombstone for their key on ``roster`` and ``student-state``, and for each of
their identities (card number, Moodle user id, ...) on ``identities``; (5) the record's
counts completed (``completed_at``). From step 2 on, the consumer stores nothing more
about the student.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from consumers.live import Live
from consumers.protection import erasure_rules, markers
from consumers.protection.kafka_io import forget_identities, identity_keys, tombstones, topic_retention
from consumers.protection.pseudonym import KeyMissing, pseudonymise, subject
from consumers.protection.tables import erased_tables
from consumers.records.checks import InvalidInput, RecordError, check_text
from consumers.records.guard import allow, audit
from leap.access import Actor
from leap.settings import Settings
from schemas.codec import default_codec

COMPACTED = ("roster", "student-state")


class StillEnrolled(InvalidInput):
    """The student is active on the roster: the registry ends the enrolment before an erasure."""


class PartialErasure(RecordError):
    """PostgreSQL was erased (and the consumer now drops the student) but Redis or Kafka failed."""

    exit_code = 1


@dataclass(frozen=True)
class Erasure:
    """What an erasure did: its record's id, the student's pseudonym, what was removed and what remains."""

    erasure_id: int
    subject: str
    removed: dict[str, dict[str, int]]
    not_removed: list[dict]


def _key(settings: Settings) -> str:
    key = settings.pseudonym_key.get_secret_value() if settings.pseudonym_key is not None else None
    try:
        subject("x", key)
    except KeyMissing as exc:
        raise InvalidInput(str(exc)) from None
    return key  # type: ignore[return-value]


def erase_postgres(conn: psycopg.Connection, actor: Actor, role: str, purpose: str, student_id: str, name: str, reason: str,
                   left: list[dict]) -> tuple[int, dict[str, int], list[str]]:  # fmt: skip
    """Step 2: delete, pseudonymise, record; return (erasure id, rows per table, the student's alert ids)."""
    with conn.transaction():
        markers.hold_exclusive(conn)
        status = conn.execute("SELECT status FROM students WHERE student_id = %s FOR UPDATE", (student_id,)).fetchone()
        refusal = erasure_rules.erasure_refusal(status["status"] if status else None)
        if refusal:
            raise StillEnrolled(f"{student_id} cannot be erased: {refusal}")
        alert_ids = [str(r["alert_id"]) for r in conn.execute("SELECT alert_id FROM alerts WHERE student_id = %s", (student_id,))]
        counts = {t.name: conn.execute(t.delete(), {"s": student_id}).rowcount for t in erased_tables()}
        counts["access_log (pseudonymised)"] = conn.execute(
            """UPDATE access_log SET student_id = %(n)s, actor = CASE WHEN actor = %(s)s THEN %(n)s ELSE actor END,
                 purpose = replace(purpose, %(s)s, %(n)s) WHERE student_id = %(s)s""",
            {"s": student_id, "n": name},
        ).rowcount
        erasure_id = conn.execute(
            "INSERT INTO erasures (subject, erased_by, reason, removed, not_removed) VALUES (%s, %s, %s, %s, %s) RETURNING erasure_id",
            (name, actor.user_id, pseudonymise(reason, student_id, name), Jsonb({"postgres": counts}), Jsonb(left)),
        ).fetchone()["erasure_id"]
        audit(conn, actor.user_id, role, "erase", pseudonymise(purpose, student_id, name) or "", student_id=name, record_type="erasure", record_id=str(erasure_id))
    return erasure_id, counts, alert_ids


def erase_student(
    conn: psycopg.Connection, actor: Actor, student_id: str, reason: str, settings: Settings, *,
    live: Live | None = None, engine_days: int = 42, now: datetime | None = None,
) -> Erasure:  # fmt: skip
    """Erase the student (see the module docstring); ``Forbidden`` (logged) unless ``actor`` may.

    ``engine_days``: the policy's ``engagement.retention_days`` (how long the engine may
    still hold the student's recent activity), for the record of what remains.
    """
    check_text("the reason", reason)
    key = _key(settings)
    decision = allow(conn, actor, "erase", student_id, record_type="erasure")
    name = subject(student_id, key)
    at = now or datetime.now(settings.tz)
    topics = topic_retention(settings, erasure_rules.KEPT_ON_TOPICS)
    left = erasure_rules.not_removed(topics, {n: settings.topic(n) for n in erasure_rules.KEPT_ON_TOPICS}, at, engine_days)
    erasure_id, counts, alert_ids = erase_postgres(conn, actor, decision.role or "admin", decision.purpose, student_id, name, reason, left)
    try:
        live = live or Live.connect(settings)
        stream_alerts = {e["fields"].get("alert_id", "") for e in live.entries_about(student_id)}
        redis = live.forget(student_id, sorted({*alert_ids, *stream_alerts} - {""}))
        kafka = tombstones(settings, COMPACTED, student_id)
        kafka[settings.topic("identities")] = forget_identities(settings, identity_keys(settings, student_id, default_codec()))
    except Exception as exc:  # any failure here leaves the record incomplete: say so and how to finish
        raise PartialErasure(
            f"erasure {erasure_id}: PostgreSQL erased, but Redis or Kafka failed ({type(exc).__name__}: {exc}); run leap erase again to finish"
        ) from exc
    removed = {"postgres": counts, "redis": redis, "kafka tombstones": kafka}
    with conn.transaction():
        conn.execute("UPDATE erasures SET removed = %s, completed_at = now() WHERE erasure_id = %s", (Jsonb(removed), erasure_id))
    return Erasure(erasure_id, name, removed, left)
