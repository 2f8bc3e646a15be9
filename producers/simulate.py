"""A synthetic university: students, a timetable, and the activity events they would produce.

What it models, because the engine must handle each of these:
- several cohorts (programme and year), full- and part-time students, enrolment statuses;
- a weekly rhythm: timetabled sessions on weekdays, less VLE use at weekends;
- students with different habits, some who disengage part-way and never come back;
- a holiday week: no sessions, little VLE use;
- attendance uploaded late (card-reader systems upload after 24-72 hours);
- a few duplicate events (a feed re-sent) and corrections (a present student first
  recorded absent by a faulty card reader).

Events are written in the order they would arrive (event time plus upload delay), up to
the end instant; late uploads whose arrival is after it do not exist yet.
"""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from producers.outcome import event_id
from producers.roster import COLUMNS as ROSTER_COLUMNS

PROGRAMMES = {
    "BSC-CS": ("CSEE", 3),
    "BA-HIST": ("HIST", 3),
    "LLB-LAW": ("LAW", 3),
    "BSC-PSY": ("PSY", 3),
    "MSC-DS": ("CSEE", 1),
}


@dataclass
class SimStudent:
    """One simulated student and their habits."""

    student_id: str
    programme: str
    year: int
    part_time: bool
    status: str
    tutor: str
    department: str
    propensity: float  # 0..~1.5: how engaged when engaged
    stops_on: int | None  # day index after which they disengage


@dataclass
class SimCounts:
    """What was written."""

    students: int = 0
    events: int = 0
    duplicates: int = 0
    corrections: int = 0
    late_uploads: int = 0


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def make_students(n: int, rng: random.Random) -> list[SimStudent]:
    """``n`` students spread over programmes and years, with habits drawn at random."""
    students = []
    cohorts = [(p, y) for p, (_, years) in PROGRAMMES.items() for y in range(1, years + 1)]
    for i in range(n):
        programme, year = rng.choice(cohorts)
        department = PROGRAMMES[programme][0]
        roll = rng.random()
        status = "active" if roll < 0.96 else ("withdrawn" if roll < 0.975 else ("interrupted" if roll < 0.99 else "placement"))
        students.append(
            SimStudent(
                student_id=f"{2300000 + i}",
                programme=programme,
                year=year,
                part_time=rng.random() < 0.15,
                status=status,
                tutor=f"{department}-T{rng.randint(1, max(1, n // 40)):03d}",
                department=department,
                propensity=min(1.5, max(0.02, rng.gauss(0.8, 0.35))),
                stops_on=rng.randint(7, 30) if rng.random() < 0.08 else None,
            )
        )
    return students


MOODLE_USER_ID_BASE = 10_000  # the simulated Moodle's user id of student i is this plus i


def moodle_user_id(student_id: str) -> str:
    """The simulated Moodle's user id of a simulated student (the roster's moodle_user_id column)."""
    return str(MOODLE_USER_ID_BASE + int(student_id) - 2_300_000)


