"""The portal's routes x roles x own/other student, on a real portal process and PostgreSQL.

Every route that serves or changes a student's data is tried by every kind of user, for a
student they have a need for and one they do not; what the portal does must be what
``leap.access.decide`` says, and two properties are checked outright: no student is served
another student's data, no tutor a non-tutee's. Also: CSRF, escaping, sessions, headers.
(Sign-in here is the development sign-in; test_portal_browser signs in through OpenID Connect.)
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from leap.access import Actor, Relation, decide
from tests.integration.portal_helpers import Portal, csrf_of, dev_client
from tests.integration.workers import Deployment

SECRET = "private-note-" + uuid.uuid4().hex[:6]  # only s1's record holds it
STAFF = [
    ("tutor-a", ["personal_tutor"], [], None),
    ("tutor-b", ["personal_tutor"], [], None),
    ("counsel-1", ["support_service"], [], "counselling"),
    ("hist-office", ["department_staff"], ["History"], None),
    ("ops", ["admin"], [], None),
]
ACTORS = {  # user id -> the Actor the directory makes of them (for the expected decisions)
    "s1": Actor("s1", frozenset({"student"}), student_id="s1"),
    "s2": Actor("s2", frozenset({"student"}), student_id="s2"),
    "tutor-a": Actor("tutor-a", frozenset({"personal_tutor"})),
    "tutor-b": Actor("tutor-b", frozenset({"personal_tutor"})),
    "counsel-1": Actor("counsel-1", frozenset({"support_service"}), service="counselling"),
    "hist-office": Actor("hist-office", frozenset({"department_staff"}), departments=frozenset({"History"})),
    "ops": Actor("ops", frozenset({"admin"})),
}
S1 = Relation("s1", "tutor-a", "History", frozenset({"counselling"}), programme="BA-HIST")
EXPLANATION = {"version": 2, "band": "low", "score": 30.0, "as_of_day": str(date.today()), "window": [str(date.today() - timedelta(6)), str(date.today())],
               "window_kind": "complete_days", "window_days": 7, "sources": []}  # fmt: skip


def _db(deployment: Deployment) -> psycopg.Connection:
    return psycopg.connect(deployment.settings.database_url, row_factory=dict_row, autocommit=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("portal-access")
    deployment = Deployment(tmp)
    deployment.with_database()
    today = date.today()
    with _db(deployment) as conn:
        conn.execute(
            """INSERT INTO students (student_id, programme, year_of_study, mode_of_study, personal_tutor, department, status)
               VALUES ('s1', 'BA-HIST', 1, 'full_time', 'tutor-a', 'History', 'active'),
                      ('s2', 'BSC-CS', 1, 'full_time', 'tutor-b', 'Computing', 'active')"""
        )
        for user, roles, departments, service in STAFF:
            conn.execute("INSERT INTO staff (user_id, roles, departments, service) VALUES (%s, %s, %s, %s)", (user, roles, departments, service))
        for sid in ("s1", "s2"):
            conn.execute(
                "INSERT INTO student_current (student_id, cohort, score, band, days_since_last_activity, day, explanation, updated_at) VALUES (%s, 'c', 30, 'low', 2, %s, %s, now())",
                (sid, today, json.dumps(EXPLANATION)),
            )
            for n in range(20):
                conn.execute("INSERT INTO engagement_history (student_id, day, cohort, score, band) VALUES (%s, %s, 'c', %s, 'low')", (sid, today - timedelta(n), 30 + n))
        conn.execute("INSERT INTO notes (student_id, author, body) VALUES ('s1', 'tutor-a', %s)", (SECRET,))
        conn.execute("INSERT INTO notes (student_id, author, body) VALUES ('s2', 'tutor-b', 'about s2')")
        ids = {
            "objective": conn.execute("INSERT INTO objectives (student_id, author, description) VALUES ('s1', 'tutor-a', 'Attend seminars') RETURNING objective_id").fetchone()["objective_id"],
            "referral": conn.execute(
                "INSERT INTO referrals (student_id, author, service, reason, consent_to_contact) VALUES ('s1', 'tutor-a', 'counselling', 'stress', true) RETURNING referral_id"
            ).fetchone()["referral_id"],
            "query": conn.execute(
                "INSERT INTO data_queries (student_id, record_type, record_id, description, raised_by) VALUES ('s1', 'band', '', 'wrong', 's1') RETURNING query_id"
            ).fetchone()["query_id"],
            "alert": str(uuid.uuid4()),
        }
        conn.execute(
            """INSERT INTO alerts (alert_id, student_id, kind, episode, status, recipient, recipient_role, day, band, reason, raised_at)
               VALUES (%s, 's1', 'drop', %s, 'new', 'tutor-a', 'personal_tutor', %s, 'low', 'band fell to Low', now())""",
            (ids["alert"], str(today), today),
        )
    portal = Portal(deployment.env, tmp, LEAP_PORTAL_DEV_SIGNIN="1").start()
    yield {"deployment": deployment, "portal": portal, "ids": ids}
    portal.stop()
    deployment.close()


def _new(site, sql: str) -> int:
    """Insert one row (the SQL returns its id) and return the id."""
    with _db(site["deployment"]) as conn:
        return next(iter(conn.execute(sql).fetchone().values()))


def _count(site, table: str) -> int:
    with _db(site["deployment"]) as conn:
        return conn.execute(f"SELECT count(*) AS n FROM {table} WHERE student_id = 's1'").fetchone()["n"]


def _posts(ids: dict) -> list[tuple[str, str, dict, str | None]]:
    """(action, path, fields, table whose s1 rows grow when it works) for every write about s1."""
    day = str(date.today())
    return [
        ("add_note", "/students/s1/notes", {"body": "a note"}, "notes"),
        ("add_objective", "/students/s1/objectives", {"description": "an objective", "due": day}, "objectives"),
        ("add_referral", "/students/s1/referrals", {"service": "careers", "reason": "plans"}, "referrals"),
        ("add_exemption", "/students/s1/exemptions", {"reason": "placement", "starts": day, "ends": day}, "exemptions"),
        ("raise_query", "/students/s1/queries", {"kind": "band", "description": "looks wrong"}, "data_queries"),
    ]


@pytest.mark.parametrize("user", list(ACTORS))
def test_every_route_serves_and_changes_only_what_the_policy_allows(site, user):
    client = dev_client(site["portal"], user)
    actor = ACTORS[user]
    page = client.get("/students/s1")
    may_view = decide(actor, "view_status", S1).allowed
    assert page.status_code == (200 if may_view else 403), (user, page.status_code)
    shows_records = SECRET in page.text
    assert shows_records == decide(actor, "view_records", S1).allowed, (user, "records shown" if shows_records else "records hidden")
    if user in ("s2", "tutor-b"):  # the two properties, outright
        assert page.status_code == 403 and SECRET not in page.text and "Attend seminars" not in page.text
        # Nor listed anywhere (random tokens in the page, such as the CSRF token, may hold the letters "s1").
        caseload = re.sub(r'value="[^"]*"|content="[^"]*"', "", client.get("/caseload").text.replace("/students/s1", ""))
        assert not re.search(r"(?<![\w-])s1(?![\w-])", caseload)
    token = csrf_of(client.get("/caseload" if actor.roles - {"student"} else "/me").text)
    for action, path, fields, table in _posts(site["ids"]):
        before = _count(site, table)
        response = client.post(path, data={**fields, "csrf": token, "back": "/"})
        assert response.status_code == 303, (user, path, response.status_code)
        grew = _count(site, table) - before
        assert grew == (1 if decide(actor, action, S1).allowed else 0), (user, action, grew)
    alerts = client.get("/alerts").text if actor.roles - {"student"} else ""
    assert (site["ids"]["alert"] in alerts) == (decide(actor, "view_records", S1).allowed and "student" not in actor.roles), user


def test_an_administrator_needs_a_reason_and_it_is_logged(site):
    client = dev_client(site["portal"], "ops")
    assert client.get("/students/s1").status_code == 403
    page = client.get("/students/s1", params={"reason": "audit request 42"})
    assert page.status_code == 200 and SECRET in page.text
    with _db(site["deployment"]) as conn:
        logged = conn.execute("SELECT purpose FROM access_log WHERE actor = 'ops' AND student_id = 's1' AND allowed ORDER BY at DESC LIMIT 1").fetchone()
    assert "audit request 42" in logged["purpose"]


def test_a_form_without_its_csrf_token_is_refused_and_nothing_is_saved(site):
    client = dev_client(site["portal"], "tutor-a")
    before = _count(site, "notes")
    for fields in ({"body": "no token"}, {"body": "wrong token", "csrf": "forged"}):
        response = client.post("/students/s1/notes", data=fields)
        assert response.status_code == 403 and "Nothing was saved" in response.text
    assert _count(site, "notes") == before


def test_a_note_with_a_script_is_shown_as_text(site):
    client = dev_client(site["portal"], "tutor-a")
    token = csrf_of(client.get("/students/s1").text)
    body = "<script>alert('x')</script> & <b>bold</b>"
    assert client.post("/students/s1/notes", data={"body": body, "csrf": token, "back": "/students/s1"}).status_code == 303
    student = dev_client(site["portal"], "s1").get("/me").text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in student
    assert "<script>alert" not in student


def test_signing_out_ends_the_session_on_the_server_and_cookies_are_protected(site):
    client = httpx_client = dev_client(site["portal"], "s1")
    cookie = httpx_client.cookies.get("leap_session")
    page = client.get("/me")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"] and page.headers["cache-control"] == "no-store"
    set_cookie = client.post("/signout", data={"csrf": csrf_of(page.text)}).headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    replay = __import__("httpx").Client(base_url=site["portal"].url, cookies={"leap_session": cookie})
    assert replay.get("/me").status_code == 303  # the old cookie no longer signs anyone in


def test_the_student_sees_who_looked_at_their_record(site):
    dev_client(site["portal"], "tutor-a").get("/students/s1")
    page = dev_client(site["portal"], "s1").get("/me").text
    section = page[page.index("Who has looked at your record"):]
    assert re.search(r"<td>tutor-a</td><td>personal tutor</td>", section)


def test_a_student_downloads_their_own_data_and_no_one_else_s(site):
    import io
    import zipfile

    own = dev_client(site["portal"], "s1").get("/students/s1/export")
    assert own.status_code == 200 and own.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(own.content)).namelist()
    assert "README.txt" in names and any(n.endswith("notes.json") for n in names)
    assert SECRET.encode() in zipfile.ZipFile(io.BytesIO(own.content)).read(next(n for n in names if n.endswith("notes.json")))
    for user in ("s2", "tutor-b", "tutor-a"):
        refused = dev_client(site["portal"], user).get("/students/s1/export")
        assert refused.status_code == 403 and SECRET not in refused.text, user


def test_a_support_service_sees_only_the_referrals_to_it(site):
    with _db(site["deployment"]) as conn:
        conn.execute("INSERT INTO referrals (student_id, author, service, reason, consent_to_contact) VALUES ('s1', 'tutor-a', 'money-advice', 'rent arrears', true)")
    page = dev_client(site["portal"], "counsel-1").get("/students/s1").text
    assert "Referrals to your service" in page and "stress" in page
    assert "rent arrears" not in page and SECRET not in page


@pytest.mark.parametrize("user", list(ACTORS))
def test_a_referral_is_closed_only_by_its_service_or_the_students_pastoral_staff(site, user):
    referral = _new(site, "INSERT INTO referrals (student_id, author, service, reason, consent_to_contact) VALUES ('s1', 'tutor-a', 'counselling', 'exam stress', true) RETURNING referral_id")
    client = dev_client(site["portal"], user)
    page = client.get("/caseload" if ACTORS[user].roles - {"student"} else "/me").text
    outcome = f"Three sessions held; {user} closing"
    response = client.post(f"/referrals/{referral}/close", data={"outcome": outcome, "csrf": csrf_of(page), "back": "/"})
    assert response.status_code == 303, (user, response.status_code)
    with _db(site["deployment"]) as conn:
        row = conn.execute("SELECT status, outcome, closed_by FROM referrals WHERE referral_id = %s", (referral,)).fetchone()
    may = decide(ACTORS[user], "update_referral", S1).allowed
    assert (row["status"] == "closed") == may, (user, row)
    if may:
        assert (row["outcome"], row["closed_by"]) == (outcome, user)
        student = dev_client(site["portal"], "s1").get("/me").text
        assert f"Closed by {user}" in student and outcome in student


def test_a_service_closing_its_last_referral_goes_back_to_its_list_not_to_a_page_it_may_no_longer_open(site):
    referral = _new(site, "INSERT INTO referrals (student_id, author, service, reason, consent_to_contact, status) VALUES ('s2', 'tutor-b', 'counselling', 'money worries', true, 'accepted') RETURNING referral_id")
    client = dev_client(site["portal"], "counsel-1")
    page = client.get("/students/s2")
    assert page.status_code == 200
    response = client.post(f"/referrals/{referral}/close", data={"outcome": "Referred on to the money advice team", "csrf": csrf_of(page.text), "back": "/students/s2"})
    assert response.status_code == 303 and response.headers["location"] == "/caseload"
    assert "Your access to their record ended with it." in client.get("/caseload").text
    assert client.get("/students/s2").status_code == 403


def test_a_student_withdraws_their_own_open_query_and_staff_cannot(site):
    query = _new(site, "INSERT INTO data_queries (student_id, record_type, record_id, description, raised_by) VALUES ('s1', 'band', '', 'my mistake', 's1') RETURNING query_id")
    tutor = dev_client(site["portal"], "tutor-a")
    page = tutor.get("/students/s1").text
    assert f"/queries/{query}/withdraw" not in page  # not offered to staff
    tutor.post(f"/queries/{query}/withdraw", data={"csrf": csrf_of(page), "back": "/students/s1"})
    student = dev_client(site["portal"], "s1")
    page = student.get("/me").text
    assert f"/queries/{query}/withdraw" in page  # still open: the tutor's attempt changed nothing
    assert student.post(f"/queries/{query}/withdraw", data={"csrf": csrf_of(page), "back": "/me"}).status_code == 303
    page = student.get("/me").text
    assert "Your query has been withdrawn." in page and "Withdrawn by s1" in page and f"/queries/{query}/withdraw" not in page
