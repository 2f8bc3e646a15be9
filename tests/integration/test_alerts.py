"""Alerts on the real Kafka, PostgreSQL and Redis: a simulated term, a day at a time.

One cohort over 30 days ending today, with a holiday week, an exempt student, a withdrawn
student, three days when the VLE feed delivers nothing, a consumer SIGKILLed and restarted,
a Redis outage and a PostgreSQL restart, all mid-run. Alerts must go to the right students and only to
them, once per episode, in PostgreSQL and on the recipient's Redis stream.
"""

from __future__ import annotations

import json
import subprocess
import uuid
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta

import pytest

from consumers.live import Live
from leap.kafka import Publisher
from leap.settings import PROJECT_ROOT, Settings
from schemas.codec import default_codec
from streams.clock import send_tick
from tests.integration.alert_report import alert_report
from tests.integration.engine_helpers import all_records, wait_until, worker_metric
from tests.integration.workers import Deployment, query

DAYS = 30  # day offsets -29 .. 0 (today)
HOLIDAY = range(-20, -13)  # a week off, inside the term
OUTAGE = (-6, -5, -4)  # the VLE feed delivers nothing on these days
STEADY = [f"steady-{i}" for i in range(10)]
STOPS = {  # student -> first day with no activity
    "dropper": -10,
    "outage-dropper": -8,
    "silent": -27,
    "exempt": -10,
    "withdrawn": -10,
    "no-tutor": -10,
}
EVERYONE = STEADY + list(STOPS) + ["holiday-rester"]
SERVICES = PROJECT_ROOT / "deploy" / "local" / "services.sh"


def active(student: str, d: int) -> bool:
    if student == "holiday-rester":
        return d not in HOLIDAY
    return d < STOPS.get(student, 1)


def events_of(student: str, d: int, day: datetime) -> list[dict]:
    if not active(student, d):
        return []
    vle = 1 if d in HOLIDAY else 4
    found = []
    if d not in OUTAGE:
        found += [("vle", n) for n in range(vle)]
    found += [("logins", 10 + n) for n in range(2 if d not in HOLIDAY else 1)]
    return [
        {
            "event_id": f"{student}-{d}-{source}-{n}",
            "student_id": student,
            "source": source,
            "action": "viewed" if source == "vle" else "login",
            "event_time": int((day + timedelta(minutes=n)).timestamp() * 1000),
            "course": None,
            "object_ref": None,
            "quantity": None,
            "attendance_status": None,
            "source_ref": "test",
            "amends": None,
        }
        for source, n in found
    ]


def roster_entry(student: str) -> dict:
    return {
        "student_id": student,
        "programme": "BA-HIST",
        "year_of_study": 1,
        "mode_of_study": "full_time",
        "personal_tutor_id": None if student == "no-tutor" else "tutor-a",
        "department": "History",
        "status": "withdrawn" if student == "withdrawn" else "active",
    }


@pytest.fixture
def term(tmp_path):
    today = date.today()
    start, end = today - timedelta(days=DAYS + 30), today + timedelta(days=30)
    calendar = tmp_path / "calendar.toml"
    holiday = [today + timedelta(days=d) for d in HOLIDAY]
    calendar.write_text(
        f'[[term]]\nname = "Term"\nstarts = {start}\nends = {end}\n\n'
        f'[[break]]\nname = "Holiday week"\nstarts = {min(holiday)}\nends = {max(holiday)}\n'
    )
    policy = tmp_path / "institution.toml"
    text = (PROJECT_ROOT / "deploy" / "institution.toml").read_text()
    text = text.replace('calendar_file = "calendar.toml"', f'calendar_file = "{calendar}"')
    text = text.replace("min_usual_events = 50", "min_usual_events = 20").replace("review_seconds = 10", "review_seconds = 1")
    text = text.replace('"Computer Science" = "csee-office"', '"History" = "history-office"')
    policy.write_text(text)
    exemptions = tmp_path / "exemptions.csv"
    exemptions.write_text(f"student,from,to,reason\nexempt,{today - timedelta(days=12)},{today},placement\n")
    return {"policy": policy, "exemptions": exemptions, "today": today}


@pytest.fixture
def deployment(tmp_path, term):
    deployment = Deployment(tmp_path)
    deployment.with_database(term["policy"])
    yield deployment
    deployment.close()
    client = Live.connect(deployment.settings).client
    for key in client.scan_iter(f"{deployment.prefix}:*"):
        client.delete(key)


