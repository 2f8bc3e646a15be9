"""Who is asking, what storage says about the student, and the access log.

Every records function calls :func:`allow` first: it looks up the ``Relation``, asks
``leap.access.decide`` and either logs the refusal and raises :class:`Forbidden`, or returns
the decision for the caller to log with its write. Records functions need an autocommit
connection: each runs its own transaction, so a write and its log entry commit together,
and a refusal's log entry is committed although the refusal propagates as an exception.
"""

from __future__ import annotations

from dataclasses import replace

from collections.abc import Iterable

import psycopg

from consumers.records.checks import Forbidden, UnknownUser
from consumers.staff import StaffRow
from leap.access import Actor, Decision, Relation, allowed_actions, decide


def audit(conn: psycopg.Connection, actor: str, role: str, action: str, purpose: str, *, student_id: str | None = None,
          record_type: str | None = None, record_id: str | None = None, allowed: bool = True) -> None:  # fmt: skip
    """Append one entry to the access log (it cannot be updated or deleted)."""
    conn.execute(
        "INSERT INTO access_log (actor, role, action, student_id, record_type, record_id, purpose, allowed) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (actor, role, action, student_id, record_type, record_id, purpose, allowed),
    )


def operator(user_id: str, purpose: str | None = None) -> Actor:
    """The person at the command line without ``--as``: a LEAP administrator, as before the directory.

    An administrator must say why (``leap.access``); without ``--purpose`` the command they
    ran is the stated purpose, and the access log says so.
    """
    return Actor(user_id=user_id, roles=frozenset({"admin"}), purpose=purpose or NO_PURPOSE)


NO_PURPOSE = "command-line operation (no purpose stated)"


def command_line_actor(conn: psycopg.Connection, as_user: str | None, operator_id: str, purpose: str | None = None) -> Actor:
    """Who runs a command: ``as_user`` from the directory, else the operator (an administrator).

    An administrator must say why (``leap.access``): the ``--purpose`` given, else the
    access log records that none was stated.
    """
    actor = operator(operator_id, purpose) if as_user is None else actor_for(conn, as_user)
    if purpose:
        return replace(actor, purpose=purpose)
    return replace(actor, purpose=NO_PURPOSE) if "admin" in actor.roles and not actor.purpose else actor


def actor_for(conn: psycopg.Connection, user_id: str) -> Actor:
    """The actor ``user_id`` is: from the staff directory, and/or a student on the roster (UnknownUser: neither)."""
    staff = conn.execute("SELECT roles, departments, service, programmes FROM staff WHERE user_id = %s", (user_id,)).fetchone()
    student = conn.execute("SELECT 1 FROM students WHERE student_id = %s", (user_id,)).fetchone()
    if staff is None and student is None:
        raise UnknownUser(f"unknown user {user_id!r}: not in the staff directory (leap staff load) nor a student on the roster")
    roles = set(staff["roles"]) if staff else set()
    if student is not None:
        roles.add("student")
    return Actor(
        user_id=user_id,
        roles=frozenset(roles),
        student_id=user_id if student is not None else None,
        departments=frozenset(staff["departments"]) if staff else frozenset(),
        service=staff["service"] if staff else None,
        programmes=frozenset(staff["programmes"]) if staff else frozenset(),
    )


def relations_for(conn: psycopg.Connection, student_ids: Iterable[str]) -> dict[str, Relation]:
    """Each student's relation: tutor, department and programme (roster), services referred to with consent."""
    ids = list(dict.fromkeys(student_ids))
    roster = {r["student_id"]: r for r in conn.execute("SELECT student_id, personal_tutor, department, programme FROM students WHERE student_id = ANY(%s)", (ids,))}
    services: dict[str, set[str]] = {}
    for r in conn.execute(
        "SELECT DISTINCT student_id, service FROM referrals WHERE student_id = ANY(%s) AND consent_to_contact AND status <> 'closed'", (ids,)
    ):
        services.setdefault(r["student_id"], set()).add(r["service"])
    found = {}
    for sid in ids:
        row = roster.get(sid) or {}
        found[sid] = Relation(sid, row.get("personal_tutor"), row.get("department"), frozenset(services.get(sid, ())), programme=row.get("programme"))
    return found


