"""Who may do what with whose data: legitimate need, as one pure policy.

Every read or write of a student's data, from the command line or (later) the portal, asks
``decide(actor, action, relation, reason=...)`` first and writes the answer's ``role`` and
``purpose`` to the access log, whether it was allowed or not (the student's own reads
included: the log is what the student sees of who looked at their record). Nothing here
reads storage: the caller looks up the ``Relation`` (the student's tutor, department and
programme, the services they were referred to and still consent to, the author of the
record an action concerns) and passes it in, so the whole policy is testable as a matrix.
``docs/access.md`` has the table of role x action with each condition and why.

Roles (an actor may hold several). Each is tried in the order of ``ROLES``, narrowest need
first, and the first that allows the action is the one recorded, so a tutor who is also an
administrator reading a tutee's status is logged as their tutor:

- ``student``: only themself (``Actor.student_id``). They see everything LEAP holds on them
  (status and how the band was computed, every record staff made, who looked), update the
  progress of their own objectives, give or withdraw consent to a referral, challenge a
  record and export their own data. Consent and challenges are the student's own voice,
  so no other role records them.
- ``personal_tutor``: their tutees (the roster's ``personal_tutor_id``): read everything but
  the access log, notes, objectives, referrals, handling alerts, resolving data queries. Not
  exemptions: authorised absence, placement, interruption and withdrawal are decided by the
  department or registry, and an exemption silences the tutor's own alerts.
- ``department_staff``: students of their departments *or* programmes (a programme leader
  holds ``Actor.programmes``): what a tutor may do, plus exemptions. Alerts without a tutor
  go to the department, so it needs the tutor's tools.
- ``support_service``: students referred to the actor's service who consent to contact
  (``Relation.consented_services``; withdrawing consent ends access). Minimal: the status
  (the referral is about engagement), the referrals to *its* service, its own notes and
  the referral's progress. Not other staff's notes, objectives, alerts or data queries:
  the student agreed to be contacted, not to have their file shared.
  ``Decision.only_service`` names the service, and the caller must read and write only
  that service's referrals and notes.
- ``admin``: LEAP administrators, for every student but only with a stated ``reason`` (an
  administrator has no relationship with the student that would itself be the need, so
  the need must be written down, and it goes into the logged purpose): reading, the access
  log (audits), alerts (reassignment), exemptions (registry files), resolving escalated
  data queries, subject-access exports and erasure. Not notes, objectives or referrals:
  pastoral acts belong to someone the student knows.

Rules over every role:

- Nobody acts as staff on their own record: an actor whose ``student_id`` is the student's
  (a PhD student who tutors, staff who study) is only ever the student there.
- The author of a record never resolves the student's challenge to it
  (``Relation.record_author``): a tutor who recorded a note does not judge a query about
  it, under any role; someone else does.
- A missing, empty or blank id never matches anything, not even another missing one.
- An unknown action or role, an actor without a user id (the log must name them) or a
  relation without a student id raises ``ValueError`` (roles that are not a set:
  ``TypeError``): that is a caller's bug, not a denial.
- Denials name no role; allowed decisions name a role the actor holds and a purpose.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

ROLES = ("student", "personal_tutor", "department_staff", "support_service", "admin")

# What can be done to a student's data. Reads first, then writes, then data protection.
ACTIONS = (
    "view_status",  # band, score, explanation, term view
    "view_records",  # notes, objectives, referrals, exemptions, alerts, data queries
    "view_referrals",  # referrals and the notes of the service they were made to
    "view_access_log",  # who looked at the record
    "add_note",
    "add_objective",
    "update_objective",  # staff: any field; a student: progress on their own
    "add_referral",
    "update_referral",  # accepted, declined, closed
    "record_consent",  # the student's choice to be contacted by a service (given or withdrawn)
    "add_exemption",
    "update_alert",  # acknowledge, actioned, dismissed, reassigned
    "raise_query",  # challenge a record
    "resolve_query",
    "export_sar",
    "erase",
)

_READ = frozenset({"view_status", "view_records", "view_referrals"})
_PASTORAL = frozenset({"add_note", "add_objective", "update_objective", "add_referral", "update_referral", "update_alert", "resolve_query"})

# What each role may do once its relationship with the student holds (see the docstring).
GRANTS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "student": frozenset({"view_status", "view_records", "view_referrals", "view_access_log", "update_objective", "record_consent", "raise_query", "export_sar"}),
        "personal_tutor": _READ | _PASTORAL,
        "department_staff": _READ | _PASTORAL | {"add_exemption"},
        "support_service": frozenset({"view_status", "view_referrals", "add_note", "update_referral"}),
        "admin": _READ | {"view_access_log", "add_exemption", "update_alert", "resolve_query", "export_sar", "erase"},
    }
)


@dataclass(frozen=True)
class Actor:
    """Who is asking: their user id and what the university's directory says about them."""

    user_id: str
    roles: frozenset[str]
    student_id: str | None = None  # their student id, if they are (also) a student
    departments: frozenset[str] = frozenset()  # for department staff
    service: str | None = None  # for a support service's staff
    programmes: frozenset[str] = frozenset()  # for programme staff (role department_staff)
    # Why they say they are acting, when stated once for a whole request or session (the
    # command line's --purpose; the portal's form); ``decide``'s own ``reason`` wins.
    purpose: str = ""


