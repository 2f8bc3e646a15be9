"""Every write the portal makes, each a POST through ``portal.web.form`` (signed in, CSRF).

Each handler reads its fields, calls the one storage layer (``consumers.records``, which
asks the access policy and writes the access log) and returns the message to show. The
form's hidden ``back`` field says which page to return to.
"""

from __future__ import annotations

from datetime import date, datetime

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.routing import Route

from consumers import records
from consumers.exemptions import REASONS as EXEMPTION_REASONS
from consumers.exemptions import ExemptionRow
from consumers.records.checks import InvalidInput
from leap.calendar import local_instant
from leap.kafka import Publisher
from portal.web import Visitor, blocking, db, form, parts


def field(data: FormData, name: str) -> str:
    """A text field as typed, or "" (a file upload where text belongs counts as missing)."""
    value = data.get(name)
    return value if isinstance(value, str) else ""


def optional_day(data: FormData, name: str, label: str) -> date | None:
    """An optional ISO date field (browsers' date inputs send YYYY-MM-DD)."""
    text = field(data, name).strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{label} {text!r} is not a date (YYYY-MM-DD)") from None


def when(data: FormData, request: Request, day_field: str, time_field: str) -> datetime | None:
    """A local date and optional time (default 09:00) from two fields, or None if no date."""
    day = field(data, day_field).strip()
    if not day:
        return None
    clock = field(data, time_field).strip() or "09:00"
    try:
        return local_instant(f"{day}T{clock}", parts(request).settings.tz)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _sid(request: Request) -> str:
    return request.path_params["student_id"]


@form
async def add_note(request: Request, visitor: Visitor, data: FormData) -> str:
    """A note about the student."""
    note = await db(request, records.add_note, visitor.actor, _sid(request), field(data, "body"), alert_id=field(data, "alert_id") or None)
    return f"Note {note} saved. The student can see it."


@form
async def add_objective(request: Request, visitor: Visitor, data: FormData) -> str:
    """An objective agreed with the student, with an optional due date."""
    due = optional_day(data, "due", "the due date")
    objective = await db(request, records.add_objective, visitor.actor, _sid(request), field(data, "description"), due=due)
    return f"Objective {objective} saved."


@form
async def update_objective(request: Request, visitor: Visitor, data: FormData) -> str:
    """Staff change the status; a student records their progress."""
    changes: dict[str, object] = {}
    if "progress" in data:
        changes["progress"] = field(data, "progress")
    if field(data, "status"):
        changes["status"] = field(data, "status")
    if not changes:
        raise InvalidInput("nothing to change: give a status or your progress")
    await db(request, records.update_objective, visitor.actor, int(request.path_params["objective_id"]), **changes)
    return "Objective updated."


@form
async def add_referral(request: Request, visitor: Visitor, data: FormData) -> str:
    """A referral to a support service; the student decides whether to be contacted."""
    referral = await db(request, records.add_referral, visitor.actor, _sid(request), field(data, "service").strip(), field(data, "reason"))
    return f"Referral {referral} saved. The student chooses whether the service contacts them."


@form
async def record_consent(request: Request, visitor: Visitor, data: FormData) -> str:
    """The student's choice about being contacted by the service."""
    answer = field(data, "consent")
    if answer not in ("yes", "no"):
        raise InvalidInput("choose yes or no")
    await db(request, records.record_consent, visitor.actor, int(request.path_params["referral_id"]), answer == "yes")
    return "Thank you: the service will contact you." if answer == "yes" else "Noted: the service will not contact you. You can change your mind here."


@form
async def close_referral(request: Request, visitor: Visitor, data: FormData) -> str | tuple[str, str]:
    """Close a referral with what came of it; the student reads the outcome.

    A service's need to see the student ends with its last open referral: it goes back to
    its list of students, not to a page it may no longer open.
    """
    row = await db(request, records.close_referral, visitor.actor, int(request.path_params["referral_id"]), field(data, "outcome"))
    message = "Referral closed. The student can read the outcome on their page."
    if "view_status" not in await db(request, records.actions_for, visitor.actor, row["student_id"]):
        return f"{message} Your access to their record ended with it.", "/caseload"
    return message


