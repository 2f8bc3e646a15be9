"""A synthetic ``logstore_standard_log`` dump in the real export format, for demos and tests.

The rows mix what a real site's log holds: students' own views, submissions and logins,
and the rows the adapter must not count (teachers' actions, cron and CLI rows, users not
logged in, "logged in as" sessions, anonymous posts), with ``other`` written as PHP
``serialize()`` or JSON, NULL as ``NULL`` or empty, and IPv4 and IPv6 addresses. Each
generated row carries the intent it was generated with, so tests can check the adapter's
decision against it.
"""

from __future__ import annotations

import csv
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from producers.sources.moodle import LOGSTORE_COLUMNS

# (eventname, component, action, target, objecttable, crud, edulevel, contextlevel)
_PARTICIPATING = [
    ("\\core\\event\\course_viewed", "core", "viewed", "course", None, "r", 2, 50),
    ("\\mod_page\\event\\course_module_viewed", "mod_page", "viewed", "course_module", "page", "r", 2, 70),
    ("\\mod_resource\\event\\course_module_viewed", "mod_resource", "viewed", "course_module", "resource", "r", 2, 70),
    ("\\mod_forum\\event\\post_created", "mod_forum", "created", "post", "forum_posts", "c", 2, 70),
    ("\\mod_quiz\\event\\attempt_submitted", "mod_quiz", "submitted", "attempt", "quiz_attempts", "u", 2, 70),
    ("\\mod_assign\\event\\assessable_submitted", "mod_assign", "submitted", "assessable", "assign_submission", "u", 2, 70),
    ("\\mod_assign\\event\\feedback_viewed", "mod_assign", "viewed", "feedback", "assign_grades", "r", 2, 70),
]
_LOGIN = ("\\core\\event\\user_loggedin", "core", "loggedin", "user", "user", "r", 0, 10)
_TEACHING = [
    ("\\mod_assign\\event\\submission_graded", "mod_assign", "graded", "submission", "assign_grades", "u", 1, 70),
    ("\\core\\event\\course_module_created", "core", "created", "course_module", "course_modules", "c", 1, 70),
]
_SYSTEM = ("\\core\\event\\config_log_created", "core", "created", "config_log", "config_log", "c", 0, 10)


@dataclass(frozen=True)
class SampleRow:
    """One generated row and what the adapter should make of it."""

    fields: list[str]
    intent: str  # "publish" or the kind of skip


def _other(rng: random.Random, kind: str) -> str:
    if kind == "login":
        name = f"s{rng.randint(1000, 9999)}"
        if rng.random() < 0.5:
            return f'a:1:{{s:8:"username";s:{len(name)}:"{name}";}}'
        return json.dumps({"username": name})
    roll = rng.random()
    if roll < 0.3:
        return "N;"
    if roll < 0.5:
        return "NULL"
    if roll < 0.6:
        return ""
    if roll < 0.8:
        return json.dumps({"modulename": "page", "instanceid": rng.randint(1, 500)})
    return 'a:2:{s:10:"modulename";s:4:"page";s:10:"instanceid";i:' + str(rng.randint(1, 500)) + ";}"


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"2001:630:{rng.randint(0, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
    return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _null(rng: random.Random) -> str:
    return "NULL" if rng.random() < 0.5 else ""


def generate(
    rows: int, *, students: int = 500, seed: int = 1, start: int | None = None, days: int = 35, user_ids: list[int] | None = None
) -> Iterator[SampleRow]:
    """``rows`` logstore rows over ``days`` days from ``start`` (Unix seconds; default: that many days ago).

    ``user_ids``: the students' Moodle user ids to use (the first ``students`` of them), for
    a dump whose users a roster's identity map knows; default random ones.
    """
    rng = random.Random(seed)
    if start is None:
        start = int(time.time()) - days * 86400
    student_ids = user_ids[:students] if user_ids else [rng.randint(1000, 99999) for _ in range(students)]
    teachers = [rng.randint(100, 999) for _ in range(max(1, students // 50))]
    for log_id in range(1, rows + 1):
        when = start + rng.randint(0, days * 86400 - 1)
        roll = rng.random()
        userid, realuserid, origin, anonymous = rng.choice(student_ids), None, "web", 0
        if roll < 0.70:
            spec, intent = rng.choice(_PARTICIPATING), "publish"
            if spec[1] == "mod_forum" and rng.random() < 0.1:
                anonymous, intent = 1, "anonymous"
        elif roll < 0.80:
            spec, intent = _LOGIN, "publish"
        elif roll < 0.87:
            spec, intent, userid = rng.choice(_TEACHING), "teaching", rng.choice(teachers)
        elif roll < 0.91:
            spec, intent, userid, origin = _SYSTEM, "system", -1, rng.choice(["cli", "cron"])
        elif roll < 0.95:
            spec, intent, userid = rng.choice(_PARTICIPATING), "not_logged_in", 0
        elif roll < 0.98:
            spec, intent, realuserid = rng.choice(_PARTICIPATING), "logged_in_as", rng.choice(teachers)
        else:
            spec, intent, origin = rng.choice(_PARTICIPATING), "restore", "restore"
        eventname, component, action, target, objecttable, crud, edulevel, contextlevel = spec
        courseid = rng.randint(2, 60)
        fields = [
            str(log_id),
            eventname,
            component,
            action,
            target,
            objecttable or _null(rng),
            str(rng.randint(1, 100000)) if objecttable else _null(rng),
            crud,
            str(edulevel),
            str(rng.randint(10, 9000)),
            str(contextlevel),
            str(rng.randint(1, 3000)),
            str(userid),
            str(courseid),
            _null(rng),
            str(anonymous),
            _other(rng, "login" if spec is _LOGIN else "event"),
            str(when),
            origin,
            _ip(rng) if origin == "web" else _null(rng),
            str(realuserid) if realuserid is not None else _null(rng),
        ]
        yield SampleRow(fields, intent)


def write_dump(path: Path, rows: int, *, header: bool = True, **kwargs: Any) -> Counter[str]:
    """Write a dump like phpMyAdmin's CSV export; return how many rows of each intent it holds."""
    intents: Counter[str] = Counter()
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        if header:
            writer.writerow(LOGSTORE_COLUMNS)
        for row in generate(rows, **kwargs):
            writer.writerow(row.fields)
            intents[row.intent] += 1
    return intents
