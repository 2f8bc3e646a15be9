"""Every source end to end: a real-format export of each system, published through its adapter, scored by the engine.

Each student is seen in one source only, named by that system's own id; the identity map
makes them students, and the engine's explanation of each shows that source's measure.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta

from producers.sources.moodle import LOGSTORE_COLUMNS
from streams.outputs import latest_states
from tests.integration.conftest import run_leap
from tests.integration.engine_helpers import wait_until
from tests.integration.workers import Deployment
from tests.unit.producers.test_moodle import logstore_row

# student id -> (the source their only activity counts as, the export that carries it)
STUDENTS = {
    "7100001": "vle",  # Moodle's log table, as Moodle user 71001
    "7100002": "attendance",  # a card tap at a timetabled session, card 0071002
    "7100003": "attendance",  # a register export's mark
    "7100004": "lecture_capture",  # Panopto's viewing export, username lc71004
    "7100005": "logins",  # a Windows 4624 logon, account ESSEX\lg71005
    "7100006": "library",  # a Jisc loan, username lb71006
    "7100007": "coursework",  # the coursework CSV
}


def write(path, rows, delimiter=","):
    with path.open("w", newline="") as out:
        csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return path


def exports(folder, at: datetime) -> list[tuple[str, list[str]]]:
    """One file per system, each as that system writes it, with times around ``at`` (local)."""
    session = at.replace(hour=9, minute=0, second=0, microsecond=0)
    uk, us = "%d/%m/%Y %H:%M", "%m/%d/%Y %I:%M:%S %p"
    moodle = write(folder / "logstore.csv", [list(LOGSTORE_COLUMNS),
                   logstore_row(id="1", userid="71001", timecreated=str(int(at.timestamp()))),
                   logstore_row(id="2", userid="71001", timecreated=str(int(at.timestamp()) + 60))])  # fmt: skip
    timetable = write(folder / "timetable.csv", [["session_id", "room", "start", "end", "course", "card_number"],
                                                 ["PY101-LEC", "5N.7.16", session.strftime("%Y-%m-%d %H:%M"), (session + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"), "PY101", "0071002"]])  # fmt: skip
    taps = write(folder / "taps.csv", [["tap_time", "card_number", "reader_id", "room"], [(session - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S"), "0071002", "CMI-01", "5N.7.16"]])
    register = write(folder / "register.csv", [["Student ID", "Module Code", "Event ID", "Event Start", "Mark"], ["7100003", "PY101", "EV-1", session.strftime(uk), "Present"]])
    panopto = write(folder / "viewings.tsv", [["TIMESTAMP", "USER_ID", "USERNAME", "EMAIL", "SESSION_ID", "SESSION_NAME", "OBJECT_ID", "FOLDER_NAME", "MINUTES_WATCHED", "VIEWING_TYPE"],
                                              [at.strftime(us), "3f2a9c1e-5b7d-4e8a-9c0f-1a2b3c4d5e6f", "Essex-Moodle\\lc71004", "lc71004@example.ac.uk", "5c0e8a3b-7f1d-4b2a-a6e9-0d3c8b1f4a72",
                                               "PY101 Lecture 3", "9f8e7d6c-5b4a-4c3d-a2b1-0c9d8e7f6a5b", "PY101", "42.5", "Interactive Desktop On Demand"]], delimiter="\t")  # fmt: skip
    logons = write(folder / "logons.csv", [["Date and Time", "Event ID", "Account Name", "Account Domain", "Logon Type", "Workstation Name", "Source Network Address", "Computer"],
                                           [at.strftime("%d/%m/%Y %H:%M:%S"), "4624", "lg71005", "ESSEX", "2", "WS-LAB01", "127.0.0.1", "WS-LAB01.example.ac.uk"]])  # fmt: skip
    loans = write(folder / "loans.tsv", [["USERNAME", "ITEM_ID", "ITEM_NAME", "ITEM_SUBTYPE", "BORROWING_SITE", "TIMESTAMP"], ["lb71006", "30114015548812", "Algorithms", "BOOK", "Main Library", at.isoformat()]], delimiter="\t")
    coursework = write(folder / "coursework.csv", [["student_id", "assignment_id", "event", "timestamp"], ["7100007", "PY101-ASG1", "submitted", at.isoformat()]])
    return [("moodle", [str(moodle)]), ("attendance-taps", [str(taps), "--timetable", str(timetable)]), ("attendance-register", [str(register)]),
            ("panopto", [str(panopto)]), ("windows-logons", [str(logons)]), ("jisc-library", [str(loans)]), ("coursework", [str(coursework)])]  # fmt: skip


def measures(state: dict) -> dict[str, float]:
    return {s["source"]: s["measure"] for s in json.loads(state["explanation"])["sources"]}


def test_each_source_alone_is_scored_through_its_adapter_and_the_identity_map(tmp_path):
    deployment = Deployment(tmp_path)
    try:
        identities = write(tmp_path / "identities.csv", [["student_id", "moodle_user_id", "card_number", "username", "windows_account"],
                                                         ["7100001", "71001", "", "", ""], ["7100002", "", "0071002", "", ""],
                                                         ["7100004", "", "", "lc71004", ""], ["7100005", "", "", "", "lg71005"], ["7100006", "", "", "lb71006", ""]])  # fmt: skip
        run_leap(deployment.env, "identities", "load", str(identities))
        at = datetime.now(deployment.settings.tz).replace(microsecond=0) - timedelta(days=1)
        for adapter, args in exports(tmp_path, at):
            counts = json.loads(run_leap(deployment.env, "produce", adapter, *args, "--json").stdout.strip().splitlines()[-1])
            assert counts["published"] >= 1 and counts["rejected"] == counts["quarantined"] == 0, (adapter, counts)
        deployment.start_worker()

        def scored() -> dict[str, dict] | None:
            states = latest_states(deployment.settings)
            ready = {s: states[s] for s in STUDENTS if s in states and measures(states[s]).get(STUDENTS[s], 0) > 0}
            return states if len(ready) == len(STUDENTS) else None

        states = wait_until(scored, 240, "every student scored from their one source")
        for student, source in STUDENTS.items():
            seen = measures(states[student])
            assert seen[source] > 0 and all(v == 0 for s, v in seen.items() if s != source), (student, seen)
    finally:
        deployment.close()
