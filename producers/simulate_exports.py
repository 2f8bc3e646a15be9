"""`leap simulate --exports`: the simulated university's activity as the files its systems really export.

``producers.simulate`` writes normalised events (``events.jsonl``); a real university has no
such file, only each system's own export. ``write_exports`` writes the same activity into
``exports/`` in those formats, one per adapter, so ``make run`` publishes it through every
adapter and resolves people through the identity map, as a university would:

``identities.csv`` (``leap identities load``)
    Every roster student's ``username``, ``email``, ``card_number``, ``windows_account`` and
    ``panopto_user_id``, made from the student id (``identity_of``). Moodle user ids are the
    roster's ``moodle_user_id`` column (``leap roster load`` publishes them).
``moodle_logstore.csv`` (``moodle``)
    Every ``vle`` event as a ``\\mod_<module>\\event\\course_module_viewed`` row (edulevel 2,
    the course module of its ``object_ref``), and the coursework submissions chosen as Moodle
    assignments (``is_moodle_assignment``: about half, by event id) as
    ``\\mod_assign\\event\\assessable_submitted``; userid is the roster's moodle_user_id, log
    ids run in time order. No logins: the simulation's logins are Windows logons. The last
    day's VLE views are not in it: they come live, as xAPI statements.
``xapi_statements.jsonl`` (``xapi``, sent over HTTP by ``make run``)
    The VLE views of the last day (``XAPI_HOURS`` before the latest event) as Moodle's
    ``logstore_xapi`` plugin sends them: actor ``account`` named by the Moodle user id,
    platform ``Moodle``, verb ``viewed``, the course module's URL; statement ids made from the
    event ids, so sending them twice is harmless.
``attendance_register.csv`` (``attendance-register``)
    One row per student per session with the mark a re-export made at the end would hold: a
    corrected absence (``amends`` in events.jsonl) is written once, with its final mark. The
    ``Event ID`` is the cohort's session (cohort, date, timetabled hour); a cohort timetabled
    twice in one hour has ``-2`` on the second. ``Event Start`` is the event's own time (the
    simulation jitters each student's by up to 15 minutes), UK day-first, local.
``panopto_viewings.tsv`` (``panopto``)
    The viewing export, one row per ``lecture_capture`` event: TIMESTAMP the US 12-hour local
    time, USERNAME ``Sim-Moodle\\<username>`` (the adapter drops the identity provider's
    prefix), MINUTES_WATCHED the event's quantity; the session is one of its course's
    recordings, chosen by event id.
``windows_logons.csv`` (``windows-logons``)
    A log tool's 4624 report, one interactive logon (type 2; one in ten type 10 to a remote
    desktop server) per ``logins`` event, en-GB local times, with each computer's own record ids.
``jisc_borrowing.tsv`` (``jisc-library``)
    The Jisc loans TSV, one loan per ``library`` event, ISO 8601 local times with the offset.
    No gate file: the simulation has no gate entries.
``coursework.csv`` (``coursework``)
    The documented coursework CSV for the submissions not in Moodle, ISO 8601 local times; no
    ``due`` column (a deadline would turn some into ``submitted_late``, which events.jsonl's are not).

Deliberate differences from events.jsonl: an event a feed re-sent (the same event id twice)
is in the exports once; a corrected attendance mark is one row holding the final mark; times
are whole seconds (attendance whole minutes), as the simulation's are. Local times are
written as the wall clock in ``tz``: the simulation's activity is between 08:00 and 23:00,
away from the hour a clock change repeats. Every file is a pure function of events.jsonl,
roster.csv and ``tz``, so the same simulation always writes the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from producers.exports import ReadCounts, read_events
from producers.simulate import PROGRAMMES, moodle_user_id

EXPORTS_DIR = "exports"
STUDENT_ID_BASE = 2_300_000  # the simulation's first student id
EMAIL_DOMAIN = "simulated.ac.uk"
WINDOWS_DOMAIN = "SIMU"
PANOPTO_PROVIDER = "Sim-Moodle"
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "simulated.leap.invalid")  # the simulated systems' GUIDs
_MODULES = ("page", "resource", "url", "book", "forum", "quiz", "folder", "lesson")
_COURSES = [f"{p}-{y}" for p, (_, years) in PROGRAMMES.items() for y in range(1, years + 1)]
_TITLES = (
    "Introduction to algorithms / Cormen", "A history of modern Europe / Merriman", "Learning the law / Williams",
    "Thinking, fast and slow / Kahneman", "The elements of statistical learning / Hastie", "Research methods in psychology",
)  # fmt: skip
MARK_NAMES = {"present": "Present", "late": "Late", "absent": "Absent", "authorised_absence": "Authorised Absence"}


@dataclass(frozen=True)
class Identity:
    """One simulated student's ids in the university's systems (the columns of identities.csv)."""

    student_id: str
    username: str
    email: str
    card_number: str
    windows_account: str
    panopto_user_id: str


def identity_of(student_id: str) -> Identity:
    """A simulated student's ids, made from the student id alone (distinct students, distinct ids)."""
    number = int(student_id) - STUDENT_ID_BASE
    letters = hashlib.sha256(student_id.encode()).digest()[:2]
    username = f"{chr(97 + letters[0] % 26)}{chr(97 + letters[1] % 26)}{number:05d}"
    card = (number * 7_919 + 104_729) % 10**9  # 7,919 is prime to 10^9: one card per student
    return Identity(student_id, username, f"{username}@{EMAIL_DOMAIN}", f"6{card:09d}", username,
                    str(uuid.uuid5(_NAMESPACE, f"panopto-user:{student_id}")))  # fmt: skip