def health(process) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{process.port}/healthz", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def publish(settings, records: list[tuple[str, str, dict]]) -> None:
    codec = default_codec()
    with Publisher(settings) as publisher:
        for topic, schema, record in records:
            publisher.send(settings.topic(topic), codec.encode(schema, record), key=record["student_id"])


def test_a_term_raises_the_right_alerts_once_through_a_consumer_crash_and_storage_outages(deployment, term):
    from tests.integration.conftest import run_leap

    settings, today = deployment.settings, term["today"]
    run_leap(deployment.env, "exemptions", "load", str(term["exemptions"]))
    publish(settings, [("roster", "roster_entry", roster_entry(s)) for s in EVERYONE])
    deployment.start_worker(tick_seconds=0)  # the days below are the clock
    consumer = deployment.start_consumer()

    def settled_on(day: date) -> bool:
        rows = query(deployment, "SELECT count(*) AS n FROM student_current WHERE day = %s", day)
        return rows[0]["n"] == len(EVERYONE)

    noon = datetime.now(settings.tz).replace(hour=12, minute=0, second=0, microsecond=0)
    for d in range(-(DAYS - 1), 1):
        day = noon + timedelta(days=d)
        redis_down = d == -12
        if redis_down:
            # Redis goes away: the consumer says so on /healthz and holds its place.
            subprocess.run(["redis-cli", "-u", settings.redis_url, "shutdown"], capture_output=True)
            wait_until(lambda: health(consumer) == 503, 60, "the consumer to report Redis unreachable", interval=0.3)
        publish(settings, [("activity", "activity_event", e) for s in EVERYONE for e in events_of(s, d, day)])
        send_tick(settings, int((day + timedelta(hours=1)).timestamp() * 1000))
        if redis_down:
            subprocess.run([str(SERVICES), "up"], check=True, capture_output=True)
            wait_until(lambda: health(consumer) == 200, 60, "the consumer to recover", interval=0.3)
        wait_until(lambda: settled_on(day.date()), 120, f"every student scored on day {d}", interval=0.3)
        if d == -15:
            deployment.kill(consumer)  # SIGKILL: no commit, nothing flushed
            consumer = deployment.start_consumer()
        if d == -8:
            subprocess.run([str(SERVICES), "restart-postgres"], check=True, capture_output=True)

    changes = {c["change_id"] for c in all_records(settings, "band-changes", "band_change")}
    wait_until(lambda: query(deployment, "SELECT count(*) AS n FROM band_changes")[0]["n"] >= len(changes), 120, "every band change stored")
    wait_until(lambda: not query(deployment, "SELECT 1 FROM alerts WHERE status = 'held'"), 120, "held alerts reviewed")
    wait_until(lambda: not query(deployment, "SELECT 1 FROM alerts WHERE NOT live_published AND raised_at IS NOT NULL"), 60, "alerts on Redis")

    stored = {str(r["change_id"]) for r in query(deployment, "SELECT change_id FROM band_changes")}
    assert stored == changes, "every band change stored, none invented"

    alerts = query(deployment, "SELECT * FROM alerts ORDER BY student_id, kind")
    raised = {(a["student_id"], a["kind"]) for a in alerts if a["status"] == "new"}
    assert raised == {
        ("dropper", "drop"),
        ("outage-dropper", "drop"),
        ("silent", "drop"),
        ("silent", "no_engagement"),
        ("no-tutor", "drop"),
    }, alert_report(deployment, STOPS)
    assert len(alerts) == len({(a["student_id"], a["kind"], a["episode"]) for a in alerts}) == len(raised) + sum(a["status"] == "dropped" for a in alerts)
    by_student = {(a["student_id"], a["kind"]): a for a in alerts}
    assert by_student[("no-tutor", "drop")]["recipient"] == "history-office"
    assert by_student[("dropper", "drop")]["recipient"] == "tutor-a"
    # The outage-dropper fell while the VLE feed was out: held, then released once it recovered.
    held = by_student[("outage-dropper", "drop")]
    assert held["held_for"] == ["vle"] and held["raised_at"] > held["created_at"], held
    # silent stopped 27 days ago: 14 counted days were reached only because the holiday week did not count.
    assert by_student[("silent", "no_engagement")]["episode"] == (today - timedelta(days=28)).isoformat()

    suppressed = {(r["student_id"], r["reason"].split(":")[0]) for r in query(deployment, "SELECT * FROM alert_suppressions")}
    assert ("exempt", "exemption") in suppressed and ("withdrawn", "status withdrawn") in suppressed
    assert {s for s, _ in suppressed} <= {"exempt", "withdrawn", "holiday-rester"}

    live = Live.connect(settings)
    tutor_stream = live.alerts_for("tutor-a")
    assert sorted((a["student_id"], a["kind"]) for a in tutor_stream) == sorted(k for k in raised if k[0] != "no-tutor")
    assert [a["student_id"] for a in live.alerts_for("history-office")] == ["no-tutor"]
    current = {r["student_id"]: r for r in query(deployment, "SELECT student_id, band FROM student_current")}
    assert all(live.state(s)["band"] == current[s]["band"] for s in EVERYONE)

    status = run_leap(deployment.env, "status", "silent", "--json").stdout
    assert '"kind": "no_engagement"' in status and '"band": "very_low"' in status
    assert query(deployment, "SELECT count(*) AS n FROM access_log WHERE student_id = 'silent' AND action = 'view_status'")[0]["n"] == 1
    text = run_leap(deployment.env, "status", "dropper").stdout
    assert "engagement score" in text and "  Attendance: " in text and "open alert: drop (new) for tutor-a" in text
    assert "measure" not in text and "cohort median" not in text
    listed = run_leap(deployment.env, "alerts", "list", "--tutor", "history-office", "--json").stdout.splitlines()
    assert [json.loads(line)["student_id"] for line in listed] == ["no-tutor"]