@form
async def raise_query(request: Request, visitor: Visitor, data: FormData) -> str:
    """The student challenges a record; for missing activity, what and when."""
    kind = field(data, "kind")
    at = when(data, request, "activity_day", "activity_time") if kind == "missing_activity" else None
    source = (field(data, "source") or None) if kind == "missing_activity" else None
    query = await db(request, records.raise_query, visitor.actor, _sid(request), kind, field(data, "record_id").strip(),
                     field(data, "description"), activity_source=source, activity_at=at)  # fmt: skip
    return f"Your query ({query}) has been sent. You will see the answer here."


@form
async def withdraw_query(request: Request, visitor: Visitor, data: FormData) -> str:
    """The student takes back a query they raised, before it is answered."""
    await db(request, records.withdraw_query, visitor.actor, int(request.path_params["query_id"]))
    return "Your query has been withdrawn."


def _publisher(request: Request) -> Publisher:
    """The portal's one Kafka producer for corrections, made on first use."""
    extras = parts(request).extras
    if "publisher" not in extras:
        extras["publisher"] = Publisher(parts(request).settings, client_id="leap-portal-corrections")
    return extras["publisher"]


@form
async def resolve_query(request: Request, visitor: Visitor, data: FormData) -> str:
    """Uphold or reject a data query; an upheld one about missing activity is published as a correction."""
    from producers.corrections import CorrectionError, correction_hook
    from schemas.codec import default_codec

    outcome = field(data, "outcome")
    at = when(data, request, "activity_day", "activity_time")
    publisher = await blocking(_publisher, request) if outcome == "upheld" else None
    hook = None
    if publisher is not None:
        hook = correction_hook(parts(request).settings, publisher, default_codec(), source=field(data, "source") or None, at=at,
                               amends=field(data, "amends").strip() or None)  # fmt: skip
    try:
        row = await db(request, records.resolve_query, visitor.actor, int(request.path_params["query_id"]), outcome, field(data, "resolution"), on_upheld=hook)
    except CorrectionError as exc:
        raise InvalidInput(str(exc)) from None
    if row.get("correction_event_id"):
        return f"Query {row['query_id']} upheld; the correction was published and the student's score will update in a few seconds."
    return f"Query {row['query_id']} {row['status']}."


@form
async def add_exemption(request: Request, visitor: Visitor, data: FormData) -> str:
    """An exemption (authorised absence, placement...): no silence alerts in its days."""
    starts = optional_day(data, "starts", "the first day")
    ends = optional_day(data, "ends", "the last day")
    if starts is None or ends is None or ends < starts:
        raise InvalidInput("give the first and last day of the exemption, the last not before the first")
    if field(data, "reason") not in EXEMPTION_REASONS:
        raise InvalidInput(f"the reason must be one of {', '.join(EXEMPTION_REASONS)}")
    row = ExemptionRow(_sid(request), starts, ends, field(data, "reason"), field(data, "note").strip() or None)
    added, existing, refused = await db(request, records.add_exemptions, visitor.actor, [row])
    if refused:
        raise records.Forbidden(refused[0])
    return "Exemption saved." if added else "That exemption was already recorded."


routes = [
    Route("/students/{student_id}/notes", add_note, methods=["POST"]),
    Route("/students/{student_id}/objectives", add_objective, methods=["POST"]),
    Route("/objectives/{objective_id:int}", update_objective, methods=["POST"]),
    Route("/students/{student_id}/referrals", add_referral, methods=["POST"]),
    Route("/referrals/{referral_id:int}/consent", record_consent, methods=["POST"]),
    Route("/referrals/{referral_id:int}/close", close_referral, methods=["POST"]),
    Route("/students/{student_id}/queries", raise_query, methods=["POST"]),
    Route("/queries/{query_id:int}/resolve", resolve_query, methods=["POST"]),
    Route("/queries/{query_id:int}/withdraw", withdraw_query, methods=["POST"]),
    Route("/students/{student_id}/exemptions", add_exemption, methods=["POST"]),
]
