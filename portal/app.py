"""The portal's assembly: settings, storage, sessions, sign-in, routes, headers, metrics.

``create_app()`` builds the ASGI application ``leap portal serve`` runs. Sessions are
Starlette's signed cookie (HttpOnly, SameSite=Lax, Secure when the portal is on https)
holding only a session id; the sign-in lives in Redis (``portal.sessions``).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from consumers.live import Live
from leap.connections import database_conninfo
from leap.health import READY
from leap.policy import Policy, cached_policy
from leap.settings import Settings, get_settings
from portal import auth, forms, inbox, pages
from portal.sessions import MAX_SECONDS, Sessions
from portal.web import TEMPLATES, Parts, log, render

REQUESTS = Counter("leap_portal_requests_total", "Portal HTTP requests by method and status class", ["method", "status"])
LATENCY = Histogram("leap_portal_request_seconds", "Portal request handling time (server-sent event streams excluded)")

# A page may load only this site's styles, scripts and images, and no site may frame it.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self' http: https:; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class Headers:
    """ASGI middleware: security headers on every response, no caching of pages, and metrics."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        streaming = scope["path"] == "/alerts/live"

        async def with_headers(message) -> None:  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                extra = list(SECURITY_HEADERS)
                if not scope["path"].startswith("/static/"):
                    extra.append((b"cache-control", b"no-store"))  # personal data stays off shared caches
                message["headers"] = list(message.get("headers", [])) + extra
                REQUESTS.labels(scope["method"], f"{message['status'] // 100}xx").inc()
            await send(message)

        await self.app(scope, receive, with_headers)
        if not streaming:
            LATENCY.observe(time.perf_counter() - started)


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))  # autoescapes .html: a note is shown as text
    templates.env.filters["day"] = lambda d: d.strftime("%-d %b %Y") if d else ""
    templates.env.filters["when"] = lambda t: t.strftime("%-d %b %Y %H:%M") if t else ""
    return templates


def _dev_examples(pool: ConnectionPool) -> list[dict]:
    """Users to try with the development sign-in: a student with a tutor and alerts, their tutor, staff, an administrator."""
    with pool.connection() as conn:
        found: list[dict] = []
        student = conn.execute(
            """SELECT s.student_id, s.personal_tutor FROM students s JOIN alerts a USING (student_id)
               WHERE s.personal_tutor IS NOT NULL ORDER BY a.created_at DESC LIMIT 1"""
        ).fetchone() or conn.execute("SELECT student_id, personal_tutor FROM students WHERE personal_tutor IS NOT NULL LIMIT 1").fetchone()
        if student:
            found.append({"user_id": student["student_id"], "who": "a student"})
            found.append({"user_id": student["personal_tutor"], "who": f"{student['student_id']}'s personal tutor"})
        for role, who in (("department_staff", "department staff"), ("support_service", "a support service"), ("admin", "a LEAP administrator")):
            row = conn.execute("SELECT user_id FROM staff WHERE %s = ANY(roles) ORDER BY user_id LIMIT 1", (role,)).fetchone()
            if row:
                found.append({"user_id": row["user_id"], "who": who})
        return found


async def healthz(request: Request) -> Response:
    """Liveness: the process answers (storage being away is readiness, not a reason to restart)."""
    return JSONResponse({"status": "ok"})


def _storage_problems(parts) -> dict[str, str]:  # type: ignore[no-untyped-def]
    problems = {}
    try:
        with parts.pool.connection(timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure is the answer, not a crash
        problems["postgres"] = str(exc)[:200]
    try:
        parts.live.ping()
    except Exception as exc:
        problems["redis"] = str(exc)[:200]
    return problems


async def readyz(request: Request) -> Response:
    """200 when PostgreSQL and Redis answer, else 503 naming what does not; ``leap_ready`` follows it."""
    problems = await asyncio.to_thread(_storage_problems, request.app.state.parts)
    READY.set(0 if problems else 1)
    return JSONResponse({"ok": not problems, **problems}, status_code=503 if problems else 200)


async def metrics(request: Request) -> Response:
    """Prometheus metrics of this process, ``leap_ready`` checked afresh for the scrape."""
    READY.set(0 if await asyncio.to_thread(_storage_problems, request.app.state.parts) else 1)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def not_found(request: Request, exc: Exception) -> Response:
    """The same page layout for an unknown address."""
    return render(request, "error.html", {"title": "Page not found", "message": "There is no page at this address."}, status=404)


async def server_error(request: Request, exc: Exception) -> Response:
    """A plain page for a failure of ours (the traceback goes to the log, not the browser)."""
    log.error("request failed", path=request.url.path, error=repr(exc)[:300])
    return Response(
        "<!doctype html><html lang=\"en-GB\"><head><meta charset=\"utf-8\"><title>Something went wrong · LEAP</title></head>"
        "<body><main><h1>Something went wrong</h1><p>LEAP could not show this page. The problem has been logged; please try again in a minute.</p>"
        "<p><a href=\"/\">Back to the start</a></p></main></body></html>",
        status_code=500,
        media_type="text/html",
    )


def create_app(settings: Settings | None = None, policy: Policy | None = None) -> Starlette:
    """The portal application (``leap portal serve`` runs it under uvicorn)."""
    settings = settings or get_settings()
    policy = policy or cached_policy(settings.policy_file)
    if settings.portal_dev_signin and not auth.dev_signin_allowed(settings.portal_url):
        raise ValueError(f"the development sign-in serves only a portal on loopback, not {settings.portal_url}; unset LEAP_PORTAL_DEV_SIGNIN")
    secret = settings.portal_secret or secrets.token_urlsafe(32)
    if not settings.portal_secret:
        log.warning("LEAP_PORTAL_SECRET is not set: a random key is used and sessions end when the portal restarts")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = ConnectionPool(database_conninfo(settings), min_size=1, max_size=8, open=False, kwargs={"autocommit": True, "row_factory": dict_row})
        pool.open(wait=False)
        live = Live.connect(settings)
        parts = Parts(settings, policy, pool, live, Sessions(live), _templates())
        if settings.oidc_issuer:
            from authlib.integrations.starlette_client import OAuth

            oauth = OAuth()
            parts.oauth_client = oauth.register(
                "university",
                server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
                client_id=settings.oidc_client_id,
                client_secret=settings.oidc_client_secret,
                client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
            )
        app.state.parts = parts
        app.state.dev_examples = _dev_examples(pool) if settings.portal_dev_signin else []
        log.info("portal ready", url=settings.portal_url, sso=bool(settings.oidc_issuer), dev_signin=settings.portal_dev_signin)
        try:
            yield
        finally:
            publisher = parts.extras.get("publisher")
            if publisher is not None:
                publisher.flush()
            pool.close()
            live.client.close()

    routes = [
        *auth.routes,
        *pages.routes,
        *forms.routes,
        *inbox.routes,
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Mount("/static", StaticFiles(directory=str(TEMPLATES.with_name("static"))), name="static"),
    ]
    middleware = [
        Middleware(Headers),
        Middleware(SessionMiddleware, secret_key=secret, session_cookie="leap_session", max_age=MAX_SECONDS,
                   same_site="lax", https_only=settings.portal_url.startswith("https://")),  # fmt: skip
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan, exception_handlers={404: not_found, Exception: server_error})
