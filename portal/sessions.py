"""Sign-ins kept in Redis, and the CSRF token of each.

The browser holds only a random session id inside Starlette's signed, HttpOnly, SameSite=Lax
cookie; who is signed in lives here, under a hash of that id (a Redis dump gives no usable
cookie). So signing out, or a leaver's removal, ends the session at once on the server, not
only in the browser. The id is replaced at every sign-in (no fixation) and every
``ROTATE_SECONDS`` while in use; the old id stays valid for ``GRACE_SECONDS`` so requests
already in flight (a live alert stream, a second tab) are not signed out by the rotation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from consumers.live import Live

IDLE_SECONDS = 8 * 3600  # signed out after a working day without a request
MAX_SECONDS = 12 * 3600  # and after twelve hours whatever happens
ROTATE_SECONDS = 15 * 60
GRACE_SECONDS = 60


@dataclass(frozen=True)
class SignIn:
    """One signed-in browser: who, how (``oidc`` or ``development``), its CSRF token."""

    sid: str
    user_id: str
    via: str
    csrf: str
    created: float
    rotated: float
    id_token: str = ""


def csrf_matches(expected: str, submitted: object) -> bool:
    """Whether a form's token is the session's (constant time; anything missing is a mismatch)."""
    return bool(expected) and isinstance(submitted, str) and hmac.compare_digest(expected.encode(), submitted.encode())


class Sessions:
    """The signed-in sessions of the portal, in Redis under ``Live.session_prefix``."""

    def __init__(self, live: Live) -> None:
        self.live = live
        self.client = live.client

    def _key(self, sid: str) -> str:
        return self.live.session_prefix + hashlib.sha256(sid.encode()).hexdigest()

    def start(self, user_id: str, via: str, *, id_token: str = "", now: float | None = None) -> SignIn:
        """A new session for ``user_id`` (a fresh id and CSRF token)."""
        now = time.time() if now is None else now
        found = SignIn(secrets.token_urlsafe(32), user_id, via, secrets.token_urlsafe(32), now, now, id_token)
        self._store(found)
        return found

    def _store(self, s: SignIn) -> None:
        key = self._key(s.sid)
        pipe = self.client.pipeline()
        pipe.hset(key, mapping={"user_id": s.user_id, "via": s.via, "csrf": s.csrf, "created": repr(s.created),
                                "rotated": repr(s.rotated), "id_token": s.id_token})  # fmt: skip
        pipe.expire(key, IDLE_SECONDS)
        pipe.execute()

    def get(self, sid: object, *, now: float | None = None) -> SignIn | None:
        """The live session with this id (its idle timer restarted), or None."""
        if not isinstance(sid, str) or not sid:
            return None
        now = time.time() if now is None else now
        key = self._key(sid)
        raw = self.client.hgetall(key)
        if not raw:
            return None
        found = SignIn(sid, raw["user_id"], raw["via"], raw["csrf"], float(raw["created"]), float(raw["rotated"]), raw.get("id_token", ""))
        if now - found.created > MAX_SECONDS:
            self.client.delete(key)
            return None
        if self.client.ttl(key) > GRACE_SECONDS:  # a rotated-away id keeps its short grace
            self.client.expire(key, IDLE_SECONDS)
        return found

    def rotate_if_due(self, s: SignIn, *, now: float | None = None) -> SignIn:
        """``s`` under a new id if it is due for one (the old id lapses after the grace period)."""
        now = time.time() if now is None else now
        if now - s.rotated < ROTATE_SECONDS:
            return s
        fresh = SignIn(secrets.token_urlsafe(32), s.user_id, s.via, s.csrf, s.created, now, s.id_token)
        self._store(fresh)
        self.client.expire(self._key(s.sid), GRACE_SECONDS)
        return fresh

    def end(self, sid: object) -> None:
        """Sign out: the session id is no longer valid anywhere."""
        if isinstance(sid, str) and sid:
            self.client.delete(self._key(sid))

    def end_user(self, user_id: str) -> int:
        """End every session of a user (a leaver, a compromised account); return how many."""
        return self.live.end_sessions_of(user_id)
