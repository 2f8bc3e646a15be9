"""`leap replay` (and `leap evaluate`) end to end on files, without services."""

import csv
import json
from datetime import datetime, timedelta, timezone

from typer.testing import CliRunner

from leap.cli import app
from producers import moodle
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
    result = runner.invoke(app, ["replay", str(dump), "--as-of", "2026-11-20T10:30", "--site", "essex", "-o", str(out)])
    assert result.exit_code == 0, result.output
    students = {json.loads(line)["student_id"] for line in out.read_text().splitlines()}
    assert students == {"100", "101", "102"}  # 555's only event is after 10:30
    assert "skipped 1" in result.output and "rejected 1" in result.output and "ip" in result.output
    whole_day = runner.invoke(app, ["replay", str(dump), "--as-of", "2026-11-20", "-o", str(out)])
    assert whole_day.exit_code == 0
    assert "555" in {json.loads(line)["student_id"] for line in out.read_text().splitlines()}


def test_replay_says_why_it_cannot_read(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    result = runner.invoke(app, ["replay", str(bad), "--as-of", "2026-11-20"])
    assert result.exit_code == 1 and "not a Moodle export" in result.output
    result = runner.invoke(app, ["replay", str(bad), "--as-of", "20th November"])
    assert result.exit_code == 1 and "neither a day" in result.output
