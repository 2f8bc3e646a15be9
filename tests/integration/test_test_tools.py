"""The portal's test tooling works: the real OpenID provider, chromium with Playwright, axe-core.

Needs node and chromium (`make test-tools`), not Kafka, Redis or PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from collections.abc import Iterator
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from tests.support.browser import axe_violations, chromium, format_violations, save_screenshot
from tests.support.oidc import OidcProvider, OidcProviderError

REDIRECT = "http://127.0.0.1:1/callback"  # never fetched: the test stops at the redirect to it
AFTER_LOGOUT = "http://127.0.0.1:1/signed-out"
USERS = [
    {"username": "s1001", "password": "correct horse", "name": "Ada Lovelace", "email": "ada@uni.example"},
    {"username": "t2001", "sub": "staff-2001", "password": "battery staple", "name": "Alan Turing",
     "email": "alan@uni.example"},
]
CLIENTS = [
    {"client_id": "portal", "client_secret": "portal-secret", "redirect_uris": [REDIRECT],
     "post_logout_redirect_uris": [AFTER_LOGOUT]},
    {"client_id": "poster", "client_secret": "poster-secret", "redirect_uris": [REDIRECT],
     "token_endpoint_auth_method": "client_secret_post"},
]


@pytest.fixture(scope="module")
def op() -> Iterator[OidcProvider]:
    with OidcProvider(USERS, CLIENTS) as provider:
        yield provider


class Forms(HTMLParser):
    """The forms on a page: action, and the named inputs' values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "id": a.get("id"), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""


def forms_of(html: str) -> list[dict]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


def follow(http: httpx.Client, response: httpx.Response) -> httpx.Response:
    """Follow redirects inside the provider; stop at a page or at a redirect to the client."""
    while response.is_redirect:
        target = urljoin(str(response.url), response.headers["location"])
        if not target.startswith(str(http.base_url).rstrip("/")):
            return response
        response = http.get(target)
    return response


