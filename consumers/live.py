"""Redis: each student's current band for fast reads, and a live alert stream per recipient.

Keys (``P`` is ``LEAP_TOPIC_PREFIX``, so deployments and test runs do not share keys):
- ``P:student:<id>``: hash of band, score, days_since_last_activity, day, cohort,
  explanation (JSON) and updated_at;
- ``P:alerts:<recipient>``: stream of that recipient's alerts, newest last (capped);
- ``P:portal:session:<hash of a session id>``: a signed-in portal session (``portal.sessions``);
- ``P:alert-published:<alert id>``: marker that makes putting an alert on its stream
  idempotent (a Lua script checks and adds in one step), so a crash between Redis and
  PostgreSQL's bookkeeping never shows a tutor the same alert twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import redis

from leap.connections import redis_client
from leap.settings import Settings

_PUBLISH_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
end
return false
"""

MARKER_SECONDS = 90 * 86400
STREAM_LENGTH = 10_000


class Live:
    """LEAP's Redis keys, read and written."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._publish_once = client.register_script(_PUBLISH_ONCE)

    @classmethod
    def connect(cls, settings: Settings) -> Live:
        """Connect (lazily) to the settings' Redis, with their password and TLS, under their topic prefix."""
        return cls(redis_client(settings, decode_responses=True, socket_timeout=5, socket_connect_timeout=5), settings.topic_prefix)

    def student_key(self, student_id: str) -> str:
        """The hash holding a student's current state."""
        return f"{self.prefix}:student:{student_id}"

    def stream_key(self, recipient: str) -> str:
        """The stream of a recipient's alerts."""
        return f"{self.prefix}:alerts:{recipient}"

    def put_states(self, states: Iterable[Mapping]) -> int:
        """Write students' current states (one round trip for all)."""
        pipe = self.client.pipeline(transaction=False)
        n = 0
        for s in states:
            explanation = s["explanation"]
            pipe.hset(
                self.student_key(s["student_id"]),
                mapping={
                    "band": s["band"],
                    "score": "" if s["score"] is None else repr(float(s["score"])),
                    "days_since_last_activity": "" if s["days_since_last_activity"] is None else str(s["days_since_last_activity"]),
                    "day": str(s["day"]),
                    "cohort": s["cohort"],
                    "explanation": explanation if isinstance(explanation, str) else json.dumps(explanation),
                    "updated_at": str(s["updated_at"]),
                },
            )
            n += 1
        pipe.execute()
        return n

    def state(self, student_id: str) -> dict:
        """A student's current state as stored (empty when unknown)."""
        return self.client.hgetall(self.student_key(student_id))

    def publish_alert(self, alert: Mapping) -> bool:
        """Put an alert on its recipient's stream once; False if it was already there."""
        fields = {
            "alert_id": str(alert["alert_id"]),
            "student_id": alert["student_id"],
            "kind": alert["kind"],
            "band": alert.get("band") or "",
            "score": "" if alert.get("score") is None else f"{alert['score']:.1f}",
            "days_since_last_activity": "" if alert.get("days_since_last_activity") is None else str(alert["days_since_last_activity"]),
            "day": str(alert["day"]),
            "reason": alert["reason"],
            "raised_at": str(alert.get("raised_at") or ""),
        }
        args: list = [MARKER_SECONDS, STREAM_LENGTH]
        for key, value in fields.items():
            args += [key, value]
        marker = self.marker_key(fields["alert_id"])
        return self._publish_once(keys=[self.stream_key(alert["recipient"]), marker], args=args) is not None

    def alerts_for(self, recipient: str, count: int = 1000) -> list[dict]:
        """A recipient's alerts on their stream, oldest first."""
        return [fields for _, fields in self.client.xrange(self.stream_key(recipient), count=count)]

    def marker_key(self, alert_id: str) -> str:
        """The marker saying an alert was put on its stream."""
        return f"{self.prefix}:alert-published:{alert_id}"

    def alert_streams(self) -> list[str]:
        """Every recipient's alert stream."""
        return sorted(self.client.scan_iter(match=f"{self.prefix}:alerts:*", count=1000, _type="stream"))

    def entries_about(self, student_id: str) -> list[dict]:
        """Every entry about the student on any recipient's alert stream: stream, recipient, entry id, fields."""
        found = []
        start = len(self.stream_key(""))
        for stream in self.alert_streams():
            for entry_id, fields in self.client.xrange(stream):  # streams are capped (STREAM_LENGTH)
                if fields.get("student_id") == student_id:
                    found.append({"stream": stream, "recipient": stream[start:], "entry_id": entry_id, "fields": fields})
        return found

    def forget(self, student_id: str, alert_ids: Iterable[str]) -> dict[str, int]:
        """Remove the student's state, their entries on every alert stream, their alerts' markers and their portal sessions; counts."""
        entries = self.entries_about(student_id)
        by_stream: dict[str, list[str]] = {}
        for entry in entries:
            by_stream.setdefault(entry["stream"], []).append(entry["entry_id"])
        removed = {"state": int(self.client.delete(self.student_key(student_id))), "alert_stream_entries": 0, "alert_markers": 0}
        for stream, ids in by_stream.items():
            removed["alert_stream_entries"] += int(self.client.xdel(stream, *ids))
        markers = [self.marker_key(str(a)) for a in alert_ids]
        if markers:
            removed["alert_markers"] = int(self.client.delete(*markers))
        removed["portal_sessions"] = self.end_sessions_of(student_id)
        return removed

    @property
    def session_prefix(self) -> str:
        """Where the portal keeps sign-ins (``portal.sessions``): one hash per session, with its ``user_id``."""
        return f"{self.prefix}:portal:session:"

    def end_sessions_of(self, user_id: str) -> int:
        """End every portal session of a user (an erased student, a leaver); return how many."""
        sessions = [k for k in self.client.scan_iter(match=self.session_prefix + "*", count=500, _type="hash") if self.client.hget(k, "user_id") == user_id]
        return int(self.client.delete(*sessions)) if sessions else 0

    def clear(self) -> int:
        """Delete every key under this prefix (``leap reset``); return how many."""
        keys = list(self.client.scan_iter(match=f"{self.prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            self.client.delete(*keys[start : start + 1000])
        return len(keys)

    def ping(self) -> bool:
        """Whether Redis answers."""
        return bool(self.client.ping())
