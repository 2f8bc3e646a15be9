"""The pages people read: a student's page (their own, or as staff see it) and the caseload.

Every figure comes from a guarded read of ``consumers.records`` (each logged in the
student's access log). What a page offers to do is what ``leap.access.allowed_actions``
allows the visitor, so a form never appears that the storage layer would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date, timedelta
from urllib.parse import quote, urlencode

import psycopg
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from consumers import records
from consumers.exemptions import REASONS as EXEMPTION_REASONS
from consumers.records.caseload import HISTORY_DAYS
from consumers.records.checks import CORRECTABLE_SOURCES, OBJECTIVE_STATUSES
from leap.access import Actor
from leap.explain import DEFAULT_DISPLAY_NAMES, band_name, explain
from leap.policy import Policy
from portal.auth import home_of
from portal.charts import history_chart, sparkline, trend_words
from portal.web import Visitor, db, page, parts, render

# What a student can challenge, in their words (the value is stored as the query's record type).
QUERY_KINDS = {
    "missing_activity": "Something I did is missing (e.g. I attended but was not recorded)",
    "band": "My band or score looks wrong",
    "note": "A note about me",
    "objective": "An objective",
    "referral": "A referral",
    "exemption": "An exemption",
    "alert": "An alert",
    "other": "Something else",
}


def chart_points(rows: Iterable[dict], last: date | None, days: int) -> list[tuple[date, float | None]]:
    """One point per day for ``days`` days up to ``last`` (None where there is no summary)."""
    if last is None:
        return []
    by_day = {r["day"]: r["score"] for r in rows}
    return [(last - timedelta(days=n), by_day.get(last - timedelta(days=n))) for n in range(days - 1, -1, -1)]


def access_summary(rows: Iterable[dict], student_id: str) -> list[dict]:
    """Who looked at or changed the record, one line per person, role and day (newest first).

    The student's own visits are left out (they know); refusals are kept and marked.
    """
    lines: dict[tuple, dict] = {}
    for r in rows:
        if r["actor"] == student_id:
            continue
        key = (r["actor"], r["role"], r["at"].date(), r["allowed"])
        line = lines.setdefault(key, {"actor": r["actor"], "role": r["role"], "day": r["at"].date(), "allowed": r["allowed"],
                                      "last": r["at"], "actions": set(), "purpose": r["purpose"], "count": 0})  # fmt: skip
        line["actions"].add(r["action"].replace("_", " "))
        line["count"] += 1
        if r["at"] >= line["last"]:
            line["last"], line["purpose"] = r["at"], r["purpose"]
    return sorted(lines.values(), key=lambda line: line["last"], reverse=True)


def student_view(conn: psycopg.Connection, actor: Actor, student_id: str, policy: Policy) -> dict:
    """Everything the student page shows that ``actor`` may see (each read logged)."""
    can = records.actions_for(conn, actor, student_id)
    status = records.status_of(conn, actor, student_id)  # Forbidden if not even this
    if status is None:
        raise records.NotFound(f"no student {student_id!r} on the roster or in the engine's output")
    own = actor.student_id == student_id
    current = status["current"]
    explained = None
    if current is not None:
        fill = {k: current[k] for k in ("band", "score", "cohort", "days_since_last_activity")}
        explained = explain(current["explanation"], "student" if own else "staff", engagement=policy.engagement,
                            names=policy.sources.display_names, fill=fill)  # fmt: skip
    history = records.history_of(conn, actor, student_id)
    last = history[-1]["day"] if history else None
    points = chart_points(history, last, HISTORY_DAYS)
    view = {"student_id": student_id, "own": own, "status": status, "roster": status["roster"] or {}, "current": current,
            "explained": explained, "can": set(can), "points": points, "record": None, "referrals": None, "access": None}  # fmt: skip
    if points:
        who = "Your" if own else f"{student_id}'s"
        view["chart"] = history_chart(points, policy.engagement.bands.model_dump(), title=f"{who} daily engagement score, last 12 weeks")
    if "view_records" in can:
        view["record"] = records.student_record(conn, actor, student_id)
    elif "view_referrals" in can:  # a support service: the referrals to it, nothing else
        view["referrals"] = records.referrals_of(conn, actor, student_id)
    if "view_access_log" in can:
        view["access"] = access_summary(records.access_log_of(conn, actor, student_id), student_id)
    return view


def _names(policy: Policy) -> dict[str, str]:
    names = dict(DEFAULT_DISPLAY_NAMES)
    names.update(policy.sources.display_names)
    return names


@page
async def home(request: Request, visitor: Visitor) -> Response:
    """Students to their page, staff to their caseload."""
    return RedirectResponse(home_of(visitor.actor.roles), status_code=303)


@page
async def my_page(request: Request, visitor: Visitor) -> Response:
    """A student's own page."""
    if visitor.actor.student_id is None:
        return RedirectResponse("/caseload", status_code=303)
    return await _student_page(request, visitor, visitor.actor.student_id)


