"""What a command run by hand or by cron says when Kafka fails it: one line, counts, no hang."""

from __future__ import annotations

import uuid

from tests.integration.conftest import run_leap
from tests.integration.workers import free_port

EVENTS = "".join(
    f'{{"event_id": "e-{n}", "student_id": "s{n % 7}", "source": "vle", "action": "viewed", "event_time": "2026-11-20T10:{n % 60:02d}:00+00:00"}}\n' for n in range(40)
)


def test_an_unreachable_kafka_is_one_line_and_nothing_is_read(leap_env, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(EVENTS)
    env = {**leap_env, "LEAP_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}  # nothing listens there
    for args in (("produce", "events", str(path)), ("roster", "load", str(tmp_path / "roster.csv"))):
        if args[0] == "roster":
            (tmp_path / "roster.csv").write_text("student_id,programme,year_of_study,mode_of_study,personal_tutor,department,status\ns1,BA,1,full_time,t,History,active\n")
        result = run_leap(env, *args, check=False)  # run_leap's own timeout fails a hang
        assert result.returncode == 4, (args, result.returncode, result.stderr)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "did not answer within 10 s" in errors[0] and "nothing was published" in errors[0], result.stderr
        assert "Traceback" not in result.stderr


def test_messages_kafka_will_not_take_are_reported_with_what_was_read(leap_env, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(EVENTS)
    # The broker answers, but this prefix's topic does not exist (and is never auto-created).
    env = {**leap_env, "LEAP_TOPIC_PREFIX": f"leap-missing-{uuid.uuid4().hex[:6]}", "LEAP_KAFKA_COMMAND_TIMEOUT": "3"}
    result = run_leap(env, "produce", "events", str(path), check=False)
    assert result.returncode == 4, (result.returncode, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "not delivered" in errors[0] and "before it: read 40 (queued 40" in errors[0] and "Kafka acknowledged 0" in errors[0], result.stderr
    assert "publishing the file again is safe" in errors[0]
