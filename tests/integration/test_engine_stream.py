"""The engine on the real broker: real workers, a simulated university, crashes and rebalances.

Each test compares the engine's converged output with `leap replay` on the same events.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from producers.simulate import simulate
from streams.scoring import near_boundary
from leap.policy import load_policy
from producers.exports import read_events
from streams.clock import send_tick
from producers.roster import load_roster_file
from streams.replay import replay
from tests.integration.conftest import run_leap
from tests.integration.engine_helpers import all_records, latest_states, wait_until
from tests.integration.workers import Deployment

STUDENTS = 500  # 89,000 events: enough duplicates, late uploads and corrections (asserted below)
DAYS = 28


@pytest.fixture(scope="module")
def university(tmp_path_factory):
    from leap.settings import Settings

    settings = Settings()
    folder = tmp_path_factory.mktemp("university")
    now = datetime.now(settings.tz)
    counts = simulate(folder, students=STUDENTS, days=DAYS, seed=11, end=now, tz=settings.tz)
    assert counts.duplicates > 100 and counts.late_uploads > 1000 and counts.corrections > 10
    events = folder / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    half = len(lines) // 2
    (folder / "first.jsonl").write_text("".join(lines[:half]))
    (folder / "second.jsonl").write_text("".join(lines[half:]))
    policy = load_policy(settings.policy_file).engagement
    expected, _ = replay(read_events([events]), load_roster_file(folder / "roster.csv"), now.date(), policy, settings.tz)
    return {"folder": folder, "expected": {r.student_id: r for r in expected}, "policy": policy, "events": len(lines)}


@pytest.fixture
def deployment(tmp_path):
    deployment = Deployment(tmp_path)
    yield deployment
    deployment.close()


def mismatches(deployment: Deployment, university) -> list[str]:
    """Students whose streamed state differs from the replay (empty once converged)."""
    states = latest_states(deployment.settings)
    problems = []
    for student, expected in university["expected"].items():
        got = states.get(student)
        if got is None:
            problems.append(f"{student}: no state")
            continue
        if (got["score"] is None) != (expected.score is None) or (
            expected.score is not None and abs(got["score"] - expected.score) > 1e-9
        ):
            problems.append(f"{student}: score {got['score']} != replay {expected.score}")
        elif expected.score is not None and not near_boundary(expected.score, university["policy"]) and got["band"] != expected.band:
            problems.append(f"{student}: band {got['band']} != replay {expected.band}")
    return problems


def converge(deployment: Deployment, university, seconds: float = 400) -> None:
    """Wait until every student's streamed state equals the replay; fail with the differences.

    "Caught up" is judged by content, not consumer lag: faust-streaming can leave a moved
    partition's committed offset behind after a rebalance while it processes (and, on
    restart, redelivers) its messages; redelivery is harmless here, as the tests show.
    """
    last: list[str] = []

    def converged() -> bool:
        nonlocal last
        last = mismatches(deployment, university)
        return not last

    try:
        wait_until(converged, seconds, "the stream to equal the replay", interval=3)
    except AssertionError:
        raise AssertionError(f"{len(last)} students differ from the replay, e.g. {last[:5]}\n{deployment.logs()}") from None


def publish(deployment: Deployment, path: Path) -> dict:
    return json.loads(run_leap(deployment.env, "produce", "events", str(path), "--json").stdout.strip().splitlines()[-1])


# How each of the two workers reads its inputs (LEAP_ENGINE_READER): the default, faust's
# streams, and one of each (a rolling upgrade from one to the other).
@pytest.mark.parametrize("readers", [("direct", "direct"), ("faust", "faust"), ("faust", "direct")], ids=["direct", "faust", "mixed"])
def test_a_worker_equals_the_replay_and_a_second_worker_joining_changes_nothing(deployment, university, readers):
    folder = university["folder"]
    run_leap(deployment.env, "roster", "load", str(folder / "roster.csv"))
    deployment.start_worker(reader=readers[0])
    first = publish(deployment, folder / "first.jsonl")
    # Join while the first half is still being processed: partitions move between workers.
    deployment.start_worker(reader=readers[1])
    second = publish(deployment, folder / "second.jsonl")
    assert first["published"] + second["published"] == university["events"]
    converge(deployment, university)

    changes = all_records(deployment.settings, "band-changes", "band_change")
    ids = [c["change_id"] for c in changes]
    assert len(set(ids)) > STUDENTS / 2
    assert {c["cause"] for c in changes} >= {"activity", "late_event"}
    explanation = json.loads(changes[-1]["explanation"])
    assert {s["source"] for s in explanation["sources"]} == {"attendance", "vle", "coursework", "lecture_capture", "logins", "library"}
    assert all(w.poll() is None for w in deployment.workers), deployment.logs()


def test_a_worker_killed_mid_stream_and_restarted_loses_and_double_counts_nothing(deployment, university):
    folder = university["folder"]
    run_leap(deployment.env, "roster", "load", str(folder / "roster.csv"))
    worker = deployment.start_worker()
    publish(deployment, folder / "events.jsonl")
    # Kill it once it is part-way through: some output written, much still to do.
    wait_until(lambda: len(latest_states(deployment.settings)) > STUDENTS / 4, 120, "the worker to get going")
    assert deployment.engine_lag() > 0, "the worker finished before it could be killed mid-stream"
    deployment.kill(worker)
    deployment.start_worker()
    converge(deployment, university)


def test_after_leap_reset_the_same_university_published_again_equals_the_replay(deployment, university, tmp_path):
    # `make run` twice: without a reset the second run's events are "late" for the first
    # run's clock and the bands drift from what the events say.
    import redis

    from consumers.db import connect

    folder = university["folder"]
    deployment.with_database()
    state_dir = tmp_path / "state"
    deployment.env["LEAP_STATE_DIR"] = str(state_dir)
    engine_dir = state_dir / "engine" / "worker"
    run_leap(deployment.env, "roster", "load", str(folder / "roster.csv"))
    worker = deployment.start_worker(datadir=engine_dir)
    publish(deployment, folder / "events.jsonl")
    converge(deployment, university)
    deployment.stop(worker)
    live = redis.Redis.from_url(deployment.settings.redis_url)
    live.set(f"{deployment.prefix}:student:someone", "x")
    with connect(deployment.settings, autocommit=True) as conn:
        conn.execute("INSERT INTO students (student_id, status) VALUES ('someone', 'active')")

    refused = run_leap(deployment.env, "reset", check=False)
    assert refused.returncode != 0 and "--yes" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert engine_dir.exists() and live.exists(f"{deployment.prefix}:student:someone")

    done = run_leap(deployment.env, "reset", "--yes")
    assert "tables emptied" in done.stdout
    assert not engine_dir.exists() and not list(live.scan_iter(f"{deployment.prefix}:*"))
    with connect(deployment.settings) as conn:
        assert conn.execute("SELECT count(*) AS n FROM students").fetchone()["n"] == 0
    assert latest_states(deployment.settings) == {}
    assert deployment.engine_lag() == 0  # no committed offsets left pointing past the new, empty topics

    run_leap(deployment.env, "roster", "load", str(folder / "roster.csv"))
    deployment.start_worker(datadir=engine_dir)
    publish(deployment, folder / "events.jsonl")
    converge(deployment, university)


def test_a_student_who_stops_moves_down_at_day_rollovers_without_events(deployment):
    """Three weeks of a live feed, a day at a time, with ticks through each day and past each
    midnight; one student stops half-way and sends nothing more, ten keep the same habits."""
    settings = deployment.settings
    today = datetime.now(settings.tz).replace(hour=10, minute=0, second=0, microsecond=0)
    # No leader ticks: the feed's own days and the ticks sent here are the clock.
    deployment.start_worker(tick_seconds=0)

    def band(student):
        state = latest_states(settings).get(student)
        return state and state["band"]

    stop_after = 9
    for d in range(20, -1, -1):
        day = today - timedelta(days=d)
        # Ten students at 7 Moodle actions a day (the median), two at 3 a day: a constant 43%
        # of the median, in the middle of Partial, as long as an unfinished day is not held
        # against them (six sevenths of it would be Low).
        per_day = {f"steady-{i}": 7 for i in range(10)} | {"steady-partial-1": 3, "steady-partial-2": 3}
        if d > stop_after:
            per_day["stopper"] = 7
        path = deployment.tmp / f"day-{d}.jsonl"
        path.write_text(
            "".join(
                json.dumps({"event_id": f"{s}-{d}-{n}", "student_id": s, "source": "vle", "action": "viewed", "event_time": (day + timedelta(minutes=n)).isoformat()}) + "\n"
                for s, k in per_day.items()
                for n in range(k)
            )
        )
        publish(deployment, path)
        run_leap(deployment.env, "clock", "tick", "--at", (day + timedelta(hours=2)).isoformat())
        # A day at a time, as a live feed is: wait until the day's group baseline is applied
        # to everyone (the repeated noon tick lets the cohort agent freeze the day once every
        # member's contribution is in; a tick at a time already passed moves no clock).
        noon_ms, iso = int((day + timedelta(hours=2)).timestamp() * 1000), day.date().isoformat()
        names = list(per_day) + (["stopper"] if d <= stop_after else [])

        def baselines_applied() -> bool:
            send_tick(settings, noon_ms)
            states = latest_states(settings)
            return {json.loads(states[s]["explanation"]).get("baseline_day") if s in states else None for s in names} == {iso}

        wait_until(baselines_applied, 120, f"day {d}'s baseline applied to every student")
        if d > 0:  # half past midnight: the new day begins before any of its events
            run_leap(deployment.env, "clock", "tick", "--at", (day + timedelta(hours=14, minutes=30)).isoformat())
        if d == stop_after + 1:
            wait_until(lambda: band("stopper") == "high", 120, "the stopper's band while active")
    wait_until(lambda: band("stopper") == "very_low", 120, "the stopper to reach very_low")

    every_change = all_records(settings, "band-changes", "band_change")
    # Constant habits keep a constant band: after the first window, no change at any midnight.
    first_window_end = (today - timedelta(days=20 - 8)).date()
    steady_changes = [c for c in every_change if c["student_id"].startswith("steady-") and datetime.fromisoformat(json.loads(c["explanation"])["as_of_day"]).date() > first_window_end]
    assert steady_changes == [], [(c["student_id"], c["previous_band"], c["new_band"], c["cause"]) for c in steady_changes]
    final = latest_states(settings)
    assert {final[f"steady-{i}"]["band"] for i in range(10)} == {"high"}
    assert {final[f"steady-partial-{i}"]["band"] for i in (1, 2)} == {"partial"}
    changes = [c for c in every_change if c["student_id"] == "stopper"]
    after_stop = [c for c in changes if c["previous_band"] == "high" or changes.index(c) > [x["new_band"] for x in changes].index("high")]
    path_of_bands = [c["new_band"] for c in after_stop]
    order = ["very_low", "low", "partial", "good", "high"]
    assert path_of_bands[-1] == "very_low" and len(path_of_bands) >= 2, path_of_bands
    assert all(order.index(a) > order.index(b) for a, b in zip(path_of_bands, path_of_bands[1:])), path_of_bands
    # Nothing the stopper did caused these: time did.
    assert {c["cause"] for c in after_stop} <= {"day_rollover", "cohort_baseline"}, after_stop
    assert all(c["trigger_event_id"] is None for c in after_stop)
    summaries = [s for s in all_records(settings, "daily-summaries", "daily_summary") if s["student_id"] == "stopper"]
    assert len({s["day"] for s in summaries}) >= 15
    assert latest_states(settings)["stopper"]["days_since_last_activity"] == stop_after + 1
