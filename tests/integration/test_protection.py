"""Data protection on the real Kafka, Redis and PostgreSQL: subject-access export, erasure, retention.

A student with rows in every table (written by the consumer from Kafka and by the records
commands), their live state and alert on Redis and their activity on Kafka is exported by
themself, then erased by an administrator: nothing identifying them is left in PostgreSQL
or Redis, the compacted topics' latest value for them is a tombstone, the erasure is
recorded, another student is untouched, and what the engine and the roster publish about
them afterwards is dropped by the consumer. The retention job deletes exactly the rows past
their cut-off.
"""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from datetime import date, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row
from pydantic import SecretStr

from consumers.live import Live
from consumers.protection.cutoffs import cutoffs, local_midnight
from consumers.protection.kafka_io import identity_keys
from consumers.protection.pseudonym import subject
from consumers.protection.tables import TABLES
from leap.kafka import Publisher
from leap.policy import load_policy
from leap.vocabulary import partition_for
from schemas.codec import default_codec
from tests.integration.conftest import run_leap
from tests.integration.engine_helpers import wait_until
from tests.integration.kafka_helpers import end_offsets, read_range
from tests.integration.workers import Deployment, query

KEY = "integration-test-pseudonym-key-0001"
GONE, KEPT = "stu-erase-1", "stu-keep-2"
STAFF = "user_id,roles,departments,service\ntutor-a,personal_tutor,,\nops,admin,,\ncounsel-1,support_service,,counselling\n"
EVENTS = {GONE: 3, KEPT: 2}


@pytest.fixture
def deployment(tmp_path):
    deployment = Deployment(tmp_path)
    deployment.with_database()
    deployment.env["LEAP_PSEUDONYM_KEY"] = KEY
    deployment.settings = deployment.settings.model_copy(update={"pseudonym_key": SecretStr(KEY)})
    yield deployment
    deployment.close()


def _db(deployment: Deployment) -> psycopg.Connection:
    return psycopg.connect(deployment.settings.database_url, row_factory=dict_row, autocommit=True)


def leap(deployment: Deployment, *args: str) -> dict:
    return json.loads(run_leap(deployment.env, *args, "--json").stdout.strip().splitlines()[-1])


def refused(deployment: Deployment, *args: str, code: int) -> str:
    result = run_leap(deployment.env, *args, check=False)
    assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
    return " ".join((result.stderr + result.stdout).split())


def roster_entry(student: str, status: str = "active") -> dict:
    return {"student_id": student, "programme": "BA-HIST", "year_of_study": 1, "mode_of_study": "full_time",
            "personal_tutor_id": "tutor-a", "department": "History", "status": status}  # fmt: skip


def engine_outputs(student: str, day: date, score: float) -> list[tuple[str, str, dict]]:
    """What the engine publishes about a student: state, day summary and a band change (upwards: no alert)."""
    ms = int(time.time() * 1000)
    explanation = json.dumps({"version": 2, "cohort": "BA-HIST/Y1", "as_of_day": day.isoformat(), "score": score, "band": "good", "sources": []})
    days = (day - date(1970, 1, 1)).days
    state = {"student_id": student, "cohort": "BA-HIST/Y1", "score": score, "band": "good", "days_since_last_activity": 0, "day": days,
             "explanation": explanation, "updated_at": ms, "input_offset": None, "term_score": None, "term_active_days": None, "term_days": None}  # fmt: skip
    summary = {"student_id": student, "cohort": "BA-HIST/Y1", "day": days - 1, "score": score, "band": "good", "days_since_last_activity": 0,
               "term_score": None, "term_active_days": None, "term_days": None}  # fmt: skip
    change = {"change_id": str(uuid.uuid4()), "student_id": student, "cohort": "BA-HIST/Y1", "previous_band": "partial", "new_band": "good",
              "score": score, "as_of": ms, "cause": "activity", "days_since_last_activity": 0, "explanation": explanation,
              "trigger_event_id": None, "trigger_time": None, "input_offset": None}  # fmt: skip
    return [("student-state", "student_state", state), ("daily-summaries", "daily_summary", summary), ("band-changes", "band_change", change)]


