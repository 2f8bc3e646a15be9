"""Optional delivery channels: email (immediate or a daily digest per recipient) and a signed webhook.

Deliveries are queued in ``alert_deliveries`` in the transaction that raises the alert (an
outbox), and sent from there: a crash between sending and recording can repeat a delivery
but never lose one. Receivers de-duplicate by the alert id, which every email carries as its
Message-ID and every webhook call in its body and the ``X-LEAP-Alert-Id`` header. A webhook
call that fails is retried with exponential backoff, up to ``max_attempts``; then the
delivery is marked failed (and counted) while the alert stays in PostgreSQL and on Redis.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import urllib.error
import urllib.request
from urllib.parse import quote
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import psycopg
from prometheus_client import Counter

from consumers.records.guard import audit
from leap.explain import band_name, explain
from leap.log import get_logger
from leap.policy import Email, Engagement, Webhook

log = get_logger("leap.delivery")

DELIVERIES = Counter("leap_alert_deliveries_total", "Alert deliveries by channel and outcome", ["channel", "outcome"])

_FIELDS = ("alert_id", "student_id", "kind", "recipient", "day", "band", "score", "days_since_last_activity", "reason", "raised_at")


def alert_payload(alert: Mapping) -> dict:
    """The JSON body of an alert (webhook) with plain types."""
    body = {k: alert.get(k) for k in _FIELDS}
    for key in ("alert_id", "day", "raised_at"):
        if body[key] is not None:
            body[key] = str(body[key]) if key != "raised_at" else body[key].isoformat()
    return body


def sign(body: bytes, secret: str) -> str:
    """The ``X-LEAP-Signature`` header: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def student_link(portal_url: str, student_id: str) -> str:
    """The student's page in the portal (the id quoted: it is the university's, not ours)."""
    return f"{portal_url.rstrip('/')}/students/{quote(student_id, safe='')}"


def _line(alert: Mapping, portal_url: str = "") -> str:
    band = band_name(alert["band"]) if alert.get("band") else "-"
    where = student_link(portal_url, alert["student_id"]) if portal_url else f"`leap status {alert['student_id']}`"
    return f"- {alert['student_id']}: {alert['reason']} (band {band}, {alert['day']}); see {where}"


def _explained(alert: Mapping, engagement: Engagement | None, names: Mapping[str, str] | None) -> str:
    """The alert's explanation in words for staff, as a paragraph (empty without one)."""
    explanation = alert.get("explanation")
    if not explanation or explanation == "{}":
        return ""
    row = {k: alert.get(k) for k in ("band", "score", "days_since_last_activity")}  # what a v1 record lacks
    return "\n\nHow the band was worked out:\n" + explain(explanation, "staff", engagement=engagement, names=names, fill=row).to_text()


def alert_email(alert: Mapping, email: Email, engagement: Engagement | None = None, names: Mapping[str, str] | None = None,
                portal_url: str = "") -> EmailMessage:  # fmt: skip
    """One alert as an email to its recipient, with its explanation in words and a link to the student's page.

    ``engagement`` and ``names`` (the policy's) name daily caps and sources; without them
    the defaults are used. ``portal_url`` (LEAP_PORTAL_URL) makes the link; without it the
    email names the `leap status` command instead.
    """
    message = EmailMessage()
    message["From"] = email.sender
    message["To"] = f"{alert['recipient']}@{email.domain}"
    message["Subject"] = f"LEAP: {alert['student_id']} needs a check-in ({alert['kind'].replace('_', ' ')})"
    message["Message-ID"] = f"<{alert['alert_id']}@leap>"
    message.set_content(
        f"{_line(alert, portal_url)}{_explained(alert, engagement, names)}\n\n"
        + (f"Your alerts: {portal_url.rstrip('/')}/alerts\n" if portal_url else "This alert is also in your LEAP alert list. ")
        + "The student can see how their band was computed.\n"
    )
    return message


def digest_email(recipient: str, alerts: Sequence[Mapping], email: Email, day: str, portal_url: str = "") -> EmailMessage:
    """A recipient's alerts of the day as one email."""
    message = EmailMessage()
    message["From"] = email.sender
    message["To"] = f"{recipient}@{email.domain}"
    message["Subject"] = f"LEAP: {len(alerts)} student(s) need a check-in ({day})"
    message["Message-ID"] = f"<digest-{recipient}-{day}@leap>"
    message.set_content("\n".join(_line(a, portal_url) for a in alerts) + "\n")
    return message


def digest_due(now: datetime, raised_at: datetime, email: Email, tz: ZoneInfo) -> bool:
    """Whether an alert raised at ``raised_at`` belongs to a digest that is due at ``now``."""
    local = now.astimezone(tz)
    todays = local.replace(hour=email.digest_hour, minute=0, second=0, microsecond=0)
    last_digest = todays if local >= todays else todays - timedelta(days=1)
    return raised_at < last_digest