def test_an_alert_goes_on_its_recipients_stream_once_however_often_it_is_published():
    live = Live.connect(Settings(topic_prefix=f"leap-it-{uuid.uuid4().hex[:8]}"))
    alert = {"alert_id": str(uuid.uuid4()), "student_id": "s1", "kind": "drop", "recipient": "tutor-z", "day": date.today(), "reason": "band fell"}
    try:
        assert live.publish_alert(alert) is True
        assert live.publish_alert(alert) is False
        assert live.publish_alert({**alert, "alert_id": str(uuid.uuid4())}) is True
        assert [a["alert_id"] for a in live.alerts_for("tutor-z")][0] == alert["alert_id"]
        assert len(live.alerts_for("tutor-z")) == 2
    finally:
        for key in live.client.scan_iter(f"{live.prefix}:*"):
            live.client.delete(key)


def test_a_record_postgresql_refuses_is_dead_lettered_and_the_rest_is_stored(deployment):
    settings = deployment.settings
    consumer = deployment.start_consumer()
    good = {
        "change_id": str(uuid.uuid4()), "student_id": "s-good", "cohort": "all", "previous_band": None, "new_band": "high",
        "score": 90.0, "as_of": 1_790_000_000_000, "cause": "activity", "days_since_last_activity": 0, "explanation": "{}",
        "trigger_event_id": None, "trigger_time": None, "input_offset": None,
    }  # fmt: skip
    bad = {**good, "change_id": "not-a-uuid", "student_id": "s-bad"}
    publish(settings, [("band-changes", "band_change", bad), ("band-changes", "band_change", good)])
    wait_until(lambda: query(deployment, "SELECT 1 FROM band_changes WHERE student_id = 's-good'"), 60, "the good band change stored")
    # The two records are on different partitions: the good one may be stored before the
    # bad one is read.
    wait_until(lambda: [r for r in all_records(settings, "dead-letter", "dead_letter") if r["source"] == "consumer"], 60, "the refused record dead-lettered")
    letters = [r for r in all_records(settings, "dead-letter", "dead_letter") if r["source"] == "consumer"]
    assert len(letters) == 1 and letters[0]["location"] == settings.topic("band-changes")
    assert "not-a-uuid" in letters[0]["reason"] or "uuid" in letters[0]["reason"].lower()
    assert default_codec().decode(letters[0]["raw"])["student_id"] == "s-bad"
    assert health(consumer) == 200
    # It reads the dead-letter topic back to count what was rejected, by whom and why.

    wait_until(lambda: worker_metric(consumer.port, "leap_dead_letters_total", source="consumer") == 1, 60, "its own dead letter counted")
    assert consumer.poll() is None, "counting a dead letter stopped the consumer"
