"""Reading a chaos run's results back from Kafka, PostgreSQL and Redis, and cleaning up after it."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

import psycopg

from consumers.live import Live
from leap.dead_letter import read_dead_letters
from leap.kafka import read_to_end
from leap.log import get_logger
from leap.settings import get_settings
from leap.topics import consumer_group, delete_deployment, engine_changelog, group_lag
from reliability import invariants
from schemas.codec import CodecError
from streams import state_codec
from streams.model import event_day, id_hash
from streams.outputs import latest_states

if TYPE_CHECKING:
    from reliability.chaos import Run

log = get_logger("leap.chaos")

CONSUMER_TOPICS = ("activity", "roster", "student-state", "daily-summaries", "band-changes", "dead-letter")


def _rows(run: Run, sql: str) -> list[tuple]:
    with psycopg.connect(run.settings.database_url) as conn:
        return conn.execute(sql).fetchall()


def published_changes(run: Run) -> list[str]:
    """The change id of every band change on the topic (a redelivered copy repeats its id)."""
    return [run.codec.decode(m.value(), expect="band_change")["change_id"] for m in read_to_end(run.settings, run.settings.topic("band-changes"))]


def converged(run: Run, expected: Mapping, seconds: float) -> bool:
    """Wait until the engine equals the replay and the consumer has stored everything; False at the deadline."""
    deadline = time.monotonic() + seconds
    topics = [run.settings.topic(t) for t in CONSUMER_TOPICS]
    while time.monotonic() < deadline:
        run.processes.supervise()
        try:
            same = invariants.states_equal_replay(latest_states(run.settings), expected, run.policy).held
            stored = same and group_lag(run.settings, consumer_group(run.prefix), topics) == 0
            if stored and invariants.band_changes_once(published_changes(run), [r[0] for r in _rows(run, "SELECT change_id::text FROM band_changes")]).held:
                return True
        except Exception as exc:  # a service still coming back: ask again
            log.info("not settled yet", error=str(exc)[:200])
        time.sleep(3)
    return False


def dead_by_source(run: Run) -> Counter[str]:
    """The engine's dead letters from the activity topic, once per position, by the event's source
    (``poison`` when the record is not an event at all)."""
    found: dict[str, str] = {}
    activity = run.settings.topic("activity")
    for letter in read_dead_letters(run.settings, run.codec):
        if letter.get("source") != "engine" or letter.get("location") != activity:
            continue
        try:
            source = run.codec.decode(letter["raw"], expect="activity_event")["source"]
        except (CodecError, KeyError, TypeError):
            source = "poison"
        found[letter["position"]] = source
    return Counter(found.values())


def collect(run: Run, expected: Mapping, by_source: Counter, settled: bool, stalls: list[str]) -> list[invariants.Check]:
    """Every invariant of the run (see ``reliability.invariants``); ``stalls`` are the chunks
    after which the engine did not catch up in time (said in the first check's detail)."""
    detail = "converged before the deadline" if settled else "did not converge in time"
    checks = [invariants.Check("engine and consumer settled", settled, "; ".join([detail, *stalls]))]
    states = latest_states(run.settings)
    checks.append(invariants.states_equal_replay(states, expected, run.policy))
    if not checks[-1].held:
        # Kept with the processes' logs: where the engine and the replay part ways.
        differences = invariants.explanation_differences(states, expected)
        (run.work / "state-differences.json").write_text(json.dumps(differences, indent=2, default=str) + "\n")
    stored = [r[0] for r in _rows(run, "SELECT change_id::text FROM band_changes")]
    checks.append(invariants.band_changes_once(published_changes(run), stored))
    alerts = _rows(run, "SELECT alert_id::text, student_id, kind, episode, status FROM alerts")
    live = Live.connect(run.settings)
    entries = [fields["alert_id"] for stream in live.alert_streams() for _, fields in live.client.xrange(stream)]
    checks.append(invariants.one_alert_per_episode([(a[1], a[2], a[3]) for a in alerts], entries, {a[0]: a[4] for a in alerts}))
    sent = {source: len(ids) for source, ids in run.sent_ids.items()}
    sent["poison"] = run.poison_sent
    applied = {source: n for (source, kind), n in by_source.items() if kind == "applied"}
    checks.append(invariants.no_event_lost(sent, applied, dead_by_source(run)))
    checks.append(invariants.events_held(sent_event_ids(run), engine_event_ids(run)))
    return checks


def engine_event_ids(run: Run) -> dict[str, set[int]]:
    """Each student's event-id hashes in the engine's state (the latest record of the students' changelog)."""
    latest: dict[bytes, bytes | None] = {}
    for message in read_to_end(run.settings, engine_changelog(run.prefix, "students")):
        latest[message.key()] = message.value()
    return {key.decode(): {h for day in state_codec.loads(value).days.values() for h in day.ids} for key, value in latest.items() if value}


def sent_event_ids(run: Run) -> dict[str, set[int]]:
    """Each student's event-id hashes that the engine must still hold: every event sent whose day
    is within the retention as of the run's last day."""
    first = run.now.date().toordinal() - run.policy.retention_days + 1
    expected: dict[str, set[int]] = {}
    for event in run.events:
        if event_day(event["event_time"], run.settings.tz) >= first:
            expected.setdefault(event["student_id"], set()).add(id_hash(event["event_id"]))
    return expected


def delete_run(run: Run) -> None:
    """Remove the run's topics, consumer groups, database and Redis keys."""
    delete_deployment(run.settings, run.prefix)
    with psycopg.connect(get_settings().database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{run.database}" WITH (FORCE)')
    live = Live.connect(run.settings)
    for key in live.client.scan_iter(f"{run.prefix}:*"):
        live.client.delete(key)
