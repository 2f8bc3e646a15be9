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
