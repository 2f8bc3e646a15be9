"""The alert inbox: alerts about the visitor's students, worked on in place, and live arrivals.

Live updates are server-sent events from the visitor's own Redis alert stream (the one the
consumer writes, ``consumers.live``): each new alert is checked against the access policy,
logged like any other view, and sent as the same HTML fragment the page renders, which the
page's small script inserts. Without JavaScript the inbox is a normal page to reload.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from sse_starlette.sse import EventSourceResponse
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consumers import records
from consumers.records.guard import log_allowed
from leap.access import decide
from leap.explain import band_name
from portal.forms import field
from portal.web import Visitor, blocking, db, form, page, parts, render, visitor_of

OPEN = ("new", "acknowledged")
BLOCK_MS = 4000  # under the Redis client's socket timeout, so a quiet stream is not an error


@page
async def inbox(request: Request, visitor: Visitor) -> Response:
    """Open alerts about the visitor's students, newest first."""
    rows = await db(request, records.alerts_for, visitor.actor, None, OPEN)
    return render(request, "alerts.html", {"title": "Alerts", "alerts": rows, "band_name": band_name}, visitor=visitor)


@form
async def update_alert(request: Request, visitor: Visitor, data: FormData) -> str:
    """Acknowledge, or close as actioned (what was done) or dismissed (why)."""
    status = field(data, "status")
    row = await db(request, records.update_alert, visitor.actor, request.path_params["alert_id"], status, field(data, "note").strip() or None)
    return f"Alert about {row['student_id']} {row['status']}."


def _visible_alert(conn, actor, fields: dict) -> dict | None:  # type: ignore[no-untyped-def]
    """The stream entry as an alert row if ``actor`` may see the student's records (logged), else None."""
    relation = records.relation_for(conn, fields["student_id"])
    decision = decide(actor, "view_records", relation)
    if not decision.allowed:
        return None
    with conn.transaction():
        log_allowed(conn, actor, decision, "view_records", fields["student_id"], "alert", fields.get("alert_id"))
        row = conn.execute("SELECT status FROM alerts WHERE alert_id = %s", (fields["alert_id"],)).fetchone()
    return {**fields, "status": row["status"] if row else "new", "band": fields.get("band") or None}


async def live(request: Request) -> Response:
    """Server-sent events: each alert put on the visitor's stream from now on (or after Last-Event-ID)."""
    visitor = await visitor_of(request)
    if visitor is None:
        return Response("sign in first", status_code=401)
    p = parts(request)
    key = p.live.stream_key(visitor.actor.user_id)
    start = request.headers.get("last-event-id") or "$"
    if start == "$":  # resolve "now" once, so nothing that arrives between two reads is missed
        newest = await blocking(p.live.client.xrevrange, key, count=1)
        start = newest[0][0] if newest else "0-0"
    template = p.templates.get_template("_alert.html")

    async def events() -> AsyncIterator[dict]:
        last = start
        yield {"event": "ready", "data": "listening"}
        while True:
            if await blocking(p.sessions.get, visitor.signin.sid) is None:
                yield {"event": "signed-out", "data": ""}
                return
            found = await blocking(p.live.client.xread, {key: last}, count=20, block=BLOCK_MS)
            for _, entries in found or []:
                for entry_id, fields in entries:
                    last = entry_id
                    alert = await db(request, _visible_alert, visitor.actor, fields)
                    if alert is not None:
                        html = template.render(a=alert, csrf=visitor.signin.csrf, band_name=band_name, fresh=True)
                        yield {"event": "alert", "id": entry_id, "data": html.replace("\n", " ")}
            await asyncio.sleep(0)

    return EventSourceResponse(events(), ping=15)


routes = [
    Route("/alerts", inbox, methods=["GET"]),
    Route("/alerts/live", live, methods=["GET"]),
    Route("/alerts/{alert_id}", update_alert, methods=["POST"]),
]
