"""Signing in and out: the university's OpenID Connect provider, or (``make run`` only) a
development sign-in.

OpenID Connect is the authorization-code flow with PKCE, through Authlib: the provider's ID
token is verified (signature, issuer, audience, nonce) by Authlib, and the user id is the
claim ``LEAP_OIDC_USER_CLAIM`` (``preferred_username`` by default). A user the staff
directory and the roster do not know is refused with a page that says so. The development
sign-in is off unless ``LEAP_PORTAL_DEV_SIGNIN`` is set, and refuses to run on an address
other people could reach.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from consumers import records
from portal.sessions import csrf_matches
from portal.web import blocking, db, flash, log, parts, render, safe_back, visitor_of


def home_of(roles: frozenset[str]) -> str:
    """Where a user lands after signing in: staff on their caseload, students on their page."""
    return "/caseload" if roles - {"student"} else "/me"


def dev_signin_allowed(portal_url: str) -> bool:
    """The development sign-in only ever serves a portal on this machine's loopback."""
    host = urlsplit(portal_url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


async def signin_page(request: Request) -> Response:
    """The sign-in page: the university's single sign-on, and the development sign-in if on."""
    if await visitor_of(request) is not None:
        return RedirectResponse("/", status_code=303)
    request.session.setdefault("pre_csrf", secrets.token_urlsafe(32))
    p = parts(request)
    examples = request.app.state.dev_examples if p.settings.portal_dev_signin else []
    return render(request, "signin.html", {"title": "Sign in", "sso": p.oauth_client is not None,
                                           "next": safe_back(request.query_params.get("next"), ""), "examples": examples})  # fmt: skip


async def sso_start(request: Request) -> Response:
    """Off to the university's sign-in page."""
    client = parts(request).oauth_client
    if client is None:
        return render(request, "error.html", {"title": "Single sign-on is not set up", "message": "LEAP_OIDC_ISSUER is empty."}, status=404)
    request.session["next"] = safe_back(request.query_params.get("next"), "")
    return await client.authorize_redirect(request, parts(request).settings.portal_url.rstrip("/") + "/auth/callback")


async def sso_callback(request: Request) -> Response:
    """Back from the provider: verify, look the user up, start a fresh session."""
    p = parts(request)
    if p.oauth_client is None:
        return RedirectResponse("/signin", status_code=303)
    try:
        token = await p.oauth_client.authorize_access_token(request)
    except Exception as exc:  # Authlib raises its own errors for a bad state, code or token
        log.warning("sign-in failed at the provider's callback", error=str(exc))
        return render(request, "error.html", {"title": "Sign-in failed", "message": f"The sign-in could not be completed ({exc}). Please try again."}, status=400)
    claims = token.get("userinfo") or {}
    user_id = claims.get(p.settings.oidc_user_claim)
    if not isinstance(user_id, str) or not user_id:
        return render(request, "error.html", {"title": "Sign-in failed", "message": f"The university's sign-in did not say who you are (no {p.settings.oidc_user_claim})."}, status=400)
    return await _start(request, user_id, "oidc", id_token=token.get("id_token", ""))


async def dev_signin(request: Request) -> Response:
    """DEVELOPMENT ONLY: sign in as a user id from the roster or the staff directory."""
    p = parts(request)
    if not p.settings.portal_dev_signin:
        return render(request, "error.html", {"title": "Not available", "message": "The development sign-in is off."}, status=404)
    data = await request.form()
    if not csrf_matches(request.session.get("pre_csrf", ""), data.get("csrf")):
        return render(request, "error.html", {"title": "Form refused", "message": "This sign-in form is old or not from LEAP; please try again."}, status=403)
    user_id = str(data.get("user_id", "")).strip()
    request.session["next"] = safe_back(data.get("next"), "")
    return await _start(request, user_id, "development")


async def _start(request: Request, user_id: str, via: str, *, id_token: str = "") -> Response:
    p = parts(request)
    try:
        actor = await db(request, records.actor_for, user_id)
    except records.UnknownUser:
        log.warning("sign-in refused: unknown user", user=user_id, via=via)
        return render(request, "error.html", {"title": "No LEAP account", "message": f"{user_id!r} signed in, but is neither on the student roster nor in LEAP's staff directory. Ask your department if you think you should have access."}, status=403)
    nxt = request.session.pop("next", "")
    await blocking(p.sessions.end, request.session.get("sid"))
    request.session.clear()  # a fresh cookie: nothing from before the sign-in carries over
    signin = await blocking(p.sessions.start, user_id, via, id_token=id_token)
    request.session["sid"] = signin.sid
    log.info("signed in", user=user_id, via=via, roles=sorted(actor.roles))
    return RedirectResponse(nxt or home_of(actor.roles), status_code=303)


async def signout(request: Request) -> Response:
    """End the session (on the server, not only the cookie); then the provider's sign-out."""
    p = parts(request)
    visitor = await visitor_of(request)
    data = await request.form()
    if visitor is not None and not csrf_matches(visitor.signin.csrf, data.get("csrf")):
        return render(request, "error.html", {"title": "Form refused", "message": "This sign-out form is old or not from LEAP; please try again."}, visitor=visitor, status=403)
    id_token = visitor.signin.id_token if visitor else ""
    if visitor is not None:
        await blocking(p.sessions.end, visitor.signin.sid)
        log.info("signed out", user=visitor.actor.user_id)
    request.session.clear()
    flash(request, "You have signed out of LEAP.")
    if p.oauth_client is not None and id_token:
        metadata = await p.oauth_client.load_server_metadata()
        end = metadata.get("end_session_endpoint")
        if end:
            back = p.settings.portal_url.rstrip("/") + "/signin"
            return RedirectResponse(f"{end}?{urlencode({'id_token_hint': id_token, 'post_logout_redirect_uri': back})}", status_code=303)
    return RedirectResponse("/signin", status_code=303)


routes = [
    Route("/signin", signin_page, methods=["GET"]),
    Route("/signin/sso", sso_start, methods=["GET"]),
    Route("/auth/callback", sso_callback, methods=["GET"]),
    Route("/signin/dev", dev_signin, methods=["POST"]),
    Route("/signout", signout, methods=["POST"]),
]