def relation_for(conn: psycopg.Connection, student_id: str) -> Relation:
    """The student's relation (a student not on the roster has no tutor or department)."""
    return relations_for(conn, [student_id])[student_id]


def actions_for(conn: psycopg.Connection, actor: Actor, student_id: str) -> dict[str, Decision]:
    """What ``actor`` may do about the student (for offering forms; nothing is logged, each action still asks ``allow``)."""
    return allowed_actions(actor, relation_for(conn, student_id), reason=actor.purpose)


def is_student(conn: psycopg.Connection, student_id: str) -> bool:
    """Whether the student is on the roster or has been scored by the engine."""
    return conn.execute(
        "SELECT 1 FROM students WHERE student_id = %s UNION ALL SELECT 1 FROM student_current WHERE student_id = %s LIMIT 1", (student_id, student_id)
    ).fetchone() is not None


def _require_autocommit(conn: psycopg.Connection) -> None:
    if not conn.autocommit:
        raise ValueError("records functions need an autocommit connection (consumers.db.connect(settings, autocommit=True))")


def refuse(conn: psycopg.Connection, actor: Actor, action: str, why: str, *, student_id: str | None = None,
           record_type: str | None = None, record_id: str | None = None) -> Forbidden:  # fmt: skip
    """Log a refused attempt (committed on its own) and return the error to raise."""
    with conn.transaction():
        audit(conn, actor.user_id, ",".join(sorted(actor.roles)) or "none", action, why, student_id=student_id,
              record_type=record_type, record_id=record_id, allowed=False)  # fmt: skip
    return Forbidden(f"forbidden: {why}")


def allow(
    conn: psycopg.Connection, actor: Actor, action: str, student_id: str, *,
    record_type: str | None = None, record_id: str | None = None, record_author: str | None = None,
) -> Decision:  # fmt: skip
    """The decision allowing ``actor`` to ``action`` the student's data; refused: logged, then Forbidden.

    ``record_author``: who made the record the action concerns (a challenged note's author
    may not resolve the challenge).
    """
    _require_autocommit(conn)
    relation = relation_for(conn, student_id)
    if record_author is not None:
        relation = replace(relation, record_author=record_author)
    decision = decide(actor, action, relation)
    if not decision.allowed:
        raise refuse(conn, actor, action, decision.purpose, student_id=student_id, record_type=record_type, record_id=record_id)
    return decision


def log_allowed(conn: psycopg.Connection, actor: Actor, decision: Decision, action: str, student_id: str | None, record_type: str | None,
                record_id: object = None, stated: str | None = None) -> None:  # fmt: skip
    """Log an allowed access with its role and purpose (and the purpose the actor stated, if any)."""
    purpose = decision.purpose + (f"; stated: {stated}" if stated else "")
    audit(conn, actor.user_id, decision.role or "none", action, purpose, student_id=student_id, record_type=record_type,
          record_id=None if record_id is None else str(record_id))  # fmt: skip


def load_staff(conn: psycopg.Connection, actor: Actor, rows: Iterable[StaffRow], *, source: str, replace: bool = False) -> tuple[int, int]:
    """Store directory entries (replacing a user's earlier entry); return (stored, removed).

    ``replace``: users not in ``rows`` are removed (leavers lose access). Only an admin may
    load the directory: it is not about a student, so ``decide`` has no say here.
    """
    _require_autocommit(conn)
    if "admin" not in actor.roles:
        raise refuse(conn, actor, "load_staff", f"{actor.user_id} is not a LEAP administrator", record_type="staff")
    rows = list(rows)
    with conn.transaction():
        conn.cursor().executemany(
            """INSERT INTO staff (user_id, roles, departments, service, programmes) VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (user_id) DO UPDATE SET roles = EXCLUDED.roles, departments = EXCLUDED.departments,
                 service = EXCLUDED.service, programmes = EXCLUDED.programmes, updated_at = now()""",
            [(r.user_id, list(r.roles), list(r.departments), r.service, list(r.programmes)) for r in rows],
        )
        removed = 0
        if replace:
            removed = conn.execute("DELETE FROM staff WHERE user_id <> ALL(%s)", ([r.user_id for r in rows],)).rowcount
        audit(conn, actor.user_id, "admin", "load_staff", f"staff directory {source}" + (" (replacing)" if replace else ""),
              record_type="staff", record_id=str(len(rows)))  # fmt: skip
    return len(rows), removed
