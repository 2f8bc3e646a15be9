"""`leap simulate --exports`: the simulated activity, read back through every real adapter, is events.jsonl's.

Deliberate differences, each asserted below: events.jsonl holds a few events twice (a feed
re-sent them; the engine counts an event id once) and the exports hold them once; a corrected
attendance mark is one register row with its final mark, not the absence and its correction.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from leap.cli import app
from producers.exports import ReadCounts, open_export, read_events
from producers.identity_map import read_identities_file
from producers.simulate import simulate
from producers.simulate_exports import final_marks, identity_of, is_moodle_assignment, register_event_ids, us_time, write_exports
from producers.sources import Options

LONDON = ZoneInfo("Europe/London")
END = datetime(2026, 11, 8, 23, 0, tzinfo=LONDON)  # four weeks across 25 October: local times in summer time (UTC+1) and GMT
SOURCES = ("vle", "coursework", "logins", "library")


@pytest.fixture(scope="module")
def university(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    out = tmp_path_factory.mktemp("university")
    simulate(out, students=60, days=28, seed=5, end=END, tz=LONDON)
    return out, write_exports(out, LONDON)


def raw_events(out: Path) -> list[dict]:
    """events.jsonl as written, times as Unix ms."""
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    for event in events:
        event["event_time"] = int(datetime.fromisoformat(event["event_time"]).timestamp() * 1000)
    return events


def unique(events: list[dict]) -> list[dict]:
    """Each event id once (what the engine counts)."""
    return list({e["event_id"]: e for e in events}.values())


def day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, LONDON).date().isoformat()


def read_back(university: tuple[Path, dict[str, Path]], name: str) -> tuple[list[dict], ReadCounts]:
    """One export through its adapter, people resolved through identities.csv and the roster."""
    out, files = university
    known = read_identities_file(out / "roster.csv", into=read_identities_file(files["identities"]))
    counts = ReadCounts()
    events = list(read_events([files[name]], name, counts=counts, options=Options(tz=LONDON), identities=known))
    return [e for e in events if e is not None], counts


def test_the_simulation_has_what_the_exports_must_handle(university):
    events = raw_events(university[0])
    assert len(events) - len(unique(events)) > 0  # re-sent events
    assert sum(1 for e in events if e.get("amends")) > 0  # corrected marks
    assert {e["source"] for e in events} == {*SOURCES, "lecture_capture", "attendance"}
    assert all(e["event_time"] % 1000 == 0 for e in events)  # whole seconds: no format loses a fraction
    coursework = [e for e in unique(events) if e["source"] == "coursework"]
    assert 0 < sum(map(is_moodle_assignment, coursework)) < len(coursework)  # both coursework systems get some


@pytest.mark.parametrize("name", ["moodle", "attendance-register", "panopto", "windows-logons", "jisc-library", "coursework", "xapi"])
def test_every_record_of_every_export_is_an_event_of_a_known_student(university, name):
    events, counts = read_back(university, name)
    assert counts.read > 0 and counts.events == counts.read
    assert (counts.skipped, counts.rejected, counts.unknown) == (0, 0, 0)
    assert len({e["event_id"] for e in events}) == len(events)  # no two records share an event id
    with open_export(university[1][name]) as export:  # --format auto picks the right adapter too
        assert export.format == name


def test_counts_per_student_source_and_day_are_events_jsonls(university):
    expected = Counter((e["student_id"], e["source"], day(e["event_time"])) for e in unique(raw_events(university[0])) if e["source"] in SOURCES)
    got: Counter[tuple[str, str, str]] = Counter()
    for name in ("moodle", "windows-logons", "jisc-library", "coursework", "xapi"):
        got.update((e["student_id"], e["source"], day(e["event_time"])) for e in read_back(university, name)[0])
    assert got == expected
    # Exact times too, not just days (each format's own time format loses nothing).
    times = Counter((e["student_id"], e["source"], e["event_time"]) for e in unique(raw_events(university[0])) if e["source"] in SOURCES)
    got_times: Counter[tuple[str, str, int]] = Counter()
    for name in ("moodle", "windows-logons", "jisc-library", "coursework", "xapi"):
        got_times.update((e["student_id"], e["source"], e["event_time"]) for e in read_back(university, name)[0])
    assert got_times == times


def test_duplicates_in_events_jsonl_are_in_the_exports_once(university):
    events = raw_events(university[0])
    copies = Counter(e["event_id"] for e in events)
    resent = [e for e in unique(events) if copies[e["event_id"]] > 1 and e["source"] in SOURCES]
    assert resent  # the difference is real, and deliberate
    raw = Counter((e["student_id"], e["source"], day(e["event_time"])) for e in events if e["source"] in SOURCES)
    once = Counter((e["student_id"], e["source"], day(e["event_time"])) for e in unique(events) if e["source"] in SOURCES)
    extra: Counter[tuple[str, str, str]] = Counter()
    for e in resent:
        extra[(e["student_id"], e["source"], day(e["event_time"]))] += copies[e["event_id"]] - 1
    assert raw - once == extra
    read = sum(len(read_back(university, name)[0]) for name in ("moodle", "windows-logons", "jisc-library", "coursework", "xapi"))
    assert read == sum(once.values()) == sum(raw.values()) - sum(copies[e["event_id"]] - 1 for e in resent)


def test_lecture_capture_minutes_per_student_and_day_are_events_jsonls(university):
    expected: dict[tuple[str, str], float] = defaultdict(float)
    for e in unique(raw_events(university[0])):
        if e["source"] == "lecture_capture":
            expected[(e["student_id"], day(e["event_time"]))] += e["quantity"]
    got: dict[tuple[str, str], float] = defaultdict(float)
    events, _ = read_back(university, "panopto")
    for e in events:
        assert e["source"] == "lecture_capture"
        got[(e["student_id"], day(e["event_time"]))] += e["quantity"]
    assert got.keys() == expected.keys()
    assert all(got[key] == pytest.approx(expected[key], abs=0.01) for key in expected)
    viewings = [e for e in unique(raw_events(university[0])) if e["source"] == "lecture_capture"]
    assert Counter((e["student_id"], e["event_time"]) for e in events) == Counter((e["student_id"], e["event_time"]) for e in viewings)


def test_the_register_holds_each_sessions_final_mark_once(university):
    events = unique(raw_events(university[0]))
    corrections = {e["amends"]: e["attendance_status"] for e in events if e.get("amends")}
    assert corrections and set(corrections.values()) == {"present"}
    originals = [e for e in events if e["source"] == "attendance" and not e.get("amends")]
    final = Counter((e["student_id"], e["event_time"], corrections.get(e["event_id"], e["attendance_status"])) for e in originals)
    read, _ = read_back(university, "attendance-register")
    assert Counter((e["student_id"], e["event_time"], e["attendance_status"]) for e in read) == final
    assert len({(e["student_id"], e["object_ref"]) for e in read}) == len(read) == len(originals)  # one mark per session
    # The deliberate difference: events.jsonl's absence and its correction are one row with the final mark.
    attendance_lines = sum(1 for e in events if e["source"] == "attendance")
    assert attendance_lines - len(read) == len(corrections)
    assert {"present", "late", "absent", "authorised_absence"} <= {e["attendance_status"] for e in read}
    # A corrected absence is published as present amending the absence, as the adapter's scheme has it.
    corrected = [e for e in read if (e["student_id"], e["event_time"]) in {(o["student_id"], o["event_time"]) for o in originals if o["event_id"] in corrections}]
    assert corrected and all(e["attendance_status"] == "present" and e["amends"] for e in corrected)


def test_register_event_ids_name_the_cohorts_session_and_number_a_repeated_slot():
    ms = int(datetime(2026, 11, 2, 9, 50, tzinfo=LONDON).timestamp() * 1000)
    marks = [
        {"event_id": "a", "student_id": "2300001", "object_ref": "session:BSC-CS-1:0:10", "event_time": ms},
        {"event_id": "b", "student_id": "2300001", "object_ref": "session:BSC-CS-1:0:10", "event_time": ms + 60_000},
        {"event_id": "c", "student_id": "2300002", "object_ref": "session:BSC-CS-1:0:10", "event_time": ms + 120_000},
        {"event_id": "d", "student_id": "2300001", "object_ref": "session:BSC-CS-1:0:9", "event_time": ms - 3_600_000},
    ]
    assert register_event_ids(marks, LONDON) == {
        "a": "EV-BSC-CS-1-20261102-1000", "b": "EV-BSC-CS-1-20261102-1000-2", "c": "EV-BSC-CS-1-20261102-1000", "d": "EV-BSC-CS-1-20261102-0900",
    }  # fmt: skip


def test_final_marks_replace_a_corrected_absence():
    absent = {"event_id": "x", "student_id": "1", "source": "attendance", "attendance_status": "absent", "event_time": 1}
    fixed = {"event_id": "y", "student_id": "1", "source": "attendance", "attendance_status": "present", "event_time": 1, "amends": "x"}
    late = {"event_id": "z", "student_id": "2", "source": "attendance", "attendance_status": "late", "event_time": 1}
    marks = final_marks([absent, fixed, late, {"event_id": "v", "source": "vle"}])
    assert [(m["event_id"], m["attendance_status"], m.get("corrected", False)) for m in marks] == [("x", "present", True), ("z", "late", False)]


def test_identities_are_distinct_and_shaped_like_a_universitys():
    people = [identity_of(str(2_300_000 + i)) for i in range(2000)]
    for field in ("username", "email", "card_number", "panopto_user_id"):
        assert len({getattr(p, field) for p in people}) == len(people)
    assert all(re.fullmatch(r"[a-z]{2}\d{5}", p.username) and p.email == f"{p.username}@simulated.ac.uk" for p in people)
    assert all(re.fullmatch(r"6\d{9}", p.card_number) and p.windows_account == p.username for p in people)
    assert identity_of("2300042") == identity_of("2300042") and identity_of("2300042").username.endswith("00042")


def test_us_time_is_panoptos_12_hour_clock():
    assert us_time(datetime(2026, 11, 5, 13, 4, 9)) == "11/5/2026 1:04:09 PM"
    assert us_time(datetime(2026, 1, 15, 0, 30, 0)) == "1/15/2026 12:30:00 AM"
    assert us_time(datetime(2026, 1, 15, 12, 0, 1)) == "1/15/2026 12:00:01 PM"


def test_the_same_simulation_writes_the_same_bytes(university, tmp_path):
    out, files = university
    simulate(tmp_path, students=60, days=28, seed=5, end=END, tz=LONDON)
    again = write_exports(tmp_path, LONDON)
    assert again.keys() == files.keys()
    for name, path in files.items():
        assert again[name].read_bytes() == path.read_bytes(), name


def test_local_times_follow_the_zone(tmp_path):
    """Summer time: the formats without an offset are written as the local wall clock, and read back to the same instant."""
    end = datetime(2026, 6, 28, 23, 0, tzinfo=LONDON)
    simulate(tmp_path, students=15, days=7, seed=9, end=end, tz=LONDON)
    files = write_exports(tmp_path, LONDON)
    first = next(line for line in raw_events(tmp_path) if line["source"] == "logins")
    local = datetime.fromtimestamp(first["event_time"] / 1000, LONDON).strftime("%d/%m/%Y %H:%M:%S")
    assert f"{local},4624,{identity_of(first['student_id']).username}," in files["windows-logons"].read_text()
    utc = datetime.fromtimestamp(first["event_time"] / 1000, timezone.utc).strftime("%d/%m/%Y %H:%M:%S")
    assert utc != local  # British Summer Time is an hour ahead of UTC
    times = {e["event_time"] for e in read_back((tmp_path, files), "windows-logons")[0]}
    assert first["event_time"] in times


def test_leap_simulate_exports_writes_and_names_every_file(tmp_path):
    result = CliRunner().invoke(app, ["simulate", str(tmp_path), "--students", "12", "--days", "7", "--end", "2026-11-20T18:00", "--exports"])
    assert result.exit_code == 0, result.output
    for name in ("identities.csv", "moodle_logstore.csv", "attendance_register.csv", "panopto_viewings.tsv", "windows_logons.csv",
                 "jisc_borrowing.tsv", "coursework.csv"):  # fmt: skip
        assert (tmp_path / "exports" / name).is_file()
        assert name in result.output
    assert "leap produce windows-logons" in result.output and "leap identities load" in result.output
