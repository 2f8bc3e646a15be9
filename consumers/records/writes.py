"""Writing staff-facing records: notes, objectives, referrals, data queries, alert work.

Each function checks the text, asks :func:`consumers.records.guard.allow`, and writes the
row and its access-log entry in one transaction. Text is stored exactly as given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime

import psycopg

from consumers.exemptions import ExemptionRow
from consumers.records.checks import (
    CORRECTABLE_SOURCES,
    MAX_NAME,
    OBJECTIVE_STATUSES,
    QUERY_OUTCOMES,
    Forbidden,
    InvalidInput,
    NotFound,
    alert_update_error,
    check_text,
    objective_change_error,
)
from consumers.records.guard import allow, is_student, log_allowed, refuse
from leap.access import Actor

# Given an upheld query's row, publish the correction event and return its id (stored on the
# query): ``producers.corrections.correction_hook``. Called inside the transaction, so a
# failed publication leaves the query open.
CorrectionHook = Callable[[dict], str | None]


def _student(conn: psycopg.Connection, student_id: str) -> None:
    if not is_student(conn, student_id):
        raise NotFound(f"no student {student_id!r} on the roster or in the engine's output")


def _row(conn: psycopg.Connection, table: str, key: str, value: object, label: str) -> dict:
    try:
        row = conn.execute(f"SELECT * FROM {table} WHERE {key} = %s", (value,)).fetchone()  # table and key are ours, never input
    except (psycopg.errors.InvalidTextRepresentation, psycopg.errors.NumericValueOutOfRange):
        row = None
    if row is None:
        raise NotFound(f"no {label} {value}")
    return row


def add_note(conn: psycopg.Connection, actor: Actor, student_id: str, body: str, *, alert_id: str | None = None) -> int:
    """Add a note about the student (optionally on one of their alerts); return its id."""
    check_text("the note", body)
    decision = allow(conn, actor, "add_note", student_id, record_type="note")
    if alert_id is not None and _row(conn, "alerts", "alert_id", alert_id, "alert")["student_id"] != student_id:
        raise InvalidInput(f"alert {alert_id} is not about {student_id}")
    _student(conn, student_id)
    with conn.transaction():
        note = conn.execute(
            "INSERT INTO notes (student_id, author, body, alert_id) VALUES (%s, %s, %s, %s) RETURNING note_id", (student_id, actor.user_id, body, alert_id)
        ).fetchone()["note_id"]
        log_allowed(conn, actor, decision, "add_note", student_id, "note", note)
    return note


def add_objective(conn: psycopg.Connection, actor: Actor, student_id: str, description: str, *, due: date | None = None) -> int:
    """Set the student an objective; return its id."""
    check_text("the objective", description)
    decision = allow(conn, actor, "add_objective", student_id, record_type="objective")
    _student(conn, student_id)
    with conn.transaction():
        objective = conn.execute(
            "INSERT INTO objectives (student_id, author, description, due, updated_by) VALUES (%s, %s, %s, %s, %s) RETURNING objective_id",
            (student_id, actor.user_id, description, due, actor.user_id),
        ).fetchone()["objective_id"]
        log_allowed(conn, actor, decision, "add_objective", student_id, "objective", objective)
    return objective


def update_objective(conn: psycopg.Connection, actor: Actor, objective_id: int, **changes: object) -> dict:
    """Change an objective (``description``, ``due``, ``status``, ``progress``); return the row.

    A student may record ``progress`` on their own objectives only; staff may change anything.
    """
    changes = {k: v for k, v in changes.items() if v is not None}
    problem = objective_change_error(set(changes), by_student=False)
    if problem:
        raise InvalidInput(problem)
    for field in ("description", "progress"):
        if field in changes:
            check_text(f"the {field}", changes[field])  # type: ignore[arg-type]
    if "status" in changes and changes["status"] not in OBJECTIVE_STATUSES:
        raise InvalidInput(f"status {changes['status']!r} is not one of {', '.join(OBJECTIVE_STATUSES)}")
    row = _row(conn, "objectives", "objective_id", objective_id, "objective")
    decision = allow(conn, actor, "update_objective", row["student_id"], record_type="objective", record_id=str(objective_id))
    if decision.role == "student" and (problem := objective_change_error(set(changes), by_student=True)):
        raise refuse(conn, actor, "update_objective", problem, student_id=row["student_id"], record_type="objective", record_id=str(objective_id))
    sets = ", ".join(f"{field} = %({field})s" for field in sorted(changes))  # names checked against OBJECTIVE_FIELDS above
    with conn.transaction():
        updated = conn.execute(
            f"UPDATE objectives SET {sets}, updated_by = %(by)s, updated_at = now() WHERE objective_id = %(id)s RETURNING *",
            {**changes, "by": actor.user_id, "id": objective_id},
        ).fetchone()
        log_allowed(conn, actor, decision, "update_objective", row["student_id"], "objective", objective_id, stated=", ".join(sorted(changes)))
    return updated


def add_referral(conn: psycopg.Connection, actor: Actor, student_id: str, service: str, reason: str) -> int:
    """Refer the student to a service; their consent to be contacted is theirs to record. Return its id."""
    check_text("the service", service, limit=MAX_NAME)
    check_text("the reason", reason)
    decision = allow(conn, actor, "add_referral", student_id, record_type="referral")
    _student(conn, student_id)
    with conn.transaction():
        referral = conn.execute(
            "INSERT INTO referrals (student_id, author, service, reason, consent_to_contact) VALUES (%s, %s, %s, %s, NULL) RETURNING referral_id",
            (student_id, actor.user_id, service, reason),
        ).fetchone()["referral_id"]
        log_allowed(conn, actor, decision, "add_referral", student_id, "referral", referral)
    return referral


def record_consent(conn: psycopg.Connection, actor: Actor, referral_id: int, consent: bool) -> dict:
    """The student's choice to be contacted by the service (accepted) or not (declined); return the row.

    Consent lets the service's staff see the student's status and records (leap/access.py).
    A choice may be changed while the referral is not closed.
    """
    row = _row(conn, "referrals", "referral_id", referral_id, "referral")
    decision = allow(conn, actor, "record_consent", row["student_id"], record_type="referral", record_id=str(referral_id))
    if row["status"] == "closed":
        raise InvalidInput(f"referral {referral_id} is closed")
    with conn.transaction():
        updated = conn.execute(
            "UPDATE referrals SET consent_to_contact = %s, status = %s, consent_by = %s, consent_at = now() WHERE referral_id = %s RETURNING *",
            (consent, "accepted" if consent else "declined", actor.user_id, referral_id),
        ).fetchone()
        log_allowed(conn, actor, decision, "record_consent", row["student_id"], "referral", referral_id, stated="consents" if consent else "declines")
    return updated


def close_referral(conn: psycopg.Connection, actor: Actor, referral_id: int, outcome: str) -> dict:
    """Close a referral with what came of it; return the row.

    The service it was made to (with the student's consent) or pastoral staff of the student
    (the referrer, their tutor) may close it; a closed referral stays closed.
    """
    check_text("the outcome", outcome)
    row = _row(conn, "referrals", "referral_id", referral_id, "referral")
    decision = allow(conn, actor, "update_referral", row["student_id"], record_type="referral", record_id=str(referral_id))
    if not decision.covers_service(row["service"]):
        raise refuse(conn, actor, "update_referral", f"the referral is to {row['service']}, not {decision.only_service}",
                     student_id=row["student_id"], record_type="referral", record_id=str(referral_id))  # fmt: skip
    if row["status"] == "closed":
        raise InvalidInput(f"referral {referral_id} is already closed")
    with conn.transaction():
        updated = conn.execute(
            "UPDATE referrals SET status = 'closed', outcome = %s, closed_by = %s, closed_at = now() WHERE referral_id = %s RETURNING *",
            (outcome, actor.user_id, referral_id),
        ).fetchone()
        log_allowed(conn, actor, decision, "update_referral", row["student_id"], "referral", referral_id, stated="closed")
    return updated


def raise_query(conn: psycopg.Connection, actor: Actor, student_id: str, record_type: str, record_id: str, description: str, *,
                activity_source: str | None = None, activity_at: datetime | None = None) -> int:  # fmt: skip
    """The student challenges a record (an attendance mark, a band change, a note...); return the query's id.

    For missing activity, ``activity_source`` and ``activity_at`` (aware) say what was missed
    and when: upholding the query publishes that activity (``producers.corrections``).
    """
    check_text("the record type", record_type, limit=MAX_NAME)
    check_text("the record id", record_id, limit=MAX_NAME, required=False)
    check_text("the description", description)
    if activity_source is not None and activity_source not in CORRECTABLE_SOURCES:
        raise InvalidInput(f"source {activity_source!r} is not one of {', '.join(CORRECTABLE_SOURCES)}")
    if activity_at is not None and activity_at.tzinfo is None:
        raise InvalidInput("the time of the missed activity needs a time zone")
    decision = allow(conn, actor, "raise_query", student_id, record_type="data_query")
    _student(conn, student_id)
    with conn.transaction():
        query = conn.execute(
            """INSERT INTO data_queries (student_id, record_type, record_id, description, raised_by, activity_source, activity_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING query_id""",
            (student_id, record_type, record_id or "", description, actor.user_id, activity_source, activity_at),
        ).fetchone()["query_id"]
        log_allowed(conn, actor, decision, "raise_query", student_id, "data_query", query)
    return query


# Staff records a query can challenge, and where their author is kept. Anything else (an
# attendance mark, a band) was made by a system, not a person: no author to exclude.
_AUTHORED = {"note": ("notes", "note_id"), "objective": ("objectives", "objective_id"), "referral": ("referrals", "referral_id")}


def _author(conn: psycopg.Connection, record_type: str, record_id: str) -> str | None:
    """Who made the record a query challenges (they may not resolve it), or None."""
    table = _AUTHORED.get(record_type)
    if table is None or not str(record_id).isdigit():
        return None
    found = conn.execute(f"SELECT author FROM {table[0]} WHERE {table[1]} = %s", (int(record_id),)).fetchone()
    return None if found is None else found["author"]


def resolve_query(conn: psycopg.Connection, actor: Actor, query_id: int, outcome: str, resolution: str, *, on_upheld: CorrectionHook | None = None) -> dict:
    """Uphold or reject an open data query with a resolution the student reads; return the row.

    ``on_upheld`` publishes the correction event (called in the transaction, so if it raises
    nothing is stored; its id is stored in ``correction_event_id``).
    """
    if outcome not in QUERY_OUTCOMES:
        raise InvalidInput(f"outcome {outcome!r} is not one of {', '.join(QUERY_OUTCOMES)}")
    check_text("the resolution", resolution)
    row = _row(conn, "data_queries", "query_id", query_id, "data query")
    decision = allow(
        conn, actor, "resolve_query", row["student_id"], record_type="data_query", record_id=str(query_id),
        record_author=_author(conn, row["record_type"], row["record_id"]),
    )  # fmt: skip
    if row["status"] != "open":
        raise InvalidInput(f"data query {query_id} is already {row['status']}")
    with conn.transaction():
        updated = conn.execute(
            """UPDATE data_queries SET status = %s, resolution = %s, resolved_by = %s, resolved_at = now()
               WHERE query_id = %s AND status = 'open' RETURNING *""",
            (outcome, resolution, actor.user_id, query_id),
        ).fetchone()
        if updated is None:
            raise InvalidInput(f"data query {query_id} was resolved meanwhile")
        if outcome == "upheld" and on_upheld is not None and (event := on_upheld(updated)) is not None:
            updated = conn.execute("UPDATE data_queries SET correction_event_id = %s WHERE query_id = %s RETURNING *", (event, query_id)).fetchone()
        log_allowed(conn, actor, decision, "resolve_query", row["student_id"], "data_query", query_id, stated=outcome)
    return updated


def withdraw_query(conn: psycopg.Connection, actor: Actor, query_id: int) -> dict:
    """The student withdraws a data query they raised while it is still open; return the row.

    Whoever may raise a query about the student may withdraw their own; nobody withdraws
    someone else's challenge (staff answer it instead).
    """
    row = _row(conn, "data_queries", "query_id", query_id, "data query")
    if row["raised_by"] != actor.user_id:
        raise refuse(conn, actor, "withdraw_query", f"data query {query_id} was raised by someone else; only they may withdraw it",
                     student_id=row["student_id"], record_type="data_query", record_id=str(query_id))  # fmt: skip
    decision = allow(conn, actor, "raise_query", row["student_id"], record_type="data_query", record_id=str(query_id))
    if row["status"] != "open":
        raise InvalidInput(f"data query {query_id} is already {row['status']}")
    with conn.transaction():
        updated = conn.execute(
            """UPDATE data_queries SET status = 'withdrawn', resolved_by = %s, resolved_at = now()
               WHERE query_id = %s AND status = 'open' RETURNING *""",
            (actor.user_id, query_id),
        ).fetchone()
        if updated is None:
            raise InvalidInput(f"data query {query_id} was answered meanwhile")
        log_allowed(conn, actor, decision, "withdraw_query", row["student_id"], "data_query", query_id)
    return updated


def update_alert(conn: psycopg.Connection, actor: Actor, alert_id: str, status: str, note: str | None = None) -> dict:
    """Acknowledge an alert, or close it as actioned (``note``: what was done) or dismissed (``note``: why)."""
    if status in ("actioned", "dismissed"):
        check_text("what was done" if status == "actioned" else "why it is dismissed", note)
    else:
        check_text("the note", note, required=False)
    row = _row(conn, "alerts", "alert_id", alert_id, "alert")
    decision = allow(conn, actor, "update_alert", row["student_id"], record_type="alert", record_id=str(alert_id))
    if problem := alert_update_error(row["status"], status):
        raise InvalidInput(problem)
    with conn.transaction():
        updated = conn.execute(
            """UPDATE alerts SET status = %s, status_by = %s, status_at = now(), status_note = %s
               WHERE alert_id = %s AND status = %s RETURNING *""",
            (status, actor.user_id, note, alert_id, row["status"]),
        ).fetchone()
        if updated is None:
            raise InvalidInput(f"alert {alert_id} changed meanwhile; look again")
        conn.execute("INSERT INTO alert_updates (alert_id, status, by_user, note) VALUES (%s, %s, %s, %s)", (alert_id, status, actor.user_id, note))
        log_allowed(conn, actor, decision, "update_alert", row["student_id"], "alert", alert_id, stated=status)
    return updated


def add_exemptions(conn: psycopg.Connection, actor: Actor, rows: Iterable[ExemptionRow]) -> tuple[int, int, list[str]]:
    """Store the exemptions ``actor`` may record; return (added, already stored, refusals).

    Each student is decided on its own (an exemption silences alerts, so only staff of the
    student's department or an administrator record one): a refused row is logged and
    named, and the others are stored, each with its own access-log entry.
    """
    added = existing = 0
    refused: list[str] = []
    for row in rows:
        try:
            decision = allow(conn, actor, "add_exemption", row.student_id, record_type="exemption")
        except Forbidden as exc:
            refused.append(f"{row.student_id}: {exc}")
            continue
        with conn.transaction():
            cur = conn.execute(
                """INSERT INTO exemptions (student_id, starts, ends, reason, note, recorded_by) VALUES (%s, %s, %s, %s, %s, %s)
                   ON CONFLICT (student_id, starts, ends, reason) DO NOTHING""",
                (row.student_id, row.starts, row.ends, row.reason, row.note, actor.user_id),
            )
            if cur.rowcount:
                log_allowed(conn, actor, decision, "add_exemption", row.student_id, "exemption", stated=f"{row.reason} {row.starts} to {row.ends}")
        added += cur.rowcount
        existing += 1 - cur.rowcount
    return added, existing, refused
