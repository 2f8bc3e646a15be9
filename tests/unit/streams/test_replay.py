import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from leap.calendar import load_calendar
from leap.policy import Engagement, PolicyError, load_policy
from producers.simulate import simulate
from producers.exports import read_events
from producers.roster import load_roster_file
from streams.replay import replay

LONDON = ZoneInfo("Europe/London")
POLICY = Engagement(min_cohort_size=1)  # tests of other rules use groups of a few students; the minimum has tests of its own
AS_OF = date(2026, 11, 20)


def event(student, day, n=0, source="vle", **extra):
    when = datetime.combine(day, datetime.min.time(), LONDON) + timedelta(hours=10, minutes=n)
    return {
        "event_id": f"{student}-{day}-{source}-{n}",
        "student_id": student,
        "source": source,
        "action": "x",
        "event_time": int(when.timestamp() * 1000),
        "course": None,
        "object_ref": None,
        "quantity": extra.get("quantity"),
        "attendance_status": extra.get("status"),
        "source_ref": "t",
        "amends": extra.get("amends"),
    }


def by_student(results):
    return {r.student_id: r for r in results}


def test_a_student_who_stops_moves_down_at_day_rollovers():
    events = []
    for offset in range(30):
        day = AS_OF - timedelta(days=29 - offset)
        for s in ("a", "b", "c"):
            events += [event(s, day, n) for n in range(5)]
        if offset < 20:
            events += [event("quitter", day, n) for n in range(5)]
    bands = []
    for days_after in range(0, 9):
        as_of = AS_OF - timedelta(days=10) + timedelta(days=days_after)  # from the last active day
        results, _ = replay(iter(events), {}, as_of, POLICY, LONDON)
        bands.append(by_student(results)["quitter"].band)
    assert bands[0] == "high"
    assert bands[-1] == "very_low"
    order = ["very_low", "low", "partial", "good", "high"]
    assert all(order.index(a) >= order.index(b) for a, b in zip(bands, bands[1:])), bands


def test_counts_and_what_is_outside_the_window():
    events = [event("a", AS_OF, 1), event("a", AS_OF, 1), event("a", AS_OF + timedelta(days=1), 1), event("a", AS_OF - timedelta(days=60), 1), None]
    results, counts = replay(iter(events), {}, AS_OF, POLICY, LONDON)
    assert (counts.read, counts.applied, counts.duplicates, counts.outside, counts.rejected) == (5, 1, 1, 2, 1)
    assert by_student(results)["a"].days_since_last_activity == 0


def test_roster_gives_cohort_mode_and_excludes_inactive_students_from_baselines():
    roster = {
        "ft": {"programme": "P", "year_of_study": 1, "mode_of_study": "full_time", "status": "active"},
        "ft2": {"programme": "P", "year_of_study": 1, "mode_of_study": "full_time", "status": "active"},
        "pt": {"programme": "P", "year_of_study": 1, "mode_of_study": "part_time", "status": "active"},
        "gone": {"programme": "P", "year_of_study": 1, "mode_of_study": "full_time", "status": "withdrawn"},
    }
    per_day = {"ft": 2, "ft2": 4, "pt": 1}
    events = [event(s, AS_OF - timedelta(days=d), n) for s, k in per_day.items() for d in range(1, 22) for n in range(k)]
    results, _ = replay(iter(events), roster, AS_OF, POLICY, LONDON)
    got = by_student(results)
    assert got["ft"].cohort == "P/Y1" and got["gone"].cohort == "P/Y1"
    assert got["pt"].explanation["window"] == [str(AS_OF - timedelta(days=21)), str(AS_OF - timedelta(days=1))]
    # Full-time students are compared with full-time peers, without the withdrawn student's
    # zeros: the median of 2 and 4 a day, not of 0, 2 and 4.
    vle = next(s for s in got["ft"].explanation["sources"] if s["source"] == "vle")
    assert vle["reference"] == pytest.approx(3.0)
    assert got["ft"].explanation["reference_group"] == {"key": "cohort:P/Y1:full_time", "label": "P/Y1 full-time students", "size": 2, "level": "cohort"}
    # The part-time student is compared with part-time students only (here just themself).
    assert got["pt"].explanation["reference_group"]["key"] == "cohort:P/Y1:part_time"
    assert got["pt"].score == 100.0


def test_students_without_roster_entry_are_unassigned():
    results, _ = replay(iter([event("x", AS_OF)]), {}, AS_OF, POLICY, LONDON)
    assert results[0].cohort == "unassigned"


def test_simulated_university_replays_with_every_band(tmp_path):
    end = datetime.combine(AS_OF, datetime.min.time(), LONDON) + timedelta(hours=18)
    counts = simulate(tmp_path, students=150, days=35, seed=4, end=end, tz=LONDON)
    assert counts.duplicates > 0 and counts.corrections > 0 and counts.late_uploads > 0
    results, replayed = replay(read_events([tmp_path / "events.jsonl"]), load_roster_file(tmp_path / "roster.csv"), AS_OF, POLICY, LONDON)
    assert replayed.read == counts.events
    assert replayed.duplicates >= 1
    assert len(results) == 150
    assert {r.band for r in results} >= {"high", "good", "very_low"}
    assert len({r.cohort for r in results}) > 5
    # Its calendar's break is the holiday week: no sessions were held in it.
    calendar = load_calendar(tmp_path / "calendar.toml")
    sessions = {datetime.fromisoformat(json.loads(line)["event_time"]).date() for line in (tmp_path / "events.jsonl").read_text().splitlines() if '"attendance"' in line}
    holiday = [d for d in (AS_OF - timedelta(days=i) for i in range(35)) if calendar.non_teaching(d) == "Holiday week"]
    assert len(holiday) == 7 and not sessions & set(holiday)


def test_policy_file_errors_name_the_field(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text("[engagement.weights]\nvle = -1\n")
    with pytest.raises(PolicyError, match="engagement.weights.vle"):
        load_policy(bad)
    bad.write_text("[engagement]\nretention_days = 10\n")
    with pytest.raises(PolicyError, match="retention_days"):
        load_policy(bad)
    bad.write_text("[engagement.bands]\nhigh = 50\ngood = 60\n")
    with pytest.raises(PolicyError, match="band bounds"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "missing.toml")


def test_the_shipped_policy_is_the_documented_default():
    from leap.settings import PROJECT_ROOT

    assert load_policy(PROJECT_ROOT / "deploy" / "institution.toml").engagement == Engagement()


def test_counts_say_what_became_of_each_sources_events():
    day = AS_OF - timedelta(days=1)
    events = [event("a", day, 0), event("a", day, 0), event("a", day, 1, source="logins"),
              event("a", AS_OF - timedelta(days=200), 2), None, event("a", day, 3, source="lecture_capture", quantity=5000.0)]  # fmt: skip
    _, counts = replay(events, {}, AS_OF, POLICY, LONDON)
    assert counts.by_source == {
        ("vle", "applied"): 1, ("vle", "duplicate"): 1, ("vle", "outside"): 1, ("logins", "applied"): 1,
        ("unreadable", "rejected"): 1, ("lecture_capture", "rejected"): 1,
    }  # fmt: skip
    assert sum(counts.by_source.values()) == counts.read
