"""What every page and form handler shares: the portal's parts, who is signed in, rendering.

Handlers are ``async`` (Starlette), and everything blocking (PostgreSQL, Redis) runs in the
thread pool through :func:`db` and :func:`blocking`. ``page`` and ``form`` wrap handlers
with the sign-in check, the CSRF check on every POST, and one way of showing a refusal.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from consumers import records
from consumers.live import Live
from leap.access import Actor
from leap.log import get_logger
from leap.policy import Policy
from leap.settings import Settings
from portal.sessions import Sessions, SignIn, csrf_matches

TEMPLATES = Path(__file__).with_name("templates")
log = get_logger("leap.portal")


@dataclass
class Parts:
    """The portal's long-lived parts (one per process, on ``app.state.parts``)."""

    settings: Settings
    policy: Policy
    pool: ConnectionPool
    live: Live
    sessions: Sessions
    templates: Jinja2Templates
    oauth_client: Any = None  # Authlib's client for the university's OpenID provider, if configured
    extras: dict[str, Any] = field(default_factory=dict)  # lazily made: the corrections publisher


@dataclass(frozen=True)
class Visitor:
    """The signed-in person: their session and who the directory says they are."""

    signin: SignIn
    actor: Actor

    @property
    def is_staff(self) -> bool:
        return bool(self.actor.roles - {"student"})


def parts(request: Request) -> Parts:
    """The portal's parts."""
    return request.app.state.parts


async def blocking(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run blocking work (Redis, Kafka) off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def db(request: Request, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(conn, *args, **kwargs)`` on a pooled autocommit connection, off the event loop."""
    pool = parts(request).pool

    def call() -> Any:
        with pool.connection() as conn:
            return fn(conn, *args, **kwargs)

    return await run_in_threadpool(call)


async def visitor_of(request: Request) -> Visitor | None:
    """Who is signed in on this request, or None (a session whose user left the directory is ended)."""
    p = parts(request)
    signin = await blocking(p.sessions.get, request.session.get("sid"))
    if signin is None:
        return None
    try:
        actor = await db(request, records.actor_for, signin.user_id)
    except records.UnknownUser:
        await blocking(p.sessions.end, signin.sid)
        request.session.pop("sid", None)
        return None
    fresh = await blocking(p.sessions.rotate_if_due, signin)
    if fresh.sid != signin.sid:
        request.session["sid"] = fresh.sid
    return Visitor(fresh, actor)


def flash(request: Request, message: str, kind: str = "info") -> None:
    """A message shown once on the next page (kind ``info`` or ``error``)."""
    request.session["flash"] = {"message": message, "kind": kind}


def render(request: Request, template: str, context: dict[str, Any], *, visitor: Visitor | None = None, status: int = 200) -> Response:
    """A page from ``portal/templates`` with the visitor, their CSRF token and any flash message."""
    p = parts(request)
    ctx = {
        "visitor": visitor,
        "csrf": visitor.signin.csrf if visitor else request.session.get("pre_csrf", ""),
        "flash": request.session.pop("flash", None),
        "dev_signin": p.settings.portal_dev_signin,
        **context,
    }
    return p.templates.TemplateResponse(request, template, ctx, status_code=status)


def safe_back(value: object, default: str) -> str:
    """Where to go after a form: a path on this site only (never another host)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


_STATUS = {records.Forbidden: 403, records.NotFound: 404, records.UnknownUser: 403}


def refused(request: Request, visitor: Visitor | None, exc: records.RecordError) -> Response:
    """A page saying why a request was refused (the refusal itself is in the access log)."""
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
    return render(request, "error.html", {"title": "Not available", "message": str(exc)}, visitor=visitor, status=status)


Handler = Callable[..., Awaitable[Response]]


def page(handler: Handler) -> Handler:
    """A page for signed-in visitors: ``handler(request, visitor)``; others go to sign in."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        visitor = await visitor_of(request)
        if visitor is None:
            return RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)
        try:
            return await handler(request, visitor)
        except records.RecordError as exc:
            return refused(request, visitor, exc)

    return endpoint


FormHandler = Callable[[Request, Visitor, FormData], Awaitable["str | tuple[str, str]"]]


def form(handler: FormHandler) -> Handler:
    """A POST handler: signed in, CSRF token checked, then ``handler(request, visitor, form)``.

    The handler returns the message to show (or ``(message, path)`` to go elsewhere than the
    form's ``back`` path, when the change ended the visitor's access to that page); a refusal
    or bad input is shown instead. The browser is redirected (post/redirect/get).
    """

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        visitor = await visitor_of(request)
        if visitor is None:
            return RedirectResponse("/signin", status_code=303)
        data = await request.form()
        if not csrf_matches(visitor.signin.csrf, data.get("csrf")):
            log.warning("form refused: missing or wrong CSRF token", path=request.url.path, user=visitor.actor.user_id)
            message = "This form did not come from your LEAP session (it may be old, or from another site). Nothing was saved; please try again."
            return render(request, "error.html", {"title": "Form refused", "message": message}, visitor=visitor, status=403)
        back = safe_back(data.get("back"), "/")
        try:
            reply = await handler(request, visitor, data)
            if isinstance(reply, tuple):  # (message, where to go instead of ``back``)
                reply, back = reply[0], safe_back(reply[1], back)
            flash(request, reply)
        except records.RecordError as exc:
            flash(request, str(exc), "error")
        except ValueError as exc:  # a date, a number or a source the form could not read
            flash(request, str(exc), "error")
        return RedirectResponse(back, status_code=303)

    return endpoint