def write_roster(students: list[SimStudent], path: Path) -> None:
    """The roster CSV (``leap roster load`` reads it), with each student's Moodle user id for the identity map."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow((*ROSTER_COLUMNS, "moodle_user_id"))
        for s in students:
            writer.writerow(
                [s.student_id, s.programme, s.year, "part_time" if s.part_time else "full_time", s.tutor, s.department, s.status,
                 moodle_user_id(s.student_id)]
            )  # fmt: skip


# The simulated university's support service and LEAP administrator (the staff directory).
SUPPORT_SERVICE = "Student Wellbeing"
SUPPORT_STAFF = "wellbeing-01"
ADMIN = "leap-admin"


def write_staff(students: list[SimStudent], path: Path) -> None:
    """The staff directory (``leap staff load``): every tutor, a department office per department, a support adviser, an administrator."""
    tutors = sorted({(s.tutor, s.department) for s in students})
    departments = sorted({s.department for s in students})
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["user_id", "roles", "departments", "service"])
        for tutor, _department in tutors:
            writer.writerow([tutor, "personal_tutor", "", ""])
        for department in departments:
            writer.writerow([f"{department}-office", "department_staff", department, ""])
        writer.writerow([SUPPORT_STAFF, "support_service", "", SUPPORT_SERVICE])
        writer.writerow([ADMIN, "admin", "", ""])


def draw_outcomes(students: list[SimStudent], seed: int) -> dict[str, str]:
    """Each student's end-of-year outcome: pass, fail or withdrawn, with planted risk.

    Students who disengage part-way fail or withdraw most often, and the less engaged a
    student's habits the likelier a bad outcome, so ``leap evaluate`` has something to find.
    Drawn from a generator of their own, so the events a seed produces do not change.
    """
    rng = random.Random(f"outcomes:{seed}")
    outcomes = {}
    for s in students:
        if s.status == "withdrawn":
            outcomes[s.student_id] = "withdrawn"
            continue
        risk = 0.6 if s.stops_on is not None else 0.04 + 0.3 * max(0.0, 0.8 - s.propensity) / 0.8
        if rng.random() < risk:
            outcomes[s.student_id] = "fail" if rng.random() < 0.7 else "withdrawn"
        else:
            outcomes[s.student_id] = "pass"
    return outcomes


def write_outcomes(outcomes: dict[str, str], path: Path) -> None:
    """The outcomes CSV (``leap evaluate --outcomes`` reads it)."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["student_id", "outcome"])
        writer.writerows(outcomes.items())


def write_calendar(path: Path, first_day: date, last_day: date, holiday: list[date]) -> None:
    """The simulated university's academic calendar: one term taught Monday to Friday, the holiday week as a break."""
    text = 'teaching_weekdays = ["mon", "tue", "wed", "thu", "fri"]\n\n'
    text += f'[[term]]\nname = "Simulated term"\nstarts = {first_day - timedelta(days=60)}\nends = {last_day + timedelta(days=60)}\n'
    if holiday:
        text += f'\n[[break]]\nname = "Holiday week"\nstarts = {min(holiday)}\nends = {max(holiday)}\n'
    path.write_text(text)