def activity(student: str, n: int) -> list[tuple[str, str, dict]]:
    at = int(time.time() * 1000) - 3_600_000
    event = {"source": "vle", "action": "viewed", "course": "HIST101", "object_ref": None, "quantity": None, "attendance_status": None,
             "source_ref": "test", "amends": None}  # fmt: skip
    return [("activity", "activity_event", {**event, "event_id": f"{student}-vle-{i}", "student_id": student, "event_time": at + i}) for i in range(n)]


def publish(deployment: Deployment, records: list[tuple[str, str, dict]]) -> None:
    codec = default_codec()
    with Publisher(deployment.settings) as publisher:
        for topic, schema, record in records:
            publisher.send(deployment.settings.topic(topic), codec.encode(schema, record), key=record["student_id"])


def latest_for(deployment: Deployment, name: str, key: str) -> list:
    """Every message keyed ``key`` on a topic, oldest first (the last is its current value)."""
    topic = deployment.settings.topic(name)
    return [m for m in read_range(deployment.settings, topic, {}, end_offsets(deployment.settings, topic)) if m.key() == key.encode()]


def rows_about(deployment: Deployment, student: str) -> dict[str, list[dict]]:
    with _db(deployment) as conn:
        return {t.name: conn.execute(t.select(), {"s": student}).fetchall() for t in TABLES}