def _pick(key: str, n: int) -> int:
    """A choice among ``n`` fixed by ``key`` (an event id and what it is chosen for)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % n


def is_moodle_assignment(event: dict) -> bool:
    """Whether a simulated coursework submission was to a Moodle assignment (else to the coursework system)."""
    return _pick(f"moodle-assignment:{event['event_id']}", 2) == 0


def _local(ms: int, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(ms // 1000, tz)


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]], delimiter: str = ",") -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


# ------------------------------------------------------------------ reading the simulation


def read_simulation(out_dir: Path) -> tuple[list[dict], dict[str, str]]:
    """events.jsonl's events, each event id once, in time order; and the roster's students' Moodle user ids."""
    counts = ReadCounts()
    unique: dict[str, dict] = {}
    for event in read_events([out_dir / "events.jsonl"], "events", counts=counts):
        if event is not None:
            unique.setdefault(event["event_id"], event)
    if counts.rejected:
        raise ValueError(f"{out_dir / 'events.jsonl'}: {counts.rejected} events rejected ({dict(counts.rejected_by_reason)})")
    with (out_dir / "roster.csv").open(newline="", encoding="utf-8") as stream:
        moodle = {row["student_id"]: row.get("moodle_user_id") or moodle_user_id(row["student_id"]) for row in csv.DictReader(stream)}
    return sorted(unique.values(), key=lambda e: (e["event_time"], e["event_id"])), moodle


def final_marks(events: Iterable[dict]) -> list[dict]:
    """Each attendance mark as a re-export at the end holds it: a corrected mark once, with the correction's status."""
    attendance = [e for e in events if e["source"] == "attendance"]
    corrected = {e["amends"]: e for e in attendance if e.get("amends")}
    return [{**e, "attendance_status": corrected[e["event_id"]]["attendance_status"], "corrected": True} if e["event_id"] in corrected
            else e for e in attendance if not e.get("amends")]  # fmt: skip


