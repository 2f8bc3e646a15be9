"""Email and webhook deliveries, received by a real local SMTP server and a real HTTP receiver."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
from aiosmtpd.controller import Controller
from psycopg.rows import dict_row

from consumers import store
from leap.calendar import Calendar
from consumers.consumer import AlertConsumer
from consumers.delivery import sign
from consumers.rules import Decision, Route
from leap.policy import Alerts, Email, Webhook
from tests.integration.workers import Deployment, free_port

SECRET = "test-signing-key"
EXPLANATION = {
    "version": 2, "cohort": "BSC-CS/Y2", "window": ["2026-11-23", "2026-11-29"], "window_days": 7, "score": 31.0, "band": "low",
    "band_by_score": "low", "sources": [{"source": "attendance", "measure": 1, "reference": 4, "score": 25.0, "weight": 3.0, "status": "scored"}],
}  # fmt: skip


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(envelope.content.decode())
        return "250 OK"


@pytest.fixture
def smtp():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, mailbox
    controller.stop()


@pytest.fixture
def receiver():
    calls: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append({"body": body, "headers": {k.lower(): v for k, v in self.headers.items()}})
            # The first call fails, as a receiver that is briefly down would.
            self.send_response(500 if len(calls) == 1 else 204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/leap", calls
    server.shutdown()


def test_an_alert_is_emailed_once_and_posted_signed_after_a_retry(tmp_path, smtp, receiver, monkeypatch):
    monkeypatch.setenv("LEAP_WEBHOOK_SECRET", SECRET)
    smtp_port, mailbox = smtp
    url, calls = receiver
    deployment = Deployment(tmp_path)
    try:
        deployment.with_database()
        rules = Alerts(
            email=Email(enabled=True, smtp_port=smtp_port, domain="uni.test"),
            webhook=Webhook(enabled=True, url=url, backoff_seconds=0.1),
        )
        consumer = AlertConsumer(deployment.settings, rules, Calendar())
        assert consumer.deliveries is not None
        conn = consumer.conn()
        with conn.transaction():
            alert = store.record_decision(
                conn, "s1", Decision("raise", "drop", "change-1", "band fell from good to low"), date.today(),
                Route("tutor-a", "personal_tutor"), {"band": "low", "score": 31.0, "explanation": EXPLANATION}, consumer.channels(),
            )
        assert alert is not None

        deadline = time.monotonic() + 30
        while len(calls) < 2 and time.monotonic() < deadline:
            consumer.deliveries.send_pending(conn)
            time.sleep(0.1)
        for _ in range(3):  # nothing more is due: nothing more is sent
            consumer.deliveries.send_pending(conn)

        assert len(mailbox.messages) == 1
        assert f"Message-ID: <{alert}@leap>" in mailbox.messages[0] and "To: tutor-a@uni.test" in mailbox.messages[0]
        body = email.message_from_string(mailbox.messages[0], policy=email.policy.default).get_content()
        assert "(band Low, " in body and "Low — engagement score 31 out of 100 (Low is 20 to 39)." in body
        assert "  Attendance: attended 1 of 4 expected sessions (25%)." in body
        assert len(calls) == 2, "one failed call, one retry"
        body, headers = calls[1]["body"], calls[1]["headers"]
        assert headers["x-leap-signature"] == sign(body, SECRET)
        assert json.loads(body)["alert_id"] == alert and headers["x-leap-alert-id"] == alert
        with psycopg.connect(deployment.settings.database_url, row_factory=dict_row) as check:
            rows = {r["channel"]: r for r in check.execute("SELECT * FROM alert_deliveries")}
            sent = check.execute("SELECT action, purpose FROM access_log WHERE student_id = 's1' AND actor = 'leap-alerts' ORDER BY access_id").fetchall()
        # Each disclosure is in the student's access log once, when it succeeded.
        assert [r["action"] for r in sent] == ["send_alert_email", "send_alert_webhook"] and "to tutor-a" in sent[0]["purpose"]
        assert rows["email"]["status"] == "sent" and rows["email"]["attempts"] == 1
        assert rows["webhook"]["status"] == "sent" and rows["webhook"]["attempts"] == 2 and "HTTP 500" in rows["webhook"]["last_error"]
        conn.close()
    finally:
        deployment.close()


def test_a_digest_collects_a_recipients_alerts_into_one_email_at_the_digest_hour(tmp_path, smtp):
    smtp_port, mailbox = smtp
    deployment = Deployment(tmp_path)
    try:
        deployment.with_database()
        rules = Alerts(email=Email(enabled=True, mode="digest", digest_hour=8, smtp_port=smtp_port, domain="uni.test"))
        consumer = AlertConsumer(deployment.settings, rules, Calendar())
        conn = consumer.conn()
        with conn.transaction():
            for student in ("s1", "s2"):
                store.record_decision(
                    conn, student, Decision("raise", "drop", f"change-{student}", f"{student} fell to low"), date.today(),
                    Route("tutor-a", "personal_tutor"), {"band": "low"}, consumer.channels(),
                )
        tz = deployment.settings.tz
        now = datetime.now(tz)
        before_next_digest = now.replace(hour=7, minute=59) + timedelta(days=1) if now.hour >= 8 else now
        assert consumer.deliveries.send_pending(conn, now=before_next_digest.astimezone(timezone.utc)).get("sent", 0) == 0
        assert mailbox.messages == []
        next_digest = (now + timedelta(days=1)).replace(hour=8, minute=0)
        assert consumer.deliveries.send_pending(conn, now=next_digest.astimezone(timezone.utc)) == {"sent": 2}
        assert len(mailbox.messages) == 1 and "2 student(s)" in mailbox.messages[0]
        assert "s1:" in mailbox.messages[0] and "s2:" in mailbox.messages[0] and "To: tutor-a@uni.test" in mailbox.messages[0]
        assert consumer.deliveries.send_pending(conn, now=next_digest.astimezone(timezone.utc)) == {}
        conn.close()
    finally:
        deployment.close()