def simulate(
    out_dir: Path,
    *,
    students: int,
    days: int,
    seed: int,
    end: datetime,
    tz: ZoneInfo,
    holiday_week: bool = True,
) -> SimCounts:
    """Write ``events.jsonl``, ``roster.csv``, ``staff.csv``, ``calendar.toml`` and ``outcomes.csv`` for ``days`` days ending at ``end`` into ``out_dir``.

    The calendar has one term around the simulated days and the holiday week as a break,
    so the alert rules can be run against the university it describes; the outcomes are
    planted (``draw_outcomes``) so ``leap evaluate`` can be tested end to end.
    """
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    people = make_students(students, rng)
    write_roster(people, out_dir / "roster.csv")
    write_staff(people, out_dir / "staff.csv")
    write_outcomes(draw_outcomes(people, seed), out_dir / "outcomes.csv")
    end_ms = int(end.timestamp() * 1000)
    last_day = end.astimezone(tz).date()
    first_day = last_day - timedelta(days=days - 1)
    holiday = range(days - 14, days - 7) if holiday_week and days >= 21 else range(0)
    write_calendar(out_dir / "calendar.toml", first_day, last_day, [first_day + timedelta(days=i) for i in holiday])
    # Each cohort's weekly timetable: (weekday, hour) of its sessions.
    timetable = {
        (p, y): [(rng.randint(0, 4), rng.randint(9, 17)) for _ in range(rng.randint(8, 14))]
        for p, (_, years) in PROGRAMMES.items()
        for y in range(1, years + 1)
    }
    counts = SimCounts(students=len(people))
    pending: list[tuple[int, int, dict]] = []  # (arrival ms, sequence, event)
    sequence = 0

    def emit(student: SimStudent, source: str, action: str, at: datetime, arrival_delay_s: float, **extra) -> dict:
        nonlocal sequence
        sequence += 1
        when = int(at.timestamp() * 1000)
        event = {
            "event_id": event_id(f"sim:{seed}:{sequence}"),
            "student_id": student.student_id,
            "source": source,
            "action": action,
            "event_time": datetime.fromtimestamp(when / 1000, tz).isoformat(timespec="milliseconds"),
            "course": f"{student.programme}-{student.year}",
            "source_ref": f"simulation:{seed}:{sequence}",
            **extra,
        }
        arrival = when + int(arrival_delay_s * 1000)
        pending.append((arrival, sequence, event))
        return event

    for index in range(days):
        day = first_day + timedelta(days=index)
        weekend = day.weekday() >= 5
        on_holiday = index in holiday
        for s in people:
            if s.status in ("withdrawn", "interrupted") and rng.random() < 0.9:
                continue
            level = s.propensity * (0.05 if s.stops_on is not None and index >= s.stops_on else 1.0)
            level *= 0.4 if weekend else 1.0
            level *= 0.3 if on_holiday else 1.0

            def at(hour_lo: int = 8, hour_hi: int = 23) -> datetime:
                return datetime.combine(day, time(rng.randint(hour_lo, hour_hi - 1), rng.randint(0, 59), rng.randint(0, 59)), tz)

            feed_delay = lambda: rng.uniform(1, 120)  # noqa: E731 - live feeds arrive within minutes
            for _ in range(_poisson(rng, 9 * level)):
                emit(s, "vle", "course_module_viewed", at(), feed_delay(), object_ref=f"cm:{rng.randint(1, 400)}")
            for _ in range(_poisson(rng, 1.2 * level * (0.3 if weekend else 1))):
                emit(s, "logins", "workstation_logon", at(8, 20), feed_delay())
            for _ in range(_poisson(rng, 0.6 * level)):
                emit(s, "lecture_capture", "viewed", at(), rng.uniform(600, 7200), quantity=round(rng.uniform(3, 55), 2))
            for _ in range(_poisson(rng, 0.25 * level)):
                emit(s, "coursework", "submitted", at(9, 23), feed_delay())
            for _ in range(_poisson(rng, 0.2 * level)):
                emit(s, "library", "borrowed", at(9, 19), feed_delay())
            if weekend or on_holiday or s.status in ("withdrawn", "placement", "interrupted"):
                continue
            for weekday, hour in timetable[(s.programme, s.year)]:
                if weekday != day.weekday() or (s.part_time and rng.random() < 0.6):
                    continue
                start = datetime.combine(day, time(hour, 0), tz) + timedelta(minutes=rng.randint(-15, 14))
                if rng.random() < 0.02:
                    status = "authorised_absence"
                elif rng.random() < min(0.97, 0.3 + 0.6 * level):
                    status = "late" if rng.random() < 0.1 else "present"
                else:
                    status = "absent"
                # 48-hour uploads: a fifth of sessions arrive one to three days late.
                late = rng.random() < 0.2
                delay = rng.uniform(86_400, 3 * 86_400) if late else rng.uniform(60, 3600)
                counts.late_uploads += late
                original = emit(s, "attendance", "session_marked", start, delay, attendance_status=status, object_ref=f"session:{s.programme}-{s.year}:{weekday}:{hour}")
                if status == "absent" and rng.random() < 0.05:
                    # The card reader failed: the student challenges, the register is corrected.
                    counts.corrections += 1
                    emit(s, "attendance", "session_marked", start, delay + rng.uniform(3600, 2 * 86_400), attendance_status="present", amends=original["event_id"], object_ref=original["object_ref"])

    # A feed occasionally re-sends what it sent (same event ids).
    for arrival, _, event in rng.sample(pending, k=len(pending) // 200):
        counts.duplicates += 1
        sequence += 1
        pending.append((arrival + int(rng.uniform(60, 86_400) * 1000), sequence, event))
    pending.sort(key=lambda item: (item[0], item[1]))
    with (out_dir / "events.jsonl").open("w") as out:
        for arrival, _, event in pending:
            if arrival > end_ms:
                continue
            out.write(json.dumps(event) + "\n")
            counts.events += 1
    return counts
