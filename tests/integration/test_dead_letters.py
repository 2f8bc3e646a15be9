"""`leap dead-letters`: an operator finds what was rejected, why, and the record itself."""

from __future__ import annotations

import json

from tests.integration.conftest import run_leap

GOOD = '{"event_id": "dl-1", "student_id": "s1", "source": "vle", "action": "viewed", "event_time": "2026-11-20T10:00:00+00:00"}\n'


def test_rejected_records_are_counted_by_source_and_reason_and_shown_whole(leap_env, tmp_path):
    path = tmp_path / "events.jsonl"
    bad_source = GOOD.replace('"vle"', '"gym"').replace("dl-1", "dl-2")
    path.write_text(GOOD + "not json at all\n" + bad_source + GOOD.replace("dl-1", "dl-3").replace('"vle"', '"pool"'))
    run_leap(leap_env, "produce", "events", str(path))

    listed = [json.loads(line) for line in run_leap(leap_env, "dead-letters", "list", "--json").stdout.splitlines()]
    ours = [letter for letter in listed if letter["location"] == str(path)]
    assert [(letter["source"], letter["position"]) for letter in ours] == [("events", "line 2"), ("events", "line 3"), ("events", "line 4")]
    assert "'gym'" in ours[1]["reason"] and "'pool'" in ours[2]["reason"]

    table = run_leap({**leap_env, "COLUMNS": "200"}, "dead-letters", "list", "--source", "events").stdout
    # The two unknown sources are one kind of reason (values elided), counted together.
    kind = next(line for line in table.splitlines() if "source … is not one of" in line)
    assert kind.split("│")[-2].strip() == "2"

    shown = json.loads(run_leap(leap_env, "dead-letters", "show", str(ours[1]["offset"]), "--json").stdout)
    assert shown["raw"] == bad_source and shown["raw_bytes"] == len(bad_source.encode())
    missing = run_leap(leap_env, "dead-letters", "show", "999999", check=False)
    assert missing.returncode == 2 and missing.stderr.strip() == "error: no dead letter at offset 999999"


def test_rows_rejected_for_their_time_format_are_replayed_with_the_right_one(settings, leap_env, tmp_path):
    from tests.integration.kafka_helpers import end_offsets, read_range
    from schemas.codec import default_codec

    report = tmp_path / "logs.csv"  # a Logs report downloaded by someone whose Moodle shows ISO times
    report.write_text(
        '"Time","User full name","Affected user","Event context","Component","Event name","Description","Origin","IP address"\n'
        + "".join(f'"2026-11-2{i} 10:00:00","Amira Khan",-,"Page: Week {i}",Page,"Course module viewed",'
                  f'"The user with id \'1046\' viewed the \'page\' activity with course module id \'64{i}\'.",web,10.12.4.77\n' for i in range(3))
    )  # fmt: skip
    (tmp_path / "ids.csv").write_text("student_id,moodle_user_id\nDL1046,1046\n")
    run_leap(leap_env, "identities", "load", str(tmp_path / "ids.csv"))
    first = json.loads(run_leap(leap_env, "produce", "moodle", str(report), "--json").stdout.strip().splitlines()[-1])
    assert (first["published"], first["rejected"]) == (0, 3)
    listed = [json.loads(line) for line in run_leap(leap_env, "dead-letters", "list", "--json", "--source", "moodle").stdout.splitlines()]
    ours = [letter["offset"] for letter in listed if letter["location"] == str(report)]
    assert len(ours) == 3

    dry = json.loads(run_leap(leap_env, "dead-letters", "replay", "--from", str(ours[0]), "--to", str(ours[-1] + 1), "--dry-run", "--json",
                              "--time-format", "%Y-%m-%d %H:%M:%S").stdout)  # fmt: skip
    assert dry == {"read": 3, "would publish": 3}
    activity = settings.topic("activity")
    before = end_offsets(settings, activity)
    done = json.loads(run_leap(leap_env, "dead-letters", "replay", "--from", str(ours[0]), "--to", str(ours[-1] + 1), "--json",
                               "--time-format", "%Y-%m-%d %H:%M:%S").stdout)  # fmt: skip
    assert done == {"read": 3, "republished": 3}
    events = [default_codec().decode(m.value()) for m in read_range(settings, activity, before, end_offsets(settings, activity))]
    assert sorted((e["student_id"], e["object_ref"]) for e in events) == [("DL1046", "cm:640"), ("DL1046", "cm:641"), ("DL1046", "cm:642")]
    still = json.loads(run_leap(leap_env, "dead-letters", "replay", "--from", str(ours[0]), "--to", str(ours[-1] + 1), "--json", "--dry-run").stdout)
    assert still == {"read": 3, "still rejected": 3}  # without the format they still do not read: said, not re-dead-lettered