@dataclass(frozen=True)
class Relation:
    """What storage says about the student a request concerns."""

    student_id: str
    personal_tutor: str | None = None
    department: str | None = None
    consented_services: frozenset[str] = frozenset()  # services referred to, with the student's current consent
    programme: str | None = None
    record_author: str | None = None  # who made the record the action concerns (resolve_query: the record challenged)


@dataclass(frozen=True)
class Decision:
    """Allowed or not; the role it was allowed under and why, for the access log.

    ``only_service``, when set, limits what the caller reads or writes to the referrals to
    that service and the notes its staff recorded.
    """

    allowed: bool
    role: str | None
    purpose: str
    only_service: str | None = None

    def covers_service(self, service: str) -> bool:
        """Whether a referral to ``service`` is within this decision (always, unless ``only_service``)."""
        return self.only_service is None or self.only_service == service


def _known(value: str | None) -> bool:
    """An id that can match: a non-blank string."""
    return isinstance(value, str) and value.strip() != ""


def _same(a: str | None, b: str | None) -> bool:
    """Two ids that are both present and equal (a missing id matches nothing)."""
    # decide() already refuses a blank actor or student id; this still holds for any other caller.
    return _known(a) and _known(b) and a == b


def _relationship(role: str, actor: Actor, relation: Relation, reason: str) -> str | None:
    """Why ``role`` gives ``actor`` a need concerning this student, or None if it does not."""
    if role == "student":
        return "the student's own record" if _same(actor.student_id, relation.student_id) else None
    if role == "personal_tutor":
        return "personal tutor of the student" if _same(actor.user_id, relation.personal_tutor) else None
    if role == "department_staff":
        if _known(relation.department) and relation.department in actor.departments:
            return f"staff of the student's department ({relation.department})"
        if _known(relation.programme) and relation.programme in actor.programmes:
            return f"staff of the student's programme ({relation.programme})"
        return None
    if role == "support_service":
        if _known(actor.service) and actor.service in relation.consented_services:
            return f"{actor.service}: the student was referred and agreed to be contacted"
        return None
    return f"LEAP administrator: {reason.strip()}" if _known(reason) else None


def _check(actor: Actor, action: str, relation: Relation) -> None:
    """Raise ValueError (TypeError for roles not in a set) on a request the policy cannot judge."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; actions are {', '.join(ACTIONS)}")
    if not isinstance(actor.roles, (set, frozenset)):
        raise TypeError(f"an actor's roles must be a set of role names, not {type(actor.roles).__name__}")
    unknown = sorted(set(actor.roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown roles {unknown}; roles are {', '.join(ROLES)}")
    if not _known(actor.user_id):
        raise ValueError("an actor needs a user id: the access log names who acted")
    if not _known(relation.student_id):
        raise ValueError("a request must concern a student: the relation's student id is empty")


def decide(actor: Actor, action: str, relation: Relation, *, reason: str = "") -> Decision:
    """Whether ``actor`` may do ``action`` to the data of ``relation.student_id``, and as whom.

    ``reason`` is why the actor says they are looking; an administrator needs one, and when
    given it is added to the purpose logged under any role.
    """
    reason = reason if _known(reason) else actor.purpose
    _check(actor, action, relation)
    own = _same(actor.student_id, relation.student_id)
    if action == "resolve_query" and _same(actor.user_id, relation.record_author):
        return Decision(False, None, f"{actor.user_id} made the record challenged, so someone else must resolve the query")
    for role in ROLES:
        if role not in actor.roles or action not in GRANTS[role]:
            continue
        if own and role != "student":
            continue  # never staff on their own record
        why = _relationship(role, actor, relation, reason)
        if why is None:
            continue
        if role != "admin" and _known(reason):
            why = f"{why}: {reason.strip()}"
        return Decision(True, role, why, actor.service if role == "support_service" else None)
    return Decision(False, None, _denial(actor, action, own, reason))


def _denial(actor: Actor, action: str, own: bool, reason: str) -> str:
    """The one-line reason a request was refused."""
    doing = action.replace("_", " ")
    as_staff = any(role != "student" and action in GRANTS[role] for role in actor.roles)
    if own and as_staff:
        return f"{actor.user_id} cannot {doing} on their own record as staff"
    if "admin" in actor.roles and action in GRANTS["admin"] and not _known(reason):
        return f"{actor.user_id} must give a reason to {doing} as LEAP administrator"
    return f"{actor.user_id} has no legitimate need to {doing} for this student"


def allowed_actions(actor: Actor, relation: Relation, *, reason: str = "") -> dict[str, Decision]:
    """Every action ``actor`` may do for this student (what the portal offers), with its decision."""
    decisions = {action: decide(actor, action, relation, reason=reason) for action in ACTIONS}
    return {action: d for action, d in decisions.items() if d.allowed}
