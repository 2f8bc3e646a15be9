"""Delivery formatting: signatures a receiver can verify, emails that name the alert, digest timing."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from consumers.delivery import alert_email, alert_payload, digest_due, digest_email, sign
from leap.policy import DailyCaps, Email, Engagement
from tests.unit.leap.test_explain import V1, V2

LONDON = ZoneInfo("Europe/London")
ALERT = {
    "alert_id": "0b1d",
    "student_id": "s1",
    "kind": "no_engagement",
    "recipient": "tutor-a",
    "day": date(2026, 11, 30),
    "band": "very_low",
    "score": 4.5,
    "days_since_last_activity": 15,
    "reason": "no activity in any source for 14 teaching days (last on 2026-11-15)",
    "raised_at": datetime(2026, 11, 30, 9, 5, tzinfo=timezone.utc),
}


def test_the_signature_is_the_hmac_of_the_exact_body():
    body = b'{"alert_id":"0b1d"}'
    expected = hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert sign(body, "secret") == f"sha256={expected}"
    assert sign(body, "other") != sign(body, "secret")


def test_the_payload_is_plain_json_types():
    payload = alert_payload(ALERT)
    assert payload["day"] == "2026-11-30" and payload["raised_at"].startswith("2026-11-30T09:05")
    assert payload["alert_id"] == "0b1d" and payload["reason"] == ALERT["reason"]


def test_an_alert_email_goes_to_the_recipient_with_the_alert_id_as_message_id():
    message = alert_email(ALERT, Email(domain="essex.ac.uk"))
    assert message["To"] == "tutor-a@essex.ac.uk" and message["Message-ID"] == "<0b1d@leap>"
    assert "s1" in message["Subject"] and ALERT["reason"] in message.get_content()


def test_an_alert_email_explains_the_band_in_words_for_staff():
    capped = {**V2, "sources": [{**V2["sources"][0]}, {**V2["sources"][1], "capped_days": 2}]}
    body = alert_email({**ALERT, "band": "good", "explanation": capped}, Email()).get_content()
    assert "(band Good, 2026-11-30)" in body and "very_low" not in body
    assert "How the band was worked out:\nGood — engagement score 73 out of 100 (Good is 60 to 79).\n" in body
    assert "  Attendance: attended 3 of 4 expected sessions (75%).\n" in body
    assert "On 2 days the student's Moodle figure was capped at the daily limit" in body
    named = alert_email({**ALERT, "explanation": capped}, Email(), Engagement(daily_caps=DailyCaps(vle=150)), {"vle": "Blackboard"}).get_content()
    assert "On 2 days the student's Blackboard figure was capped at 150 actions" in named


def test_an_alert_email_fills_a_v1_explanation_from_the_alert_and_skips_a_missing_one():
    body = alert_email({**ALERT, "band": "high", "explanation": V1}, Email()).get_content()
    assert "High — engagement score 94 out of 100" in body and "Attendance: attended 8 of 10 expected sessions (80%)." in body
    for missing in ({}, None, "{}"):
        body = alert_email({**ALERT, "explanation": missing}, Email()).get_content()
        assert "How the band" not in body and "(band Very low, 2026-11-30)" in body


def test_a_digest_lists_every_alert():
    message = digest_email("tutor-a", [ALERT, {**ALERT, "student_id": "s2"}], Email(), "2026-11-30")
    assert "2 student(s)" in message["Subject"]
    assert "s1:" in message.get_content() and "s2:" in message.get_content()


def test_digests_go_out_at_the_digest_hour_with_what_was_raised_before_it():
    email = Email(mode="digest", digest_hour=8)
    raised_night = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)  # 02:00 London
    assert not digest_due(datetime(2026, 11, 30, 7, 59, tzinfo=timezone.utc), raised_night, email, LONDON)
    assert digest_due(datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc), raised_night, email, LONDON)
    raised_morning = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)  # after today's digest: tomorrow's
    assert not digest_due(datetime(2026, 11, 30, 20, 0, tzinfo=timezone.utc), raised_morning, email, LONDON)
    assert digest_due(datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc), raised_morning, email, LONDON)


def test_an_alert_email_links_to_the_students_page_in_the_portal():
    from consumers.delivery import alert_email, digest_email
    from leap.policy import Email

    alert = {"alert_id": "a1", "student_id": "u 23/4", "kind": "drop", "recipient": "tutor-a", "band": "low", "day": "2026-12-01", "reason": "band fell"}
    text = alert_email(alert, Email(), portal_url="https://leap.uni.example/").get_content()
    assert "see https://leap.uni.example/students/u%2023%2F4" in text and "https://leap.uni.example/alerts" in text
    assert "leap status" in alert_email(alert, Email()).get_content()  # no portal configured: the command instead
    assert "https://leap.uni.example/students/u%2023%2F4" in digest_email("tutor-a", [alert], Email(), "2026-12-01", "https://leap.uni.example").get_content()