_PENDING = """
SELECT d.alert_id, d.channel, d.target, d.attempts, a.student_id, a.kind, a.recipient, a.recipient_role, a.day, a.band, a.score,
       a.days_since_last_activity, a.reason, a.raised_at, a.explanation
FROM alert_deliveries d JOIN alerts a USING (alert_id)
WHERE d.status = 'pending' AND d.next_attempt <= now()
ORDER BY a.raised_at LIMIT 500 FOR UPDATE OF d SKIP LOCKED
"""


class Deliveries:
    """Sends queued deliveries (called from the consumer's loop)."""

    def __init__(self, email: Email, webhook: Webhook, tz: ZoneInfo, engagement: Engagement | None = None, names: Mapping[str, str] | None = None,
                 portal_url: str = "") -> None:  # fmt: skip
        self.portal_url = portal_url
        self.email = email
        self.webhook = webhook
        self.tz = tz
        self.engagement = engagement  # names daily caps in explanations
        self.names = names  # source display names
        # Each enabled channel's series exist from start-up (rate() then sees the first failure).
        for channel, enabled in (("email", email.enabled), ("webhook", webhook.enabled)):
            for outcome in ("sent", "retry", "failed") if enabled else ():
                DELIVERIES.labels(channel, outcome)

    def send_pending(self, conn: psycopg.Connection, now: datetime | None = None) -> dict[str, int]:
        """Send what is due; return counts by outcome."""
        now = now or datetime.now(timezone.utc)
        counts: dict[str, int] = defaultdict(int)
        with conn.transaction():
            rows = conn.execute(_PENDING).fetchall()
            digests: dict[str, list[dict]] = defaultdict(list)
            for row in rows:
                if row["channel"] == "email" and row["target"] == "digest":
                    if digest_due(now, row["raised_at"], self.email, self.tz):
                        digests[row["recipient"]].append(row)
                    continue
                if row["channel"] == "email":
                    self._attempt(conn, [row], lambda r=row: self._smtp(alert_email(r, self.email, self.engagement, self.names, self.portal_url)), counts)
                elif row["channel"] == "webhook":
                    self._attempt(conn, [row], lambda r=row: self._post(r), counts)
            for recipient, alerts in digests.items():
                day = now.astimezone(self.tz).date().isoformat()
                self._attempt(conn, alerts, lambda a=alerts, r=recipient: self._smtp(digest_email(r, a, self.email, day, self.portal_url)), counts)
        return dict(counts)

    def _attempt(self, conn: psycopg.Connection, rows: list[dict], send, counts: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
        channel = rows[0]["channel"]
        try:
            send()
        except (OSError, smtplib.SMTPException, urllib.error.URLError, DeliveryRefused) as exc:
            attempts = rows[0]["attempts"] + 1
            limit = self.webhook.max_attempts if channel == "webhook" else 10
            final = attempts >= limit
            delay = self.webhook.backoff_seconds * (2 ** (attempts - 1)) if channel == "webhook" else 60.0 * attempts
            for row in rows:
                conn.execute(
                    """UPDATE alert_deliveries SET attempts = attempts + 1, last_error = %s, status = %s,
                       next_attempt = now() + make_interval(secs => %s) WHERE alert_id = %s AND channel = %s AND target = %s""",
                    (str(exc)[:500], "failed" if final else "pending", delay, row["alert_id"], row["channel"], row["target"]),
                )
            outcome = "failed" if final else "retry"
            DELIVERIES.labels(channel, outcome).inc(len(rows))
            counts[outcome] += len(rows)
            log.warning("alert delivery failed", channel=channel, attempts=attempts, final=final, error=str(exc))
            return
        for row in rows:
            conn.execute(
                "UPDATE alert_deliveries SET status = 'sent', sent_at = now(), attempts = attempts + 1 WHERE alert_id = %s AND channel = %s AND target = %s",
                (row["alert_id"], row["channel"], row["target"]),
            )
            # What left LEAP about a student, to whom and why, is in their access log like any
            # other disclosure (an email carries their figures).
            audit(
                conn, "leap-alerts", "system", f"send_alert_{channel}",
                f"{row['kind']} alert sent by {channel} to {row['recipient']} ({str(row.get('recipient_role') or 'recipient').replace('_', ' ')})",
                student_id=row["student_id"], record_type="alert", record_id=str(row["alert_id"]),
            )  # fmt: skip
        DELIVERIES.labels(channel, "sent").inc(len(rows))
        counts["sent"] += len(rows)

    def _smtp(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.email.smtp_host, self.email.smtp_port, timeout=10) as smtp:
            smtp.send_message(message)

    def _post(self, alert: Mapping) -> None:
        body = json.dumps(alert_payload(alert), separators=(",", ":")).encode()
        secret = os.environ.get(self.webhook.secret_env, "")
        headers = {"Content-Type": "application/json", "X-LEAP-Alert-Id": str(alert["alert_id"])}
        if secret:
            headers["X-LEAP-Signature"] = sign(body, secret)
        request = urllib.request.Request(self.webhook.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise DeliveryRefused(f"HTTP {exc.code} from {self.webhook.url}") from None
        if not 200 <= status < 300:
            raise DeliveryRefused(f"HTTP {status} from {self.webhook.url}")


class DeliveryRefused(RuntimeError):
    """The receiver answered, but not with success."""