def authorize(http: httpx.Client, client_id: str = "portal") -> tuple[httpx.Response, dict[str, str]]:
    """GET the authorization endpoint with PKCE, state and nonce; follow it inside the provider."""
    verifier = secrets.token_urlsafe(48)
    request = {
        "client_id": client_id, "response_type": "code", "scope": "openid profile email",
        "redirect_uri": REDIRECT, "state": secrets.token_urlsafe(12), "nonce": secrets.token_urlsafe(12),
        "code_challenge": base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    return follow(http, http.get("/auth", params=request)), {**request, "code_verifier": verifier}


def begin(http: httpx.Client, client_id: str = "portal") -> tuple[httpx.Response, dict[str, str]]:
    """Start an authorization request that must end on the login page; return the page."""
    page, request = authorize(http, client_id)
    assert page.status_code == 200 and 'name="password"' in page.text, page.text
    return page, request


def submit_login(http: httpx.Client, page: httpx.Response, username: str, password: str) -> httpx.Response:
    (login,) = [f for f in forms_of(page.text) if f["action"] and f["action"].endswith("/login")]
    return http.post(urljoin(str(page.url), login["action"]), data={"username": username, "password": password})


def code_from(response: httpx.Response, request: dict[str, str]) -> str:
    assert response.is_redirect, f"expected a redirect to the client, got {response.status_code}: {response.text}"
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query.get("state") == request["state"], query
    assert "error" not in query, query
    return query["code"]


def exchange(op: OidcProvider, code: str, request: dict[str, str], client: dict, basic: bool) -> dict:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": request["code_verifier"]}
    if basic:
        auth = (client["client_id"], client["client_secret"])
    else:
        auth, form = None, {**form, "client_id": client["client_id"], "client_secret": client["client_secret"]}
    discovery = op.discovery()
    response = httpx.post(discovery["token_endpoint"], data=form, auth=auth, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def verified_claims(op: OidcProvider, id_token: str) -> dict:
    """The ID token's claims after checking its signature against the provider's JWKS."""
    keys = KeySet.import_key_set(httpx.get(op.discovery()["jwks_uri"], timeout=5).json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    return token.claims


def sign_in(op: OidcProvider, username: str, password: str, client: dict) -> tuple[dict, dict]:
    with httpx.Client(base_url=op.issuer, timeout=10) as http:
        page, request = begin(http, client["client_id"])
        code = code_from(follow(http, submit_login(http, page, username, password)), request)
    tokens = exchange(op, code, request, client, basic=client.get("token_endpoint_auth_method") != "client_secret_post")
    return tokens, request


# ---------------------------------------------------------------- the provider


def test_discovery_names_the_issuer_and_the_endpoints_the_portal_needs(op: OidcProvider) -> None:
    d = op.discovery()
    assert d["issuer"] == op.issuer == f"http://127.0.0.1:{op.port}"
    endpoints = ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint", "end_session_endpoint")
    for endpoint in endpoints:
        assert d[endpoint].startswith(op.issuer + "/"), endpoint
    assert "S256" in d["code_challenge_methods_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(d["token_endpoint_auth_methods_supported"])
    assert {"sub", "preferred_username", "email", "name"} <= set(d["claims_supported"])


@pytest.mark.parametrize("user, client", [(USERS[0], CLIENTS[0]), (USERS[1], CLIENTS[1])],
                         ids=["basic-auth-student", "post-auth-staff"])
def test_code_flow_yields_a_signed_id_token_with_the_users_claims(op: OidcProvider, user: dict, client: dict) -> None:
    with httpx.Client(base_url=op.issuer, timeout=10) as http:
        page, request = begin(http, client["client_id"])
        wrong = submit_login(http, page, user["username"], user["password"] + "x")
        # The form again, with the error and the username kept; no redirect, so no code.
        assert wrong.status_code == 200 and not wrong.is_redirect
        assert "Wrong username or password." in wrong.text and 'name="password"' in wrong.text
        assert f'value="{user["username"]}"' in wrong.text
        code = code_from(follow(http, submit_login(http, wrong, user["username"], user["password"])), request)
    basic = client.get("token_endpoint_auth_method") != "client_secret_post"
    tokens = exchange(op, code, request, client, basic=basic)
    claims = verified_claims(op, tokens["id_token"])
    assert claims["iss"] == op.issuer and claims["aud"] == client["client_id"]
    assert claims["nonce"] == request["nonce"]
    assert claims["sub"] == user.get("sub", user["username"])
    assert claims["preferred_username"] == user["username"]
    assert (claims["name"], claims["email"]) == (user["name"], user["email"])
    userinfo = httpx.get(op.discovery()["userinfo_endpoint"], timeout=5,
                         headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert userinfo["preferred_username"] == user["username"]


def test_a_tampered_id_token_fails_verification(op: OidcProvider) -> None:
    tokens, _ = sign_in(op, "s1001", "correct horse", CLIENTS[0])
    header, payload, signature = tokens["id_token"].split(".")
    forged = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(payload + "==").replace(b"s1001", b"s1002")).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        verified_claims(op, f"{header}.{forged}.{signature}")


@pytest.mark.parametrize("username, password", [
    ("s1001", "wrong"), ("s1001", ""), ("s1001", "battery staple"),  # wrong, empty, another user's
    ("nobody", "correct horse"), ("S1001", "correct horse"),  # unknown user; usernames are exact
])
def test_a_wrong_password_never_yields_a_code(op: OidcProvider, username: str, password: str) -> None:
    with httpx.Client(base_url=op.issuer, timeout=10) as http:
        page, _ = begin(http)
        for _ in range(3):
            page = submit_login(http, page, username, password)
            assert page.status_code == 200 and not page.is_redirect
            assert "Wrong username or password." in page.text
            assert "code=" not in page.text and REDIRECT not in page.text


def test_cancelling_sign_in_returns_access_denied(op: OidcProvider) -> None:
    with httpx.Client(base_url=op.issuer, timeout=10) as http:
        page, request = begin(http)
        (abort,) = [f for f in forms_of(page.text) if f["action"].endswith("/abort")]
        response = follow(http, http.post(urljoin(str(page.url), abort["action"])))
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["access_denied"] and "code" not in query and query["state"] == [request["state"]]


def test_rp_initiated_logout_ends_the_session_and_returns_to_the_client(op: OidcProvider) -> None:
    with httpx.Client(base_url=op.issuer, timeout=10) as http:
        page, request = begin(http)
        code = code_from(follow(http, submit_login(http, page, "s1001", "correct horse")), request)
        tokens = exchange(op, code, request, CLIENTS[0], basic=True)
        # Signed in: a second authorization request goes straight back with a code, no login page.
        code_from(*authorize(http))
        confirm = follow(http, http.get(op.discovery()["end_session_endpoint"], params={
            "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": AFTER_LOGOUT, "state": "bye"}))
        assert confirm.status_code == 200, confirm.text
        (form,) = [f for f in forms_of(confirm.text) if f["id"] == "op.logoutForm"]
        done = http.post(urljoin(str(confirm.url), form["action"]), data={**form["fields"], "logout": "yes"})
        assert done.is_redirect and done.headers["location"] == f"{AFTER_LOGOUT}?state=bye"
        # Signed out: the next authorization request asks for the password again.
        begin(http)


def test_a_misconfigured_client_is_named_in_a_clear_error() -> None:
    with pytest.raises(OidcProviderError, match='client "broken" has no redirect_uris'):
        OidcProvider(USERS, [{"client_id": "broken", "client_secret": "x"}], startup_seconds=15).start()


# ---------------------------------------------------------------- the browser


ACCESSIBLE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Fine</title></head>
<body><main><h1>Engagement</h1><p>Your band is good.</p>
<form><label for="note">Note</label><input id="note" name="note"><button>Save</button></form></main></body></html>"""
INACCESSIBLE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Broken</title></head>
<body><main><h1>Engagement</h1><img src="chart.png"><p>Your band is good.</p></main></body></html>"""


class StrictHandler(SimpleHTTPRequestHandler):
    """Serves the folder with a Content-Security-Policy like the portal's: no inline scripts."""

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", "default-src 'self'; script-src 'self'")
        super().end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("site")
    (root / "accessible.html").write_text(ACCESSIBLE)
    (root / "inaccessible.html").write_text(INACCESSIBLE)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(StrictHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_axe_finds_nothing_serious_on_an_accessible_page_and_the_missing_alt_on_the_other(site: str) -> None:
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{site}/accessible.html")
        assert page.title() == "Fine"
        assert axe_violations(page) == [], format_violations(axe_violations(page))
        page.goto(f"{site}/inaccessible.html")
        found = axe_violations(page)
        assert [(v["id"], v["impact"], v["targets"]) for v in found] == [("image-alt", "critical", ["img"])]
        assert axe_violations(page, impacts=("minor",)) == []


def test_screenshot_is_a_png_in_the_screenshot_dir(site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAP_SCREENSHOT_DIR", str(tmp_path / "shots"))
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 640, "height": 400})
        page.goto(f"{site}/accessible.html")
        path = save_screenshot(page, "student page/1")
    assert path == tmp_path / "shots" / "student-page-1.png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (640, 400)


def test_signing_in_through_the_provider_in_chromium(op: OidcProvider) -> None:
    """The login page works in the real browser and passes axe; a wrong password shows the error."""
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{op.issuer}/auth?client_id=portal&response_type=code&scope=openid&redirect_uri={REDIRECT}"
                  "&code_challenge=" + "a" * 43 + "&code_challenge_method=S256")
        assert axe_violations(page) == [], format_violations(axe_violations(page))
        page.get_by_label("Username").fill("s1001")
        page.get_by_label("Password").fill("nope")
        page.get_by_role("button", name="Sign in").click()
        assert page.get_by_role("alert").inner_text() == "Wrong username or password."
        assert axe_violations(page) == [], format_violations(axe_violations(page))
        page.get_by_label("Password").fill("correct horse")
        with page.expect_request(re.compile(re.escape(REDIRECT) + r"\?code=")) as redirect:
            page.get_by_role("button", name="Sign in").click()
        assert "code=" in redirect.value.url
