"""`leap replay` (and `leap evaluate`) end to end on files, without services."""

import csv
import json
from datetime import datetime, timedelta, timezone

from typer.testing import CliRunner

from leap.cli import app
from producers.sources import moodle
from tests.unit.producers.test_moodle import logstore_row

runner = CliRunner()


def moodle_dump(path, rows):
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(moodle.LOGSTORE_COLUMNS)
        writer.writerows(rows)
    return path


def at(when: datetime) -> str:
    return str(int(when.timestamp()))


def test_replay_reads_a_moodle_dump_as_of_an_instant(tmp_path):
    day = datetime(2026, 11, 20, tzinfo=timezone.utc)
    rows = [logstore_row(id=str(i), userid=str(100 + i % 3), timecreated=at(day - timedelta(days=i % 10, hours=-10))) for i in range(60)]
    rows.append(logstore_row(id="900", userid="0", timecreated=at(day)))  # not a person: skipped
    rows.append(logstore_row(id="901", ip="not-an-ip", timecreated=at(day)))  # rejected
    rows.append(logstore_row(id="902", userid="555", timecreated=at(day + timedelta(hours=11))))  # after the instant
    dump = moodle_dump(tmp_path / "dump.csv", rows)
    out = tmp_path / "out.jsonl"
    identities = tmp_path / "identities.csv"
    identities.write_text("student_id,moodle_user_id\n" + "".join(f"23{u},{u}\n" for u in (100, 101, 102, 555)))
    result = runner.invoke(app, ["replay", str(dump), "--as-of", "2026-11-20T10:30", "--site", "essex", "-o", str(out), "--identities", str(identities)])
    assert result.exit_code == 0, result.output
    students = {json.loads(line)["student_id"] for line in out.read_text().splitlines()}
    assert students == {"23100", "23101", "23102"}  # 555's only event is after 10:30
    assert "skipped 1" in result.output and "rejected 1" in result.output and "ip" in result.output
    whole_day = runner.invoke(app, ["replay", str(dump), "--as-of", "2026-11-20", "-o", str(out), "--identities", str(identities)])
    assert whole_day.exit_code == 0
    assert "23555" in {json.loads(line)["student_id"] for line in out.read_text().splitlines()}
    unmapped = runner.invoke(app, ["replay", str(dump), "--as-of", "2026-11-20", "-o", str(out)])
    assert unmapped.exit_code == 0 and "left out 61 events of people not in the identity map" in unmapped.output
    assert out.read_text() == ""


def test_replay_says_why_it_cannot_read(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    result = runner.invoke(app, ["replay", str(bad), "--as-of", "2026-11-20"])
    assert result.exit_code == 1 and "not a Moodle export" in result.output
    result = runner.invoke(app, ["replay", str(bad), "--as-of", "20th November"])
    assert result.exit_code == 1 and "neither a day" in result.output


def test_evaluate_prints_a_weekly_report_and_says_what_is_too_small(tmp_path):
    from zoneinfo import ZoneInfo

    from producers.simulate import simulate

    london = ZoneInfo("Europe/London")
    simulate(tmp_path, students=150, days=30, seed=2, end=datetime(2026, 11, 29, 23, 0, tzinfo=london), tz=london)
    common = ["evaluate", str(tmp_path / "events.jsonl"), "--roster", str(tmp_path / "roster.csv"), "--outcomes", str(tmp_path / "outcomes.csv")]
    result = runner.invoke(app, [*common, "--weeks", "2-3,9", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert [w["week"] for w in report["weeks"]] == [2, 3] and report["weeks_beyond_data"] == [9]
    assert report["term_start"] == "2026-10-31"  # the first day with events (30 days to 29 Nov)
    assert report["weeks"][0]["as_of_day"] == "2026-11-13" and report["weeks"][0]["students"] == 150
    tiny = json.loads(runner.invoke(app, [*common, "--min-students", "1000", "--json"]).stdout.strip().splitlines()[-1])
    assert [w["week"] for w in tiny["weeks"]] == [1, 2, 3, 4]
    assert all(j["value"] is None and "too small" in j["note"] for w in tiny["weeks"] for j in w["auc"].values())
    table = runner.invoke(app, [*common, "--term-start", "2026-11-02", "--bad", "fail"])
    assert table.exit_code == 0 and "Bad-outcome rate by band (fail)" in table.output and "AUC" in table.output


def test_evaluate_names_the_line_of_a_bad_outcomes_file(tmp_path, monkeypatch):
    from producers.roster import COLUMNS

    monkeypatch.chdir(tmp_path)  # short paths: the error line is not wrapped
    events = tmp_path / "e.jsonl"
    events.write_text('{"event_id": "1", "student_id": "s", "source": "vle", "action": "v", "event_time": 1795000000000}\n')
    (tmp_path / "roster.csv").write_text(",".join(COLUMNS) + "\n")
    (tmp_path / "o.csv").write_text("student_id,outcome\n1,pass\n1,fail\n")
    result = runner.invoke(app, ["evaluate", "e.jsonl", "--roster", "roster.csv", "--outcomes", "o.csv"])
    assert result.exit_code == 1 and "o.csv:3: student 1 has two outcomes" in result.output
