"""`leap produce SOURCE FOLDER --follow`: exports dropped in a folder are published once each, as they arrive."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid

from schemas.codec import default_codec
from tests.integration.conftest import LEAP
from tests.integration.engine_helpers import wait_until
from tests.integration.kafka_helpers import end_offsets, read_range
from tests.integration.workers import free_port


def events_file(path, n: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    partial = path.with_name(path.name + ".part")  # copied in under a partial name, then renamed: as rsync and most tools do
    partial.write_text("".join(json.dumps({"event_id": i, "student_id": "F1", "source": "vle", "action": "viewed", "event_time": 1_795_000_000_000}) + "\n" for i in ids))
    partial.rename(path)
    return ids


def published_ids(settings, topic, before) -> list[str]:
    return [default_codec().decode(m.value())["event_id"] for m in read_range(settings, topic, before, end_offsets(settings, topic))]


def test_each_dropped_export_is_published_once_across_restarts_and_a_wrong_one_is_dead_lettered(settings, leap_env, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    env = {**leap_env, "LEAP_STATE_DIR": str(tmp_path / "state")}
    args = [LEAP, "produce", "events", str(drop), "--follow", "--poll-seconds", "0.3", "--metrics-port", str(free_port())]
    activity, dead = settings.topic("activity"), settings.topic("dead-letter")
    before, dead_before = end_offsets(settings, activity), end_offsets(settings, dead)
    log = (tmp_path / "follow.log").open("w")
    follower = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        first = events_file(drop / "monday.jsonl", 5)
        wait_until(lambda: len(published_ids(settings, activity, before)) >= 5, 60, f"monday's events (log {tmp_path / 'follow.log'})", interval=0.3)
        (drop / "notes.txt").write_text("not an export at all\n")
        wait_until(lambda: any(end_offsets(settings, dead)[p] > dead_before.get(p, 0) for p in end_offsets(settings, dead)), 60, "the wrong file's dead letter", interval=0.3)
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.wait(30)
    follower = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        second = events_file(drop / "tuesday.jsonl", 3)
        wait_until(lambda: len(published_ids(settings, activity, before)) >= 8, 60, "tuesday's events", interval=0.3)
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.wait(30)
    assert sorted(published_ids(settings, activity, before)) == sorted(first + second)  # monday's not again after the restart
    (letter,) = [default_codec().decode(m.value()) for m in read_range(settings, dead, dead_before, end_offsets(settings, dead))]
    assert letter["location"] == str(drop / "notes.txt") and letter["position"] == "file" and letter["raw"] == b"not an export at all\n"
