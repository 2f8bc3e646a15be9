"""The portal in a real browser (Debian's chromium, headless), signed in through a real OpenID
Connect provider, on a deployment with the engine and the alert consumer running.

A tutor watches the alert inbox while the student's attendance collapses and sees the alert
arrive live, acknowledges it, and records a note (with a script in it), an objective and a
referral. The student signs in, sees all three with their author, agrees to the referral and
challenges a missing attendance mark. The tutor upholds the query; the correction goes
through the engine and the student's band changes. Screenshots of the main pages are saved
(LEAP_SCREENSHOT_DIR) and axe-core finds no serious or critical accessibility problem on them.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import psycopg
import pytest
from playwright.sync_api import Page, expect
from psycopg.rows import dict_row

from leap.kafka import Publisher
from leap.settings import PROJECT_ROOT
from schemas.codec import default_codec
from tests.integration.engine_helpers import wait_until
from tests.integration.portal_helpers import Portal
from tests.integration.workers import Deployment, free_port
from tests.support.browser import axe_violations, chromium, format_violations, save_screenshot
from tests.support.oidc import OidcProvider

STUDENT, TUTOR = "u2300417", "tutor-x"
PASSWORDS = {STUDENT: "student-pw", TUTOR: "tutor-pw"}
NOTE = "<script>alert('x')</script> Missed both seminars this week"
SECONDS = 120  # the engine and consumer react in seconds; this is only the deadline


@pytest.fixture
def site(tmp_path):
    today = date.today()
    calendar = tmp_path / "calendar.toml"
    calendar.write_text(f'[[term]]\nname = "Term"\nstarts = {today - timedelta(days=60)}\nends = {today + timedelta(days=30)}\n')
    policy = tmp_path / "institution.toml"
    text = (PROJECT_ROOT / "deploy" / "institution.toml").read_text().replace('calendar_file = "calendar.toml"', f'calendar_file = "{calendar}"')
    policy.write_text(text.replace("review_seconds = 10", "review_seconds = 1"))
    deployment = Deployment(tmp_path)
    deployment.with_database(policy)
    with psycopg.connect(deployment.settings.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO staff (user_id, roles) VALUES (%s, '{personal_tutor}')", (TUTOR,))
    port = free_port()
    portal_url = f"http://127.0.0.1:{port}"
    users = [{"username": u, "password": p, "name": u, "email": f"{u}@uni.example"} for u, p in PASSWORDS.items()]
    clients = [{"client_id": "leap-portal", "client_secret": "portal-secret", "redirect_uris": [portal_url + "/auth/callback"],
                "post_logout_redirect_uris": [portal_url + "/signin"]}]  # fmt: skip
    with OidcProvider(users, clients) as provider:
        portal = Portal(deployment.env, tmp_path, LEAP_OIDC_ISSUER=provider.issuer, LEAP_OIDC_CLIENT_ID="leap-portal",
                        LEAP_OIDC_CLIENT_SECRET="portal-secret")  # fmt: skip
        portal.port, portal.url = port, portal_url
        portal.env["LEAP_PORTAL_URL"] = portal_url
        deployment.start_worker(tick_seconds=1)
        deployment.start_consumer()
        try:
            with portal:
                yield {"deployment": deployment, "portal": portal, "today": today}
        finally:
            print(portal.log())
            deployment.close()


def _marks(site, statuses: list[str], first: int) -> list[dict]:
    """Attendance register marks for the student two days ago, 10:00 onwards."""
    day = site["today"] - timedelta(days=2)
    tz = site["deployment"].settings.tz
    return [
        {"event_id": f"{STUDENT}-register-{first + n}", "student_id": STUDENT, "source": "attendance", "action": "register_mark",
         "event_time": int(datetime(day.year, day.month, day.day, 10, n, tzinfo=tz).timestamp() * 1000), "course": "HI101",
         "object_ref": f"session-{first + n}", "quantity": None, "attendance_status": status, "source_ref": "test register", "amends": None}
        for n, status in enumerate(statuses)
    ]  # fmt: skip


def _publish(site, topic: str, schema: str, records: list[dict]) -> None:
    settings, codec = site["deployment"].settings, default_codec()
    with Publisher(settings) as publisher:
        for record in records:
            publisher.send(settings.topic(topic), codec.encode(schema, record), key=record["student_id"])


def _band(site) -> str | None:
    with psycopg.connect(site["deployment"].settings.database_url, row_factory=dict_row) as conn:
        row = conn.execute("SELECT band FROM student_current WHERE student_id = %s", (STUDENT,)).fetchone()
    return row and row["band"]


def _sign_in(page: Page, site, user: str, lands: str) -> None:
    page.goto(site["portal"].url + "/signin")
    page.get_by_role("link", name="Sign in with your university account").click()
    page.get_by_label("Password").fill("wrong")
    page.get_by_label("Username").fill(user)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    page.get_by_label("Password").fill(PASSWORDS[user])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(site["portal"].url + lands)


def _sign_out(page: Page, site) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Yes, sign me out").click()  # the provider's own confirmation
    page.wait_for_url(re.compile(re.escape(site["portal"].url) + "/signin"))
    expect(page.locator(".flash")).to_contain_text("You have signed out")


def _checked(page: Page, name: str) -> None:
    """Save a screenshot; fail on serious or critical accessibility violations."""
    save_screenshot(page, name)
    violations = axe_violations(page)
    assert not violations, f"{name}:\n{format_violations(violations)}"


def test_tutor_and_student_walk_the_flows_in_a_browser(site):
    _publish(site, "roster", "roster_entry", [{"student_id": STUDENT, "programme": "BA-HIST", "year_of_study": 1, "mode_of_study": "full_time",
                                              "personal_tutor_id": TUTOR, "department": "History", "status": "active"}])  # fmt: skip
    _publish(site, "activity", "activity_event", _marks(site, ["present"], 0))
    wait_until(lambda: _band(site) == "high", SECONDS, "the student scored High (attended 1 of 1)")
    with chromium() as browser:
        tutor = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        _sign_in(tutor, site, TUTOR, "/caseload")
        expect(tutor.get_by_role("row", name=re.compile(STUDENT))).to_contain_text("High")
        _checked(tutor, "tutor-caseload")

        # The alert arrives while the tutor looks at the inbox.
        tutor.get_by_role("link", name="Alerts").click()
        expect(tutor.locator("#alerts[data-listening=true]")).to_have_count(1)
        _publish(site, "activity", "activity_event", _marks(site, ["absent"] * 5, 1))  # 1 of 6: Very low
        arrived = tutor.locator(".alert-item.fresh", has_text=STUDENT)
        expect(arrived).to_be_visible(timeout=SECONDS * 1000)
        expect(arrived).to_contain_text("Engagement dropped")
        _checked(tutor, "tutor-alerts-live")
        arrived.get_by_role("button", name=re.compile("Acknowledge")).click()
        expect(tutor.locator(".flash")).to_contain_text("acknowledged")

        # Note, objective and referral on the student's page.
        tutor.goto(f"{site['portal'].url}/students/{STUDENT}")
        tutor.get_by_label("Note", exact=True).fill(NOTE)
        tutor.get_by_role("button", name="Add note").click()
        expect(tutor.locator(".flash")).to_contain_text("saved")
        tutor.get_by_label("Objective agreed with the student").fill("Attend every seminar next week")
        tutor.get_by_label("Due").fill(str(site["today"] + timedelta(days=7)))
        tutor.get_by_role("button", name="Add objective").click()
        tutor.get_by_label("Support service").fill("Student Wellbeing")
        tutor.get_by_label(re.compile("^Why")).fill("Talk through what is getting in the way")
        tutor.get_by_role("button", name="Add referral").click()
        expect(tutor.locator(".flash")).to_contain_text("chooses whether")
        _checked(tutor, "tutor-student-page")
        _sign_out(tutor, site)

        # The student sees all three, with their author, and challenges a missing mark.
        student = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        _sign_in(student, site, STUDENT, "/me")
        expect(student.locator(".band-card")).to_contain_text("Very low")
        note = student.locator(".records li", has_text="Missed both seminars")
        expect(note).to_contain_text(NOTE)  # the script is text on the page, never run
        expect(note).to_contain_text(TUTOR)
        expect(student.locator(".records li", has_text="Attend every seminar next week")).to_contain_text(TUTOR)
        referral = student.locator(".records li", has_text="Student Wellbeing")
        expect(referral).to_contain_text(TUTOR)
        referral.get_by_label("Yes").check()
        referral.get_by_role("button", name="Save my choice").click()
        expect(student.locator(".flash")).to_contain_text("the service will contact you")
        student.get_by_label("What is wrong").select_option("missing_activity")
        student.get_by_label("What it was").select_option("attendance")
        student.get_by_label("Day").fill(str(site["today"] - timedelta(days=2)))
        student.get_by_label("Time").fill("11:00")
        student.get_by_label("Tell us what happened").fill("I was at the 11:00 seminar; the card reader failed.")
        student.get_by_role("button", name="Send my query").click()
        expect(student.locator(".flash")).to_contain_text("has been sent")
        _checked(student, "student-page")

        # The tutor upholds it; the correction goes through the engine.
        tutor = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        _sign_in(tutor, site, TUTOR, "/caseload")
        tutor.goto(f"{site['portal'].url}/students/{STUDENT}")
        tutor.locator("summary", has_text="Resolve query").click()
        tutor.get_by_label(re.compile("Upheld")).check()
        tutor.get_by_label(re.compile("^What was decided")).fill("The register for the 11:00 seminar was corrected.")
        tutor.get_by_role("button", name="Resolve").click()
        expect(tutor.locator(".flash")).to_contain_text("correction was published")
        wait_until(lambda: _band(site) == "low", SECONDS, "the correction re-scored the student (2 of 7: Low)")

        student.reload()
        expect(student.locator(".band-card")).to_contain_text("Low")
        expect(student.locator(".resolution")).to_contain_text("The register for the 11:00 seminar was corrected.")
        _checked(student, "student-page-after-correction")
    with psycopg.connect(site["deployment"].settings.database_url, row_factory=dict_row) as conn:
        alert = conn.execute("SELECT status, status_by FROM alerts WHERE student_id = %s", (STUDENT,)).fetchone()
        query = conn.execute("SELECT status, correction_event_id FROM data_queries WHERE student_id = %s", (STUDENT,)).fetchone()
    assert alert == {"status": "acknowledged", "status_by": TUTOR}
    assert query["status"] == "upheld" and query["correction_event_id"]