def tables_mentioning(deployment: Deployment, text: str) -> dict[str, int]:
    """Every PostgreSQL table with a row whose text form contains ``text``, with how many."""
    with _db(deployment) as conn:
        names = [r["table_name"] for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")]
        counts = {n: conn.execute(f'SELECT count(*) AS n FROM "{n}" t WHERE t::text LIKE %s', (f"%{text}%",)).fetchone()["n"] for n in names}
    return {n: c for n, c in counts.items() if c}


def redis_mentioning(live: Live, text: str) -> list[str]:
    """Every Redis key of the deployment whose name or value contains ``text``."""
    found = []
    for key in live.client.scan_iter(match=f"{live.prefix}:*"):
        kind = live.client.type(key)
        value = {"hash": live.client.hgetall, "stream": live.client.xrange, "string": live.client.get}.get(kind, lambda k: "")(key)
        if text in key or text in json.dumps(value):
            found.append(key)
    return found


def consumed_past(deployment: Deployment, names: list[str], key: str) -> bool:
    """Whether the consumer has stored its position past everything now on ``key``'s partition of each topic."""
    partition = partition_for(key.encode(), deployment.settings.partitions)
    ends = {deployment.settings.topic(n): end_offsets(deployment.settings, deployment.settings.topic(n))[partition] for n in names}
    done = {(r["topic"], r["partition"]): r["next_offset"] for r in query(deployment, "SELECT * FROM consumer_positions")}
    return all(done.get((topic, partition), 0) >= end for topic, end in ends.items())


def seed(deployment: Deployment, tmp_path) -> dict:
    """Both students in every table, on Redis and on Kafka; returns the ids of what was made."""
    staff = tmp_path / "staff.csv"
    staff.write_text(STAFF)
    run_leap(deployment.env, "staff", "load", str(staff))
    today = date.today()
    publish(deployment, [("roster", "roster_entry", roster_entry(s)) for s in (GONE, KEPT)])
    publish(deployment, [r for s in (GONE, KEPT) for r in engine_outputs(s, today, 70.0) + activity(s, EVENTS[s])])
    wait_until(lambda: len(query(deployment, "SELECT 1 FROM student_current WHERE live_synced")) == 2
               and len(query(deployment, "SELECT 1 FROM engagement_history")) == 2 and len(query(deployment, "SELECT 1 FROM band_changes")) == 2,
               60, "the consumer to store both students' states, summaries and band changes")  # fmt: skip
    made: dict = {}
    with _db(deployment) as conn:
        for s in (GONE, KEPT):
            alert = str(uuid.uuid4())
            conn.execute(
                """INSERT INTO alerts (alert_id, student_id, kind, episode, status, recipient, recipient_role, day, band, reason, raised_at)
                   VALUES (%s, %s, 'drop', %s, 'new', 'tutor-a', 'personal_tutor', %s, 'low', 'band fell to Low', now())""",
                (alert, s, today.isoformat(), today),
            )
            conn.execute("INSERT INTO alert_deliveries (alert_id, channel, target, status) VALUES (%s, 'email', 'immediate', 'sent')", (alert,))
            conn.execute("INSERT INTO alert_suppressions (student_id, kind, episode, day, reason) VALUES (%s, 'no_engagement', 'e1', %s, 'holiday')", (s, today))
            made[s] = {"alert": alert}
    exemptions = tmp_path / "exemptions.csv"
    exemptions.write_text("student,from,to,reason,note\n" + "".join(f"{s},{today},{today + timedelta(days=7)},placement,placement {s}\n" for s in (GONE, KEPT)))
    run_leap(deployment.env, "exemptions", "load", str(exemptions), "--as", "ops")
    for s in (GONE, KEPT):
        alert = made[s]["alert"]
        leap(deployment, "alerts", "ack", alert, "--as", "tutor-a")
        leap(deployment, "notes", "add", s, f"Talked to {s} about the drop", "--alert", alert, "--as", "tutor-a")
        leap(deployment, "objectives", "add", s, "Attend both seminars", "--as", "tutor-a")
        referral = leap(deployment, "referrals", "add", s, "--service", "counselling", "--reason", "stress", "--as", "tutor-a")["referral_id"]
        leap(deployment, "referrals", "consent", str(referral), "--yes", "--as", s)
        leap(deployment, "queries", "raise", s, "The card reader failed", "--record-type", "attendance", "--record-id", today.isoformat(), "--as", s)
    live = Live.connect(deployment.settings)
    wait_until(lambda: {e["student_id"] for e in live.alerts_for("tutor-a")} == {GONE, KEPT}
               and query(deployment, "SELECT count(*) AS n FROM alerts WHERE live_published")[0]["n"] == 2, 60, "both alerts on the tutor's Redis stream")
    return made


def test_a_student_exports_their_data_is_erased_and_stays_erased_and_nobody_else_is_touched(deployment, tmp_path):
    deployment.start_consumer()
    seed(deployment, tmp_path)
    live = Live.connect(deployment.settings)

    # The student exports everything held about them: every kind of data, only theirs.
    archive_path = tmp_path / "mine.zip"
    done = leap(deployment, "sar", GONE, "--as", GONE, "--out", str(archive_path))
    with zipfile.ZipFile(io.BytesIO(archive_path.read_bytes())) as z:
        files = {name: z.read(name) for name in z.namelist()}
    manifest = json.loads(files["manifest.json"])
    counts = {f["path"]: f["records"] for f in manifest["files"]}
    assert counts == done["records"] and manifest["role"] == "student" and manifest["student_id"] == GONE
    empty = sorted(p for p, n in counts.items() if n == 0)
    assert empty == ["postgres/staff.json"], empty  # the student is not also staff; everything else is there
    for path in counts:
        content = json.loads(files[path])
        assert KEPT not in json.dumps(content), path
    activity_out = json.loads(files["kafka/activity.json"])
    assert sorted(m["value"]["event_id"] for m in activity_out) == [f"{GONE}-vle-{i}" for i in range(EVENTS[GONE])]
    assert json.loads(files["kafka/roster.json"])["value"]["status"] == "active"
    assert json.loads(files["redis/alert-stream-entries.json"])[0]["recipient"] == "tutor-a"
    assert "README.txt" in files and b"kafka/activity.json (3 records)" in files["README.txt"]
    assert query(deployment, "SELECT count(*) AS n FROM access_log WHERE student_id = %s AND action = 'export_sar' AND allowed", GONE)[0]["n"] == 1
    assert "forbidden" in refused(deployment, "sar", GONE, "--as", "tutor-a", "--out", str(tmp_path / "tutor.zip"), code=3)
    assert not (tmp_path / "tutor.zip").exists()

    # Not while they are active on the roster; not by their tutor.
    assert "status active" in refused(deployment, "erase", GONE, "--reason", "request", "--yes", code=2)
    publish(deployment, [("roster", "roster_entry", roster_entry(GONE, "withdrawn"))])
    wait_until(lambda: query(deployment, "SELECT status FROM students WHERE student_id = %s", GONE) == [{"status": "withdrawn"}], 60, "the withdrawal stored")
    left_on = query(deployment, "SELECT left_on FROM students WHERE student_id = %s", GONE)[0]["left_on"]
    assert abs((left_on - date.today()).days) <= 1  # the day they left, kept by the database for retention
    assert "forbidden" in refused(deployment, "erase", GONE, "--reason", "request", "--yes", "--as", "tutor-a", code=3)
    before_kept = rows_about(deployment, KEPT)
    kept_state = live.state(KEPT)
    assert all(before_kept[t.name] for t in TABLES if t.name != "staff")

    # Signed in to the portal (a session as portal/sessions.py stores it), and someone else too.
    for sid, user in (("a", GONE), ("b", KEPT)):
        live.client.hset(live.session_prefix + sid, mapping={"user_id": user, "via": "oidc", "csrf": "x"})
    # Their card and Moodle account are in the identity map, as the other student's are.
    (tmp_path / "ids.csv").write_text(f"student_id,card_number,moodle_user_id\n{GONE},0099001,99001\n{KEPT},0099002,99002\n")
    run_leap(deployment.env, "identities", "load", str(tmp_path / "ids.csv"), "--no-retry")
    erased = leap(deployment, "erase", GONE, "--reason", f"erasure request REF-9 from {GONE}", "--yes", "--as", "ops")
    name = subject(GONE, KEY)
    codec = default_codec()
    assert identity_keys(deployment.settings, GONE, codec) == []  # their ids no longer lead to them
    assert identity_keys(deployment.settings, KEPT, codec) == ["card_number:0099002", "moodle_user_id:99002", f"student_id:{KEPT}"]
    assert erased["subject"] == name

    # Nothing identifying the student in PostgreSQL or Redis; the other student as before.
    assert tables_mentioning(deployment, GONE) == {}
    assert redis_mentioning(live, GONE) == []
    assert rows_about(deployment, KEPT) == before_kept
    assert live.state(KEPT) == kept_state and [e["student_id"] for e in live.alerts_for("tutor-a")] == [KEPT]
    # Their access log is kept under the pseudonym: the refusals and the export are still there.
    trail = query(deployment, "SELECT actor, action, allowed FROM access_log WHERE student_id = %s ORDER BY access_id", name)
    assert ("tutor-a", "erase", False) in [(r["actor"], r["action"], r["allowed"]) for r in trail]
    assert (name, "export_sar", True) in [(r["actor"], r["action"], r["allowed"]) for r in trail]
    assert trail[-1]["action"] == "erase" and trail[-1]["allowed"]

    # The erasure is recorded: who, why, what was removed, what is left and until when.
    record = query(deployment, "SELECT * FROM erasures")
    assert len(record) == 1 and record[0]["subject"] == name and record[0]["erased_by"] == "ops" and record[0]["completed_at"] is not None
    assert "REF-9" in record[0]["reason"]
    removed = record[0]["removed"]
    assert removed["postgres"]["notes"] == 1 and removed["postgres"]["alerts"] == 1 and removed["postgres"]["students"] == 1
    assert removed["redis"] == {"state": 1, "alert_stream_entries": 1, "alert_markers": 1, "portal_sessions": 1}
    assert removed["kafka tombstones"][deployment.settings.topic("identities")] == 3
    assert live.client.hget(live.session_prefix + "b", "user_id") == KEPT
    activity_left = [item for item in record[0]["not_removed"] if item["where"] == deployment.settings.topic("activity")]
    assert len(activity_left) == 1 and date.fromisoformat(activity_left[0]["expires_by"]) > date.today() + timedelta(days=399)

    # Kafka: the compacted topics' latest value for the student is a tombstone; the activity is still there.
    for topic in ("roster", "student-state"):
        assert latest_for(deployment, topic, GONE)[-1].value() is None, topic
        assert latest_for(deployment, topic, KEPT)[-1].value() is not None, topic
    assert len(latest_for(deployment, "activity", GONE)) == EVENTS[GONE]

    # Later publications about the student (the engine still holding them, the roster loaded
    # again) are not stored, and their topics' latest values become tombstones again.
    publish(deployment, engine_outputs(GONE, date.today(), 20.0) + [("roster", "roster_entry", roster_entry(GONE, "withdrawn"))])
    publish(deployment, engine_outputs(KEPT, date.today(), 55.0))
    wait_until(lambda: consumed_past(deployment, ["student-state", "roster", "band-changes", "daily-summaries"], GONE)
               and query(deployment, "SELECT score FROM student_current WHERE student_id = %s", KEPT) == [{"score": 55.0}],
               60, "the consumer to read the new messages")  # fmt: skip
    assert tables_mentioning(deployment, GONE) == {}
    assert redis_mentioning(live, GONE) == []
    for topic in ("roster", "student-state"):
        assert latest_for(deployment, topic, GONE)[-1].value() is None, topic

    # An administrator's export after the erasure: nothing left but what Kafka cannot delete yet.
    after = leap(deployment, "sar", GONE, "--purpose", "check erasure REF-9", "--out", str(tmp_path / "after.zip"))["records"]
    assert {p: n for p, n in after.items() if n} == {"kafka/activity.json": EVENTS[GONE]}


def test_retention_deletes_exactly_the_rows_past_their_cut_off_and_a_second_run_nothing(deployment):
    tz = deployment.settings.tz
    today = datetime.now(tz).date()
    cut = cutoffs(load_policy(deployment.settings.policy_file).retention, today)

    def at(rule: str, seconds: int) -> datetime:
        return local_midnight(cut[rule], tz) + timedelta(seconds=seconds)

    with _db(deployment) as conn:
        day = cut["notes"]
        for sid, status, left in (("left-inside", "withdrawn", day), ("left-outside", "withdrawn", day - timedelta(days=1)), ("still-active", "active", None)):
            conn.execute("INSERT INTO students (student_id, programme, year_of_study, mode_of_study, status, left_on) VALUES (%s, 'BA', 1, 'full_time', %s, %s)",
                         (sid, status, left))  # fmt: skip
            old = datetime(2000, 1, 1, tzinfo=tz)
            conn.execute("INSERT INTO notes (student_id, author, body, created_at) VALUES (%s, 't', 'n', %s)", (sid, old))
            conn.execute("INSERT INTO objectives (student_id, author, description) VALUES (%s, 't', 'o')", (sid,))
            conn.execute("INSERT INTO referrals (student_id, author, service, reason) VALUES (%s, 't', 'counselling', 'r')", (sid,))
            conn.execute("INSERT INTO data_queries (student_id, record_type, record_id, description) VALUES (%s, 'note', '1', 'd')", (sid,))
            conn.execute("INSERT INTO exemptions (student_id, starts, ends, reason, recorded_by) VALUES (%s, '2000-01-01', '2000-01-02', 'placement', 't')", (sid,))
        for d in (cut["engagement_history"], cut["engagement_history"] - timedelta(days=1)):
            conn.execute("INSERT INTO engagement_history (student_id, day, cohort, band) VALUES ('h', %s, 'c', 'good')", (d,))
        for seconds in (0, -1):
            conn.execute(
                """INSERT INTO band_changes (change_id, student_id, cohort, new_band, cause, explanation, as_of)
                   VALUES (%s, 'b', 'c', 'good', 'activity', '{}', %s)""",
                (str(uuid.uuid4()), at("band_changes", seconds)),
            )
            conn.execute("INSERT INTO alert_suppressions (student_id, kind, episode, day, reason, decided_at) VALUES ('p', 'drop', %s, %s, 'holiday', %s)",
                         (f"e{seconds}", today, at("alert_suppressions", seconds)))  # fmt: skip
            conn.execute("INSERT INTO access_log (at, actor, role, action, student_id, purpose) VALUES (%s, 'x', 'admin', 'view_status', 'a', %s)",
                         (at("access_log", seconds), f"at {seconds}"))  # fmt: skip
        # A postponed drop still waiting is kept however old.
        conn.execute("INSERT INTO alert_suppressions (student_id, kind, episode, day, reason, decided_at, postponed) VALUES ('p', 'drop', 'waiting', %s, 'holiday', %s, true)",
                     (today, at("alert_suppressions", -86400)))  # fmt: skip
        alerts = {}
        for label, closed in (("inside", at("alerts", 0)), ("outside", at("alerts", -1)), ("open", None)):
            alert = alerts[label] = str(uuid.uuid4())
            conn.execute(
                """INSERT INTO alerts (alert_id, student_id, kind, episode, status, recipient, recipient_role, day, reason, created_at, closed_at)
                   VALUES (%s, %s, 'drop', 'e', %s, 't', 'personal_tutor', '2000-01-01', 'r', '2000-01-01', %s)""",
                (alert, f"alert-{label}", "actioned" if closed else "new", closed),
            )
            conn.execute("INSERT INTO alert_updates (alert_id, status, by_user) VALUES (%s, 'acknowledged', 't')", (alert,))
            conn.execute("INSERT INTO alert_deliveries (alert_id, channel, target) VALUES (%s, 'email', 'immediate')", (alert,))
            conn.execute("INSERT INTO notes (student_id, author, body, alert_id) VALUES (%s, 't', 'about the alert', %s)", (f"alert-{label}", alert))

    expected = {"notes": 1, "objectives": 1, "referrals": 1, "data_queries": 1, "exemptions": 1, "engagement_history": 1, "band_changes": 1,
                "alert_updates": 1, "alert_deliveries": 1, "notes unlinked from deleted alerts": 1, "alerts": 1, "alert_suppressions": 1, "access_log": 1}  # fmt: skip
    dry = leap(deployment, "retention", "run", "--dry-run", "--today", today.isoformat())
    assert dry["deleted"] == expected
    assert query(deployment, "SELECT count(*) AS n FROM notes")[0]["n"] == 6  # the dry run deleted nothing
    ran = leap(deployment, "retention", "run", "--today", today.isoformat())
    assert ran["deleted"] == expected and ran["keeps_from"]["notes"] == cut["notes"].isoformat()

    for table in ("objectives", "referrals", "data_queries", "exemptions"):
        assert {r["student_id"] for r in query(deployment, f"SELECT student_id FROM {table}")} == {"left-inside", "still-active"}, table
    assert {(r["student_id"], r["alert_id"] is None) for r in query(deployment, "SELECT student_id, alert_id FROM notes")} == {
        ("left-inside", True), ("still-active", True), ("alert-inside", False), ("alert-open", False), ("alert-outside", True)}  # fmt: skip
    assert [r["day"] for r in query(deployment, "SELECT day FROM engagement_history")] == [cut["engagement_history"]]
    assert [r["as_of"] for r in query(deployment, "SELECT as_of FROM band_changes")] == [at("band_changes", 0)]
    assert {r["alert_id"] for r in query(deployment, "SELECT alert_id::text FROM alerts")} == {alerts["inside"], alerts["open"]}
    for table in ("alert_updates", "alert_deliveries"):
        assert {r["alert_id"] for r in query(deployment, f"SELECT alert_id::text FROM {table}")} == {alerts["inside"], alerts["open"]}, table
    assert {r["episode"] for r in query(deployment, "SELECT episode FROM alert_suppressions")} == {"e0", "waiting"}
    log = query(deployment, "SELECT action, purpose FROM access_log ORDER BY access_id")
    assert [r["purpose"] for r in log if r["action"] == "view_status"] == ["at 0"]
    assert [r["action"] for r in log][-1] == "retention"

    again = leap(deployment, "retention", "run", "--today", today.isoformat())
    assert set(again["deleted"].values()) == {0}
    query(deployment, "INSERT INTO staff (user_id, roles) VALUES ('tutor-z', '{personal_tutor}') RETURNING user_id")
    assert "not a LEAP administrator" in refused(deployment, "retention", "run", "--as", "tutor-z", code=3)


def test_an_erasure_cut_short_by_redis_says_so_and_running_it_again_finishes_it(deployment):
    from tests.integration.workers import free_port

    live = Live.connect(deployment.settings)
    query(deployment, "INSERT INTO students (student_id, programme, year_of_study, mode_of_study, status) VALUES (%s, 'BA', 1, 'full_time', 'completed') RETURNING 1", GONE)
    live.put_states([{"student_id": GONE, "band": "good", "score": 70.0, "days_since_last_activity": 0, "day": date.today(), "cohort": "BA/Y1",
                      "explanation": {}, "updated_at": datetime.now()}])  # fmt: skip
    no_redis = {**deployment.env, "LEAP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    cut_short = run_leap(no_redis, "erase", GONE, "--reason", "REF-10", "--yes", check=False)
    message = " ".join((cut_short.stderr + cut_short.stdout).split())
    assert cut_short.returncode == 1 and "PostgreSQL erased, but Redis or Kafka failed" in message and "run leap erase again" in message, message
    assert query(deployment, "SELECT count(*) AS n FROM students")[0]["n"] == 0
    assert [r["completed_at"] for r in query(deployment, "SELECT completed_at FROM erasures")] == [None]
    assert live.state(GONE) != {}

    leap(deployment, "erase", GONE, "--reason", "REF-10, finishing", "--yes")
    assert live.state(GONE) == {}
    finished = query(deployment, "SELECT removed, completed_at FROM erasures ORDER BY erasure_id")
    assert finished[1]["completed_at"] is not None and finished[1]["removed"]["redis"]["state"] == 1
    assert latest_for(deployment, "student-state", GONE)[-1].value() is None