def register_event_ids(marks: Iterable[dict], tz: tzinfo) -> dict[str, str]:
    """Each mark's register ``Event ID`` (by event id): its cohort's session that day, ``-2`` on a repeated slot."""
    slots: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for mark in marks:
        slots[(mark["student_id"], mark.get("object_ref") or "", _local(mark["event_time"], tz).strftime("%Y%m%d"))].append(mark)
    ids = {}
    for (_, ref, day), group in slots.items():
        _, cohort, _, hour = (ref.split(":") + ["", "", "", ""])[:4]
        base = f"EV-{cohort}-{day}-{hour.zfill(2)}00" if cohort and hour.isdigit() else f"EV-{day}-{_pick(ref, 10**6):06d}"
        for n, mark in enumerate(sorted(group, key=lambda m: (m["event_time"], m["event_id"])), start=1):
            ids[mark["event_id"]] = base if n == 1 else f"{base}-{n}"
    return ids


# ------------------------------------------------------------------ the exports


def write_identities(path: Path, students: Iterable[str]) -> None:
    """identities.csv: every student's ids in the university's systems."""
    _write(path, [f.name for f in fields(Identity)], (astuple(identity_of(s)) for s in students))


def _moodle_row(log_id: int, event: dict, userid: str) -> list[str]:
    """One ``mdl_logstore_standard_log`` row for a simulated VLE view or Moodle assignment submission."""
    key, course = event["event_id"], event.get("course") or ""
    courseid = 2 + (_COURSES.index(course) if course in _COURSES else len(_COURSES) + _pick(course, 1000))
    ip = f"10.{_pick('ip-a:' + key, 256)}.{_pick('ip-b:' + key, 256)}.{1 + _pick('ip-c:' + key, 254)}"
    if event["source"] == "coursework":
        cmid = 5000 + courseid * 10 + _pick(f"assignment:{key}", 4)
        spec = ["\\mod_assign\\event\\assessable_submitted", "mod_assign", "submitted", "assessable", "assign_submission",
                str(log_id), "u", "2", str(100_000 + cmid), "70", str(cmid)]  # fmt: skip
        other = '{"submission_editable":false}'
    else:
        ref = event.get("object_ref") or ""
        cmid = int(ref[3:]) if ref.startswith("cm:") and ref[3:].isdigit() else 1 + _pick(f"cm:{key}", 400)
        module = _MODULES[cmid % len(_MODULES)]
        spec = [f"\\mod_{module}\\event\\course_module_viewed", f"mod_{module}", "viewed", "course_module", module,
                str(cmid * 3 + 7), "r", "2", str(100_000 + cmid), "70", str(cmid)]  # fmt: skip
        other = "N;"
    return [str(log_id), *spec, userid, str(courseid), "NULL", "0", other, str(event["event_time"] // 1000), "web", ip, "NULL"]


XAPI_HOURS = 24
MOODLE_SITE = "https://moodle.simulated.ac.uk"


def sent_live(event: dict, latest_ms: int) -> bool:
    """Whether a VLE view is one of the last day's, sent as an xAPI statement rather than in the table dump."""
    return event["source"] == "vle" and event["event_time"] > latest_ms - XAPI_HOURS * 3600 * 1000


def write_moodle(path: Path, events: Sequence[dict], moodle_ids: dict[str, str]) -> None:
    """moodle_logstore.csv: VLE views (but the last day's) and Moodle assignment submissions as a phpMyAdmin table dump."""
    from producers.sources.moodle import LOGSTORE_COLUMNS

    latest = max((e["event_time"] for e in events), default=0)
    chosen = [e for e in events if (e["source"] == "vle" and not sent_live(e, latest)) or (e["source"] == "coursework" and is_moodle_assignment(e))]
    _write(path, LOGSTORE_COLUMNS, (_moodle_row(i, e, moodle_ids[e["student_id"]]) for i, e in enumerate(chosen, start=1)))


def write_register(path: Path, events: Iterable[dict], tz: tzinfo) -> None:
    """attendance_register.csv: one row per student per session with the final mark (module doc)."""
    marks = final_marks(events)
    ids = register_event_ids(marks, tz)
    rows = []
    for mark in marks:
        start = _local(mark["event_time"], tz)
        when = "%d/%m/%Y %H:%M" if start.second == 0 else "%d/%m/%Y %H:%M:%S"
        status, course = mark["attendance_status"], mark.get("course") or ""
        marked_by = "Student Services" if status == "authorised_absence" else ("Attendance team" if mark.get("corrected") else "Card reader")
        rows.append((start, ids[mark["event_id"]], mark["student_id"], [
            mark["student_id"], course, ids[mark["event_id"]], "Lecture" if _pick(ids[mark["event_id"]], 3) else "Seminar",
            start.strftime(when), (start + timedelta(hours=1)).strftime(when), f"R{_pick('room:' + course, 900) + 100}",
            MARK_NAMES[status], marked_by,
        ]))  # fmt: skip
    rows.sort(key=lambda r: r[:3])
    header = ["Student ID", "Module Code", "Event ID", "Event Type", "Event Start", "Event End", "Location", "Mark", "Marked By"]
    _write(path, header, (r[3] for r in rows))


def us_time(when: datetime) -> str:
    """Panopto's US 12-hour time: ``11/15/2026 1:44:52 PM``."""
    hour = when.hour % 12 or 12
    return f"{when.month}/{when.day}/{when.year} {hour}:{when:%M:%S} {'PM' if when.hour >= 12 else 'AM'}"


def write_panopto(path: Path, events: Iterable[dict], tz: tzinfo) -> None:
    """panopto_viewings.tsv: Panopto's viewing export, one row per lecture-capture viewing."""
    from producers.sources.panopto import EXPORT_COLUMNS

    rows = []
    for event in (e for e in events if e["source"] == "lecture_capture"):
        person, course = identity_of(event["student_id"]), event.get("course") or "unfiled"
        lecture = 1 + _pick(f"recording:{event['event_id']}", 20)
        rows.append([
            us_time(_local(event["event_time"], tz)), person.panopto_user_id, f"{PANOPTO_PROVIDER}\\{person.username}", person.email,
            uuid.uuid5(_NAMESPACE, f"panopto-session:{course}:{lecture}"), f"{course} Lecture {lecture}",
            uuid.uuid5(_NAMESPACE, f"panopto-object:{course}:{lecture}"), f"{course} (simulated)", repr(float(event["quantity"])),
            "Interactive Mobile On Demand" if _pick(f"device:{event['event_id']}", 4) == 0 else "Interactive Desktop On Demand",
        ])  # fmt: skip
    _write(path, EXPORT_COLUMNS, rows, delimiter="\t")


def write_windows(path: Path, events: Iterable[dict], tz: tzinfo) -> None:
    """windows_logons.csv: a log tool's report of 4624 logons (the header of ``Date and Time, Event ID, ...``)."""
    header = ["Date and Time", "Event ID", "Account Name", "Account Domain", "Logon Type", "Workstation Name",
              "Source Network Address", "Computer", "Record ID"]  # fmt: skip
    records: dict[str, int] = {}  # each computer numbers its own Security log
    rows = []
    for event in (e for e in events if e["source"] == "logins"):
        key = event["event_id"]
        remote = _pick(f"remote:{key}", 10) == 0
        machine = f"RDS-{1 + _pick(f'rds:{key}', 3):02d}" if remote else f"WS-LAB{1 + _pick(f'lab:{key}', 40):02d}"
        records[machine] = records.get(machine, 4_000_000 + 1_000 * _pick(f"log:{machine}", 900)) + 1
        rows.append([
            _local(event["event_time"], tz).strftime("%d/%m/%Y %H:%M:%S"), "4624", identity_of(event["student_id"]).windows_account,
            WINDOWS_DOMAIN, "10" if remote else "2", "HOME-PC" if remote else machine,
            f"81.2.69.{_pick(f'home:{key}', 250) + 1}" if remote else "127.0.0.1", f"{machine}.{EMAIL_DOMAIN}", str(records[machine]),
        ])  # fmt: skip
    _write(path, header, rows)


def write_library(path: Path, events: Iterable[dict], tz: tzinfo) -> None:
    """jisc_borrowing.tsv: the Jisc loans TSV, one loan per library event."""
    from producers.sources.jisc_library import LOANS_COLUMNS

    rows = []
    for event in (e for e in events if e["source"] == "library"):
        item = _pick(f"item:{event['event_id']}", 10**7)
        rows.append([identity_of(event["student_id"]).username, f"3011401{item:07d}", _TITLES[item % len(_TITLES)], "BOOK",
                     "Main Library", _local(event["event_time"], tz).isoformat(timespec="seconds")])  # fmt: skip
    _write(path, LOANS_COLUMNS, rows, delimiter="\t")


def write_coursework(path: Path, events: Iterable[dict], tz: tzinfo) -> None:
    """coursework.csv: submissions to the coursework system (those not Moodle assignments)."""
    rows = []
    for event in (e for e in events if e["source"] == "coursework" and not is_moodle_assignment(e)):
        course, number = event.get("course") or "", 1 + _pick(f"assignment:{event['event_id']}", 4)
        rows.append([event["student_id"], f"{course}-ASG{number}", "submitted", _local(event["event_time"], tz).isoformat(timespec="seconds"),
                     course, f"{course} assignment {number}"])  # fmt: skip
    _write(path, ["student_id", "assignment_id", "event", "timestamp", "course", "assignment_name"], rows)


def write_xapi(path: Path, events: Sequence[dict], moodle_ids: dict[str, str], tz: tzinfo) -> None:
    """xapi_statements.jsonl: the last day's VLE views as Moodle's logstore_xapi plugin sends them."""
    import json

    latest = max((e["event_time"] for e in events), default=0)
    with path.open("w") as out:
        for event in (e for e in events if sent_live(e, latest)):
            ref = event.get("object_ref") or ""
            cmid = ref[3:] if ref.startswith("cm:") else str(1 + _pick(f"cm:{event['event_id']}", 400))
            statement = {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"leap-simulation:{event['event_id']}")),
                "actor": {"objectType": "Agent", "account": {"homePage": MOODLE_SITE, "name": moodle_ids[event["student_id"]]}},
                "verb": {"id": "http://id.tincanapi.com/verb/viewed", "display": {"en": "viewed"}},
                "object": {"objectType": "Activity", "id": f"{MOODLE_SITE}/mod/page/view.php?id={cmid}",
                           "definition": {"type": "http://id.tincanapi.com/activitytype/lms/module"}},
                "timestamp": _local(event["event_time"], tz).isoformat(),
                "context": {"platform": "Moodle", "contextActivities": {"grouping": [{"id": MOODLE_SITE}]}},
            }  # fmt: skip
            out.write(json.dumps(statement) + "\n")


