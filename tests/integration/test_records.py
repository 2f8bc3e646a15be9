"""Staff-facing records on the real PostgreSQL, through the `leap` commands: who may do what, audited.

A tutor records a note, an objective and a referral for a tutee and is refused for another
tutor's; the student reads all of it, consents to the referral, records progress and raises
a data query the tutor resolves; an administrator works alerts; refusals are in the log.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.integration.conftest import run_leap
from tests.integration.workers import Deployment, query

SCRIPT = "<script>alert('x')</script> Missed both seminars & the lab [bold]"
STAFF = (
    "user_id,roles,departments,service,programmes\n"
    "tutor-a,personal_tutor,,\n"
    "tutor-b,personal_tutor,,\n"
    "counsel-1,support_service,,counselling\n"
    "ops,admin,,\n"
    "bad-1,lecturer,,\n"
    "lead-hist,department_staff,,,BA-HIST\n"
)


@pytest.fixture
def deployment(tmp_path):
    deployment = Deployment(tmp_path)
    deployment.with_database()
    with _db(deployment) as conn:
        conn.execute(
            """INSERT INTO students (student_id, programme, year_of_study, mode_of_study, personal_tutor, department, status)
               VALUES ('s1', 'BA-HIST', 1, 'full_time', 'tutor-a', 'History', 'active'),
                      ('s2', 'BA-HIST', 1, 'full_time', 'tutor-b', 'History', 'active')"""
        )
    yield deployment
    deployment.close()


def _db(deployment: Deployment) -> psycopg.Connection:
    return psycopg.connect(deployment.settings.database_url, row_factory=dict_row, autocommit=True)


def leap(deployment: Deployment, *args: str) -> dict:
    """Run a command that succeeds with --json; return its one JSON object."""
    return json.loads(run_leap(deployment.env, *args, "--json").stdout.strip().splitlines()[-1])


def refused(deployment: Deployment, *args: str, code: int = 3) -> str:
    """Run a command that must fail with ``code``; return its error (white space normalised)."""
    result = run_leap(deployment.env, *args, check=False)
    assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
    return " ".join((result.stderr + result.stdout).split())


def _alert(deployment: Deployment, student: str, kind: str, status: str) -> str:
    alert = str(uuid.uuid4())
    with _db(deployment) as conn:
        conn.execute(
            """INSERT INTO alerts (alert_id, student_id, kind, episode, status, recipient, recipient_role, day, band, reason, raised_at)
               VALUES (%s, %s, %s, %s, %s, 'tutor-a', 'personal_tutor', %s, 'low', 'band fell to Low', CASE WHEN %s::text <> 'held' THEN now() END)""",
            (alert, student, kind, date.today().isoformat(), status, date.today(), status),
        )
    return alert


def test_tutor_student_and_service_each_do_what_they_may_and_every_access_is_logged(deployment, tmp_path):
    staff = tmp_path / "staff.csv"
    staff.write_text(STAFF)
    loaded = run_leap(deployment.env, "staff", "load", str(staff), check=False)
    assert loaded.returncode == 1 and "line 6" in loaded.stderr and "lecturer" in loaded.stderr
    assert {r["user_id"] for r in query(deployment, "SELECT user_id FROM staff")} == {"tutor-a", "tutor-b", "counsel-1", "ops", "lead-hist"}

    # The tutor records for their tutee, and is refused for another tutor's.
    note = leap(deployment, "notes", "add", "s1", SCRIPT, "--as", "tutor-a")["note_id"]
    objective = leap(deployment, "objectives", "add", "s1", "Attend both seminars next week", "--due", "2026-12-10", "--as", "tutor-a")["objective_id"]
    referral = leap(deployment, "referrals", "add", "s1", "--service", "counselling", "--reason", "Mentioned stress", "--as", "tutor-a")["referral_id"]
    assert "forbidden" in refused(deployment, "notes", "add", "s2", "A note", "--as", "tutor-a")
    denied = query(deployment, "SELECT * FROM access_log WHERE student_id = 's2' AND NOT allowed")
    assert [(d["actor"], d["action"]) for d in denied] == [("tutor-a", "add_note")] and denied[0]["purpose"]
    assert query(deployment, "SELECT count(*) AS n FROM notes WHERE student_id = 's2'")[0]["n"] == 0
    assert "unknown user 'nobody'" in refused(deployment, "notes", "add", "s1", "x", "--as", "nobody", code=2)
    assert "at most 4,000" in refused(deployment, "notes", "add", "s1", "x" * 4001, "--as", "tutor-a", code=2)

    # The student sees all three, with author and date; the note exactly as written.
    record = leap(deployment, "record", "s1", "--as", "s1")
    assert [n["body"] for n in record["notes"]] == [SCRIPT]
    for section, key, value in (("notes", "note_id", note), ("objectives", "objective_id", objective), ("referrals", "referral_id", referral)):
        assert [(r[key], r["author"]) for r in record[section]] == [(value, "tutor-a")], section
        assert abs((date.fromisoformat(record[section][0]["created_at"][:10]) - date.today()).days) <= 1, record[section]
    listed = run_leap(deployment.env, "notes", "list", "s1", "--as", "s1").stdout
    assert SCRIPT in listed and "by tutor-a" in listed
    assert "forbidden" in refused(deployment, "record", "s2", "--as", "s1")

    # The service sees the student only once the student consents to be contacted, and then
    # their status (not the tutor's notes: docs/access.md).
    assert "forbidden" in refused(deployment, "status", "s1", "--as", "counsel-1")
    assert leap(deployment, "referrals", "consent", str(referral), "--yes", "--as", "s1")["status"] == "accepted"
    service_view = leap(deployment, "status", "s1", "--as", "counsel-1")
    assert service_view["student_id"] == "s1" and service_view["open_alerts"] == [] and service_view["exemptions"] == []
    assert "forbidden" in refused(deployment, "record", "s1", "--as", "counsel-1")
    # The service closes its referral with the outcome, which the student reads; not another service's.
    careers = leap(deployment, "referrals", "add", "s1", "--service", "careers", "--reason", "Placement year", "--as", "tutor-a")["referral_id"]
    leap(deployment, "referrals", "consent", str(careers), "--yes", "--as", "s1")
    assert "not counselling" in refused(deployment, "referrals", "close", str(careers), "--outcome", "Done", "--as", "counsel-1")
    closed = leap(deployment, "referrals", "close", str(referral), "--outcome", "Two sessions; no further need", "--as", "counsel-1")
    assert (closed["status"], closed["closed_by"], closed["outcome"]) == ("closed", "counsel-1", "Two sessions; no further need")
    assert "already closed" in refused(deployment, "referrals", "close", str(referral), "--outcome", "Again", "--as", "tutor-a", code=2)
    assert "is closed" in refused(deployment, "referrals", "consent", str(referral), "--no", "--as", "s1", code=2)
    shown = [r for r in leap(deployment, "record", "s1", "--as", "s1")["referrals"] if r["referral_id"] == referral]
    assert shown[0]["outcome"] == "Two sessions; no further need"

    # The student records progress on their objective, but does not mark it met.
    assert leap(deployment, "objectives", "update", str(objective), "--progress", "Went to one", "--as", "s1")["progress"] == "Went to one"
    assert "staff change the status" in refused(deployment, "objectives", "update", str(objective), "--status", "met", "--as", "s1")
    assert leap(deployment, "objectives", "update", str(objective), "--status", "met", "--as", "tutor-a")["status"] == "met"

    # The student challenges a mark; their tutor upholds it (the correction event is a later step).
    raised = leap(deployment, "queries", "raise", "s1", "I was at the 20 Nov seminar", "--record-type", "attendance", "--record-id", "2026-11-20", "--as", "s1")
    assert "forbidden" in refused(deployment, "queries", "raise", "s2", "Not mine", "--record-type", "note", "--record-id", "1", "--as", "s1")
    open_queries = [json.loads(line) for line in run_leap(deployment.env, "queries", "list", "--as", "tutor-a", "--json").stdout.splitlines()]
    assert [q["query_id"] for q in open_queries] == [raised["query_id"]]
    assert run_leap(deployment.env, "queries", "list", "--as", "tutor-b", "--json").stdout.strip() == ""
    resolved = leap(deployment, "queries", "resolve", str(raised["query_id"]), "upheld", "Register corrected", "--as", "tutor-a")
    assert (resolved["status"], resolved["resolved_by"], resolved["resolution"], resolved["correction_event_id"]) == ("upheld", "tutor-a", "Register corrected", None)
    assert "already upheld" in refused(deployment, "queries", "resolve", str(raised["query_id"]), "rejected", "No", "--as", "tutor-a", code=2)
    assert leap(deployment, "record", "s1", "--as", "s1")["data_queries"][0]["status"] == "upheld"
    # The programme leader sees the students of their programme.
    assert leap(deployment, "record", "s1", "--as", "lead-hist")["student_id"] == "s1"
    # A challenge to the tutor's own note is resolved by someone else, never its author.
    about_note = leap(deployment, "queries", "raise", "s1", "That is not what I said", "--record-type", "note", "--record-id", str(note), "--as", "s1")
    assert "made the record challenged" in refused(deployment, "queries", "resolve", str(about_note["query_id"]), "rejected", "It is", "--as", "tutor-a")
    # Only the student who raised a query withdraws it, and only while it is open.
    assert "only they may withdraw it" in refused(deployment, "queries", "withdraw", str(about_note["query_id"]), "--as", "tutor-a")
    withdrawn = leap(deployment, "queries", "withdraw", str(about_note["query_id"]), "--as", "s1")
    assert (withdrawn["status"], withdrawn["resolved_by"]) == ("withdrawn", "s1")
    assert "already withdrawn" in refused(deployment, "queries", "withdraw", str(about_note["query_id"]), "--as", "s1", code=2)
    assert "already upheld" in refused(deployment, "queries", "withdraw", str(raised["query_id"]), "--as", "s1", code=2)

    # The student's access log: every write and read above, the refusals included.
    log = [json.loads(line) for line in run_leap(deployment.env, "access-log", "s1", "--as", "s1", "--json").stdout.splitlines()]
    allowed = {(e["actor"], e["action"], e["role"]) for e in log if e["allowed"]}
    assert {("tutor-a", "add_note", "personal_tutor"), ("tutor-a", "add_objective", "personal_tutor"), ("tutor-a", "add_referral", "personal_tutor"),
            ("s1", "view_records", "student"), ("s1", "record_consent", "student"), ("counsel-1", "view_status", "support_service"),
            ("s1", "raise_query", "student"), ("tutor-a", "resolve_query", "personal_tutor")} <= allowed  # fmt: skip
    refusals = {(e["actor"], e["action"]) for e in log if not e["allowed"]}
    assert refusals == {("counsel-1", "view_status"), ("counsel-1", "view_records"), ("counsel-1", "update_referral"), ("s1", "update_objective"), ("tutor-a", "resolve_query"),
                        ("tutor-a", "withdraw_query")}
    assert sum(1 for e in log if e["action"] == "add_note" and e["allowed"]) == 1  # the note and its log entry, once


def test_an_administrator_acknowledges_actions_and_dismisses_alerts(deployment, tmp_path):
    staff = tmp_path / "staff.csv"
    staff.write_text(STAFF.replace("bad-1,lecturer,,\n", ""))
    run_leap(deployment.env, "staff", "load", str(staff))
    drop, silent, held = _alert(deployment, "s1", "drop", "new"), _alert(deployment, "s1", "no_engagement", "new"), _alert(deployment, "s2", "drop", "held")

    assert leap(deployment, "alerts", "ack", drop, "--as", "ops")["status"] == "acknowledged"
    actioned = leap(deployment, "alerts", "action", drop, "Met the student; agreed a plan", "--as", "ops")
    assert (actioned["status"], actioned["status_by"], actioned["status_note"]) == ("actioned", "ops", "Met the student; agreed a plan")
    dismissed = leap(deployment, "alerts", "dismiss", silent, "Known illness, exemption on its way", "--as", "ops")
    assert (dismissed["status"], dismissed["status_note"]) == ("dismissed", "Known illness, exemption on its way")
    assert "never sent" in refused(deployment, "alerts", "ack", held, "--as", "ops", code=2)
    assert "already actioned" in refused(deployment, "alerts", "dismiss", drop, "Changed my mind", "--as", "ops", code=2)
    assert "is empty" in refused(deployment, "alerts", "action", silent, "", "--as", "ops", code=2)
    assert "no alert" in refused(deployment, "alerts", "ack", str(uuid.uuid4()), "--as", "ops", code=2)
    assert "forbidden" in refused(deployment, "alerts", "ack", held, "--as", "tutor-a")

    history = query(deployment, "SELECT alert_id, status, by_user, note FROM alert_updates ORDER BY update_id")
    assert [(str(h["alert_id"]), h["status"], h["by_user"]) for h in history] == [(drop, "acknowledged", "ops"), (drop, "actioned", "ops"), (silent, "dismissed", "ops")]
    stamped = query(deployment, "SELECT status_at FROM alerts WHERE alert_id = %s", drop)[0]["status_at"]
    assert stamped is not None

    # A tutor's list shows only alerts about students they may see; the student sees what was done.
    listed = [json.loads(line) for line in run_leap(deployment.env, "alerts", "list", "--as", "tutor-a", "--include", "new,acknowledged,actioned,dismissed,held", "--json").stdout.splitlines()]
    assert sorted(a["student_id"] for a in listed) == ["s1", "s1"]
    record = leap(deployment, "record", "s1", "--as", "s1")
    assert {(a["status"], a["status_by"], a["status_note"]) for a in record["alerts"]} == {
        ("actioned", "ops", "Met the student; agreed a plan"),
        ("dismissed", "ops", "Known illness, exemption on its way"),
    }
    assert "forbidden" in refused(deployment, "status", "s2", "--as", "tutor-a")
    assert json.loads(run_leap(deployment.env, "status", "s1", "--as", "tutor-a", "--json").stdout)["student_id"] == "s1"

    # Exemptions go through the same policy, student by student: an exemption silences
    # alerts, so the tutor may not record one; an administrator may, and both are logged.
    exemptions = tmp_path / "exemptions.csv"
    exemptions.write_text(f"student,from,to,reason\ns1,{date.today()},{date.today() + timedelta(days=7)},placement\n")
    loaded = run_leap(deployment.env, "exemptions", "load", str(exemptions), "--as", "tutor-a", check=False)
    assert loaded.returncode == 1 and "s1: forbidden" in loaded.stderr and "1 refused" in loaded.stdout
    assert "1 exemptions added" in run_leap(deployment.env, "exemptions", "load", str(exemptions), "--as", "ops").stdout
    log = [json.loads(line) for line in run_leap(deployment.env, "access-log", "s1", "--as", "s1", "--json").stdout.splitlines()]
    assert {(e["actor"], e["allowed"]) for e in log if e["action"] == "add_exemption"} == {("tutor-a", False), ("ops", True)}
