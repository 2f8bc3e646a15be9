"""Sixty days on the real Kafka, PostgreSQL and Redis across a Christmas break.

One cohort, a day at a time, ticks through each day and past each midnight: steady students
keep their band from the first week on; a student who stops a week before the break is
alerted in the new term, once the teaching days of silence add up (not during the break,
not on the first day back); a student who stops in the new term gets one drop alert. Exactly
one alert per (student, kind, episode).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest

from leap.calendar import load_calendar
from leap.kafka import Publisher
from leap.settings import PROJECT_ROOT
from schemas.codec import default_codec
from streams.clock import send_tick
from tests.integration.alert_report import alert_report
from tests.integration.engine_helpers import all_records, wait_until
from tests.integration.workers import Deployment, query

DAYS = 60  # day offsets -59 .. 0 (today)
BREAK = (-35, -26)  # between the terms: no teaching, nothing counts
STEADY = [f"steady-{i}" for i in range(10)] + ["steady-light-1", "steady-light-2"]
STOPS = {"christmas-stopper": -43, "term2-dropper": -12}  # first day with no activity
EVERYONE = STEADY + list(STOPS)


def events_of(student: str, d: int, day: datetime) -> list[dict]:
    if d >= STOPS.get(student, 1):
        return []
    vle = 2 if student.startswith("steady-light") else 4
    found = [("vle", n) for n in range(vle)] + [("logins", 10)]
    return [
        {
            "event_id": f"{student}-{d}-{source}-{n}", "student_id": student, "source": source, "action": "x",
            "event_time": int((day + timedelta(minutes=n)).timestamp() * 1000), "course": None, "object_ref": None,
            "quantity": None, "attendance_status": None, "source_ref": "test", "amends": None,
        }  # fmt: skip
        for source, n in found
    ]


def roster_entry(student: str) -> dict:
    return {
        "student_id": student, "programme": "BA-HIST", "year_of_study": 1, "mode_of_study": "full_time",
        "personal_tutor_id": "tutor-a", "department": "History", "status": "active",
    }  # fmt: skip


@pytest.fixture
def deployment(tmp_path):
    today = date.today()
    calendar = tmp_path / "calendar.toml"
    calendar.write_text(
        'teaching_weekdays = ["mon", "tue", "wed", "thu", "fri"]\n\n'
        f'[[term]]\nname = "Autumn term"\nstarts = {today - timedelta(days=120)}\nends = {today + timedelta(days=BREAK[0] - 1)}\n\n'
        f'[[term]]\nname = "Spring term"\nstarts = {today + timedelta(days=BREAK[1] + 1)}\nends = {today + timedelta(days=60)}\n'
    )
    policy = tmp_path / "institution.toml"
    text = (PROJECT_ROOT / "deploy" / "institution.toml").read_text()
    policy.write_text(text.replace('calendar_file = "calendar.toml"', f'calendar_file = "{calendar}"').replace("review_seconds = 10", "review_seconds = 1"))
    deployment = Deployment(tmp_path)
    deployment.with_database(policy)
    deployment.calendar = load_calendar(calendar)  # type: ignore[attr-defined]
    yield deployment
    deployment.close()


def test_sixty_days_across_a_christmas_break(deployment):
    settings, calendar = deployment.settings, deployment.calendar
    codec = default_codec()
    with Publisher(settings) as publisher:
        for s in EVERYONE:
            publisher.send(settings.topic("roster"), codec.encode("roster_entry", roster_entry(s)), key=s)
    deployment.start_worker(tick_seconds=0)  # the days below are the clock
    deployment.start_consumer()

    def scored_on(day: date) -> bool:
        return query(deployment, "SELECT count(*) AS n FROM student_current WHERE day = %s", day)[0]["n"] == len(EVERYONE)

    noon = datetime.now(settings.tz).replace(hour=12, minute=0, second=0, microsecond=0)
    for d in range(-(DAYS - 1), 1):
        day = noon + timedelta(days=d)
        send_tick(settings, int((day - timedelta(hours=11, minutes=30)).timestamp() * 1000))  # 00:30: a new day, no events yet
        with Publisher(settings) as publisher:
            for s in EVERYONE:
                for e in events_of(s, d, day):
                    publisher.send(settings.topic("activity"), codec.encode("activity_event", e), key=s)
        send_tick(settings, int((day + timedelta(hours=1)).timestamp() * 1000))
        wait_until(lambda: scored_on(day.date()), 120, f"every student scored on day {d}", interval=0.3)

    changes = all_records(settings, "band-changes", "band_change")
    wait_until(lambda: query(deployment, "SELECT count(*) AS n FROM band_changes")[0]["n"] >= len(changes), 120, "every band change stored")
    wait_until(lambda: not query(deployment, "SELECT 1 FROM alerts WHERE status = 'held'"), 120, "held alerts reviewed")

    # Constant habits, constant band: after the first week no change at all, across 50
    # midnights and a break.
    settled = (noon + timedelta(days=-(DAYS - 1) + 8)).date()
    late = [c for c in changes if c["student_id"] in STEADY and date.fromisoformat(json.loads(c["explanation"])["as_of_day"]) > settled]
    assert late == [], [(c["student_id"], c["previous_band"], c["new_band"], c["cause"]) for c in late]

    alerts = query(deployment, "SELECT * FROM alerts ORDER BY student_id, kind")
    raised = sorted((a["student_id"], a["kind"]) for a in alerts if a["status"] == "new")
    assert raised == [("christmas-stopper", "drop"), ("christmas-stopper", "no_engagement"), ("term2-dropper", "drop")], alert_report(deployment, STOPS)
    assert len(alerts) == len({(a["student_id"], a["kind"], a["episode"]) for a in alerts})

    # The stopper is alerted in the new term, on the day the teaching days of silence reach
    # the policy's 14: the break's days did not count, and nothing was sent during it.
    silence = next(a for a in alerts if a["kind"] == "no_engagement")
    last_active = date.today() + timedelta(days=STOPS["christmas-stopper"] - 1)
    assert silence["episode"] == last_active.isoformat()
    spring = calendar.terms[1]
    assert silence["day"] in spring, silence["day"]
    assert calendar.teaching_days(last_active, silence["day"]) == 14
    assert calendar.teaching_days(last_active, silence["day"] - timedelta(days=1)) < 14

    # The term view is there beside the band, from the calendar's term.
    state = query(deployment, "SELECT * FROM student_current WHERE student_id = 'steady-0'")[0]
    assert state["term_days"] == (date.today() - spring.starts).days and state["term_active_days"] == state["term_days"]
