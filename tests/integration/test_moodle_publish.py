"""The Moodle adapter end to end: real exports through the real broker and back."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from leap.dead_letter import MAX_RAW_BYTES
from leap.kafka import DeliveryError, Publisher
from producers.sources import moodle
from producers.readers import open_text, read_csv
from producers.moodle_sample import write_dump
from producers.outcome import Event
from schemas.codec import default_codec
from tests.integration.conftest import ROOT, run_leap
from tests.integration.kafka_helpers import end_offsets, read_range


def produce(env, path) -> dict[str, int]:
    result = run_leap(env, "produce", "moodle", str(path), "--json")
    return json.loads(result.stdout.strip().splitlines()[-1])


def student_of(user_id: int) -> str:
    return f"S{user_id}"


def load_identities(env, path, user_ids, *extra: str) -> None:
    path.write_text("student_id,moodle_user_id\n" + "".join(f"{student_of(u)},{u}\n" for u in user_ids))
    run_leap(env, "identities", "load", str(path), *extra)


def expected_events(path) -> list[dict]:
    """What the pure parser makes of the file, independently of Kafka (student ids still Moodle's)."""
    with open_text(path) as stream:
        records = read_csv(stream)
        header = next(records)
        parse = moodle.row_parser(moodle.LOGSTORE, header.fields, site="moodle", location=str(path), tz=ZoneInfo("UTC"))
        outcomes = (parse(r.fields, r.line) for r in records if r.fields is not None)
        return [o.record for o in outcomes if isinstance(o, Event)]


def by_id(events):
    return sorted(events, key=lambda e: e["event_id"])


def test_twelve_thousand_rows_are_published_with_student_ids_and_unknown_people_wait_in_quarantine(settings, leap_env, tmp_path):
    path = tmp_path / "logstore.csv"
    users = list(range(20_000, 20_800))
    intents = write_dump(path, 12_000, students=800, seed=7, user_ids=users)
    unknown = set(users[:10])  # Moodle accounts the identity map does not know yet
    load_identities(leap_env, tmp_path / "ids.csv", users[10:], "--no-retry")
    expected = expected_events(path)
    known_events = [{**e, "student_id": student_of(int(e["student_id"]))} for e in expected if int(e["student_id"]) not in unknown]
    held_events = [e for e in expected if int(e["student_id"]) in unknown]
    assert held_events and len(expected) == intents["publish"]
    topic, quarantine = settings.topic("activity"), settings.topic("identity-quarantine")
    before, held_before = end_offsets(settings, topic), end_offsets(settings, quarantine)

    summary = produce(leap_env, path)
    assert summary == {"read": 12_000, "derived": 0, "published": len(known_events), "skipped": 12_000 - intents["publish"], "rejected": 0,
                       "quarantined": len(held_events)}  # fmt: skip

    messages = read_range(settings, topic, before, end_offsets(settings, topic))
    codec = default_codec()
    decoded = [codec.decode(m.value(), expect="activity_event") for m in messages]
    assert all(m.key().decode() == e["student_id"] for m, e in zip(messages, decoded))
    assert by_id(decoded) == by_id(known_events)
    assert len({e["event_id"] for e in decoded}) == len(decoded)
    # Every partition is used: events are spread by student key.
    assert len({m.partition() for m in messages}) == settings.partitions
    held = [codec.decode(m.value(), expect="quarantined_event") for m in read_range(settings, quarantine, held_before, end_offsets(settings, quarantine))]
    assert {h["identity"] for h in held} == {f"moodle_user_id:{u}" for u in unknown if any(int(e["student_id"]) == u for e in held_events)}
    assert by_id(codec.decode(h["event"]) for h in held) == by_id(held_events) and all(h["position"].startswith("line ") for h in held)

    # The map learns the ten: retrying publishes exactly their events, with student ids, once.
    released_from = end_offsets(settings, topic)
    load_identities(leap_env, tmp_path / "more.csv", sorted(unknown))
    released = [codec.decode(m.value()) for m in read_range(settings, topic, released_from, end_offsets(settings, topic))]
    assert by_id(released) == by_id({**e, "student_id": student_of(int(e["student_id"]))} for e in held_events)
    again = json.loads(run_leap(leap_env, "identities", "retry", "--json").stdout)
    assert again == {"read": 0, "released": 0, "still_unknown": 0}

    # Publishing the same export again gives the same event ids, so downstream can drop them.
    again_start = end_offsets(settings, topic)
    assert produce(leap_env, path)["published"] == len(expected)
    repeat = read_range(settings, topic, again_start, end_offsets(settings, topic))
    assert Counter(codec.decode(m.value())["event_id"] for m in repeat) == Counter(e["event_id"] for e in decoded + released)


def test_planted_malformed_rows_go_to_the_dead_letter_topic_with_position_and_reason(settings, leap_env, tmp_path):
    clean = tmp_path / "clean.csv"
    intents = write_dump(clean, 300, students=30, seed=3)
    lines = clean.read_bytes().splitlines(keepends=True)
    good = next(csv.reader([lines[5].decode()]))

    def row(**changes: str) -> bytes:
        fields = [changes.get(c, v) for c, v in zip(moodle.LOGSTORE_COLUMNS, good)]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(fields)
        return out.getvalue().encode()

    planted = {
        # line number in the final file -> (raw bytes, reason fragment)
        4: (b"1,2,3\n", "expected 21 columns, found 3"),
        10: (row(timecreated="not-a-time"), "timecreated is not an integer"),
        20: (row(other='a:1:{s:3:"abc";}'), "neither JSON nor PHP-serialized"),
        30: (row(ip="999.1.1.1"), "not an IPv4 or IPv6"),
        40: (b"77,\\mod_page\\event\\course_module_viewed,caf\xe9" + b",x" * 18 + b"\n", "not valid UTF-8"),
        # Over Kafka's 1 MB message limit: the dead letter keeps its head, and the rows after it still go.
        50: (row(other="x" * 2_000_000), "neither JSON nor PHP-serialized"),
    }
    for line in sorted(planted):
        lines.insert(line - 1, planted[line][0])
    path = tmp_path / "planted.csv"
    path.write_bytes(b"".join(lines))

    topic = settings.topic("dead-letter")
    before = end_offsets(settings, topic)
    summary = produce(leap_env, path)
    assert summary["read"] == 306 and summary["rejected"] == 6
    assert summary["published"] + summary["quarantined"] == intents["publish"] and summary["skipped"] == 300 - intents["publish"]

    dead = [default_codec().decode(m.value(), expect="dead_letter") for m in read_range(settings, topic, before, end_offsets(settings, topic))]
    assert len(dead) == 6
    by_line = {int(d["position"].removeprefix("line ")): d for d in dead}
    assert set(by_line) == set(planted)
    for line, (raw, reason) in planted.items():
        assert by_line[line]["raw"] == raw[:MAX_RAW_BYTES]
        assert reason in by_line[line]["reason"]
        assert by_line[line]["source"] == "moodle"
        assert by_line[line]["location"] == str(path)
    assert f"record of {len(planted[50][0]):,} bytes: the first {MAX_RAW_BYTES:,} kept" in by_line[50]["reason"]


def test_the_logs_report_download_is_parsed_from_descriptions(settings, leap_env, tmp_path):
    path = ROOT / "tests" / "data" / "moodle" / "logs_report.csv"
    with path.open(newline="") as f:
        rows = list(csv.reader(f))[1:]
    topic = settings.topic("activity")
    load_identities(leap_env, tmp_path / "ids.csv", [1046, 2210, 3307])
    before = end_offsets(settings, topic)
    summary = produce(leap_env, path)
    # The sample holds 6 students' own actions, a teacher's grading, a "logged in as" view and
    # a cron row (skipped), an impossible date and a Description without a user (rejected).
    assert summary == {"read": len(rows), "derived": 0, "published": 6, "skipped": 3, "rejected": 2, "quarantined": 0}
    events = [default_codec().decode(m.value()) for m in read_range(settings, topic, before, end_offsets(settings, topic))]
    assert sorted(e["student_id"] for e in events) == ["S1046", "S1046", "S1046", "S2210", "S2210", "S3307"]
    assert {e["source"] for e in events if e["student_id"] == "S2210"} == {"vle", "coursework"}


def test_a_file_that_is_not_a_moodle_export_is_refused(leap_env, tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("student,minutes\n1,2\n")
    result = run_leap(leap_env, "produce", "moodle", str(path), check=False)
    assert result.returncode == 1
    assert "not a Moodle export" in result.stderr


def test_an_undeliverable_message_is_an_error_not_silence(settings):
    missing = settings.topic("no-such-topic")
    with pytest.raises(DeliveryError, match="not delivered"):
        with Publisher(settings, **{"message.timeout.ms": 3000}) as publisher:
            publisher.send(missing, b"x", key="k")