def write_exports(out_dir: Path, tz: tzinfo) -> dict[str, Path]:
    """Write ``out_dir/exports/`` from the simulation in ``out_dir`` (module doc); local times in ``tz``.

    Returns each file by what reads it: ``identities`` (``leap identities load``), then the
    adapters' names (``leap produce NAME FILE``), in the order to load them.
    """
    events, moodle_ids = read_simulation(out_dir)
    folder = out_dir / EXPORTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = {
        "identities": folder / "identities.csv",
        "moodle": folder / "moodle_logstore.csv",
        "attendance-register": folder / "attendance_register.csv",
        "panopto": folder / "panopto_viewings.tsv",
        "windows-logons": folder / "windows_logons.csv",
        "jisc-library": folder / "jisc_borrowing.tsv",
        "coursework": folder / "coursework.csv",
        "xapi": folder / "xapi_statements.jsonl",
    }
    write_identities(written["identities"], moodle_ids)
    write_moodle(written["moodle"], events, moodle_ids)
    write_register(written["attendance-register"], events, tz)
    write_panopto(written["panopto"], events, tz)
    write_windows(written["windows-logons"], events, tz)
    write_library(written["jisc-library"], events, tz)
    write_coursework(written["coursework"], events, tz)
    write_xapi(written["xapi"], events, moodle_ids, tz)
    return written