@page
async def student_page(request: Request, visitor: Visitor) -> Response:
    """A student's page as the visitor may see it (an administrator states why in ``reason``)."""
    return await _student_page(request, visitor, request.path_params["student_id"])


async def _student_page(request: Request, visitor: Visitor, student_id: str) -> Response:
    p = parts(request)
    reason = request.query_params.get("reason", "").strip()
    actor = replace(visitor.actor, purpose=reason) if reason else visitor.actor
    view = await db(request, student_view, actor, student_id, p.policy)
    return render(
        request,
        "student.html",
        {"title": "Your engagement" if view["own"] else f"Student {student_id}", "v": view, "band_name": band_name,
         "query_kinds": QUERY_KINDS, "sources": {k: v for k, v in _names(p.policy).items() if k in CORRECTABLE_SOURCES},
         "objective_statuses": OBJECTIVE_STATUSES, "exemption_reasons": EXEMPTION_REASONS, "reason": reason,
         "min_group": p.policy.engagement.min_cohort_size,
         "back": request.url.path + (f"?{urlencode({'reason': reason})}" if reason else "")},  # fmt: skip
        visitor=visitor,
    )


@page
async def caseload_page(request: Request, visitor: Visitor) -> Response:
    """The visitor's students, those needing attention first, each with a trend line."""
    if not visitor.is_staff:
        return RedirectResponse("/me", status_code=303)
    rows = await db(request, records.caseload, visitor.actor)
    for row in rows:
        words = trend_words(row["trend"])
        row["trend_words"] = words
        row["spark"] = sparkline(row["trend"], label=f"Last four weeks: {words}")
    return render(request, "caseload.html", {"title": "Your students", "rows": rows, "band_name": band_name}, visitor=visitor)


@page
async def find_student(request: Request, visitor: Visitor) -> Response:
    """Go to a student's page by id (an administrator with the reason they need it)."""
    sid = request.query_params.get("student_id", "").strip()
    reason = request.query_params.get("reason", "").strip()
    if not sid:
        return RedirectResponse("/caseload", status_code=303)
    return RedirectResponse(f"/students/{quote(sid, safe='')}" + (f"?{urlencode({'reason': reason})}" if reason else ""), status_code=303)


@page
async def export(request: Request, visitor: Visitor) -> Response:
    """Everything LEAP holds about the student as one zip (the student's own right of access)."""
    from consumers.protection.sar import export_sar

    p = parts(request)
    sid = request.path_params["student_id"]
    reason = request.query_params.get("reason", "").strip()
    actor = replace(visitor.actor, purpose=reason) if reason else visitor.actor
    found = await db(request, export_sar, actor, sid, p.settings, live=p.live, stated="downloaded in the portal")
    return Response(found.data, media_type="application/zip", headers={"content-disposition": f'attachment; filename="{found.file_name}"'})


routes = [
    Route("/", home, methods=["GET"]),
    Route("/me", my_page, methods=["GET"]),
    Route("/caseload", caseload_page, methods=["GET"]),
    Route("/find", find_student, methods=["GET"]),
    Route("/students/{student_id}", student_page, methods=["GET"]),
    Route("/students/{student_id}/export", export, methods=["GET"]),
]
