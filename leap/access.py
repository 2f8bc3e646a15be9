"""Who may do what with whose data: legitimate need, as one pure policy.

Every read or write of a student's data, from the command line or (later) the portal, asks
``decide(actor, action, relation)`` first and writes the answer's ``purpose`` to the access
log with the role it was allowed under. Nothing here reads storage: the caller looks up the
``Relation`` (who the student's tutor is, their department, which services they were
referred to with consent) and passes it in, so the whole policy is testable as a matrix.

Roles (an actor may hold several; the first that allows an action is the one recorded):
- ``student``: only themself; they see every record staff make about them, raise data
  queries, record progress on their objectives and consent to referrals;
- ``personal_tutor``: their tutees (the roster's ``personal_tutor_id``);
- ``department_staff``: students of their departments;
- ``support_service``: students referred to their service who consented to contact;
- ``admin``: LEAP administrators: every student, including subject access and erasure.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("student", "personal_tutor", "department_staff", "support_service", "admin")

# What can be done to a student's data. Reads first, then writes, then data protection.
ACTIONS = (
    "view_status",  # band, score, explanation, term view
    "view_records",  # notes, objectives, referrals, exemptions, alerts, data queries
    "view_access_log",  # who looked at the record
    "add_note",
    "add_objective",
    "update_objective",  # staff: any field; a student: progress on their own
    "add_referral",
    "record_consent",  # the student's choice to be contacted by a service
    "add_exemption",
    "update_alert",  # acknowledge, actioned, dismissed
    "raise_query",  # challenge a record
    "resolve_query",
    "export_sar",
    "erase",
)

# Which actions each staff relationship allows. A student's own rights are below.
_STAFF: dict[str, frozenset[str]] = {
    "personal_tutor": frozenset(
        {"view_status", "view_records", "add_note", "add_objective", "update_objective", "add_referral", "add_exemption", "update_alert", "resolve_query"}
    ),
    "department_staff": frozenset(
        {"view_status", "view_records", "add_note", "add_objective", "update_objective", "add_referral", "add_exemption", "update_alert", "resolve_query"}
    ),
    # A service sees what it needs to help, and records what it did; it sets no objectives.
    "support_service": frozenset({"view_status", "view_records", "add_note"}),
    "admin": frozenset(ACTIONS),
}
_STUDENT_OWN = frozenset({"view_status", "view_records", "view_access_log", "update_objective", "record_consent", "raise_query", "export_sar"})


@dataclass(frozen=True)
class Actor:
    """Who is asking: their user id and what the university's directory says about them."""

    user_id: str
    roles: frozenset[str]
    student_id: str | None = None  # for a student: their student id
    departments: frozenset[str] = frozenset()  # for department staff
    service: str | None = None  # for a support service's staff


@dataclass(frozen=True)
class Relation:
    """What storage says about the student a request concerns."""

    student_id: str
    personal_tutor: str | None = None
    department: str | None = None
    consented_services: frozenset[str] = frozenset()  # services referred to, with the student's consent


@dataclass(frozen=True)
class Decision:
    """Allowed or not; the role it was allowed under and why, for the access log."""

    allowed: bool
    role: str | None
    purpose: str


def decide(actor: Actor, action: str, relation: Relation) -> Decision:
    """Whether ``actor`` may do ``action`` to the data of ``relation.student_id``, and as whom."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; actions are {', '.join(ACTIONS)}")
    student = relation.student_id
    for role in ROLES:
        if role not in actor.roles:
            continue
        if role == "student":
            if actor.student_id == student and action in _STUDENT_OWN:
                return Decision(True, role, "the student's own record")
            continue
        if action not in _STAFF[role]:
            continue
        if role == "admin":
            return Decision(True, role, "LEAP administrator")
        if role == "personal_tutor" and relation.personal_tutor is not None and relation.personal_tutor == actor.user_id:
            return Decision(True, role, "personal tutor of the student")
        if role == "department_staff" and relation.department is not None and relation.department in actor.departments:
            return Decision(True, role, f"staff of the student's department ({relation.department})")
        if role == "support_service" and actor.service is not None and actor.service in relation.consented_services:
            return Decision(True, role, f"{actor.service}: the student was referred and agreed to be contacted")
    return Decision(False, None, f"{actor.user_id} has no legitimate need to {action.replace('_', ' ')} for this student")
