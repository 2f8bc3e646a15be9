"""Moodle (the VLE): parse real exports of Moodle's logs into activity events.

Two shapes are accepted, told apart by the first row (``detect_format``):

``logstore_standard_log`` dump
    The ``mdl_logstore_standard_log`` table written to CSV by phpMyAdmin, mysqldump or
    ``\\copy``: 21 columns in table order, with or without a header row. SQL NULL may be
    written as ``NULL``, ``\\N`` or an empty field. ``other`` is PHP ``serialize()`` text on
    older sites and JSON on newer ones; both are accepted, as Moodle's own reader does.
    ``timecreated`` is Unix seconds (UTC). The event id comes from the log row id, so the
    same row always has the same event id. MySQL's own text export (``SELECT ... INTO
    OUTFILE``, ``mysqldump --tab``: backslash escapes, ``\\N``, tab- or comma-separated) is
    recognised by its doubled backslashes in event names and read by
    ``producers.mysql_text``.

The "Logs" report download (Site administration > Reports > Logs, CSV)
    Columns ``Time, User full name, Affected user, Event context, Component, Event name,
    Description, Origin, IP address`` with a leading ``Course`` on site-wide downloads. It
    has no numeric ids: the user id, course id and course-module id are read out of
    ``Description`` (``The user with id '1046' viewed the 'page' activity with course module
    id '643'.``). ``Time`` is in the downloading user's locale and time zone (Moodle's
    English default ``7/09/26, 21:40:58`` is day/month/year); pass the format and zone when
    they differ. There is no educational level column, so participation is decided by the
    (English) event name, from the table ``REPORT_PARTICIPATING`` below. It has no row id
    either: the event id is derived from the row's content, so the same row re-exported has
    the same id, and two identical rows (same user, second, event and description) are one.

What counts as a student's own engagement (everything else is *skipped*, not rejected):

1. the user is a person: ``userid`` > 0 (0 is "not logged in", -1 is the system/cli/cron);
2. not "logged in as": ``realuserid`` is NULL (in the report, the name is not "X as Y");
3. not a system origin: ``origin`` is not ``cli``, ``cron`` or ``restore``;
4. not anonymous: ``anonymous`` is 0 (anonymous forum posts etc. cannot be attributed);
5. either a login (``\\core\\event\\user_loggedin``, edulevel 0) or a *participating* event
   (``edulevel`` 2: the user's own learning). Teaching (1) and other (0) events are skipped.

Assignment submissions and feedback views (``mod_assign``) are published as ``coursework``;
everything else as ``vle``. The student id is the Moodle user id: the identity map
(``moodle_user_id``) turns it into the student number, not the adapter.

A row is *rejected* (dead-letter) when it cannot be trusted: wrong number of columns,
non-numeric ids, a timestamp that is not a plausible time, an ``other`` value that is
neither JSON nor PHP-serialized, an ``ip`` that is not an IPv4/IPv6 address, an unknown
``crud`` or ``edulevel``, or a report row whose Description names no user.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import tzinfo
from pathlib import Path

import phpserialize

from leap.vocabulary import MOODLE_USER_ID
from producers.mysql_text import dialect_of, looks_like_mysql, read_mysql
from producers.outcome import CsvRecord, Event, Outcome, Reject, Skip, activity
from producers.readers import open_text, read_csv
from producers.sources.base import Adapter, NotThisFormat
from producers.times import read_time

LOGSTORE_COLUMNS = (
    "id", "eventname", "component", "action", "target", "objecttable", "objectid", "crud",
    "edulevel", "contextid", "contextlevel", "contextinstanceid", "userid", "courseid",
    "relateduserid", "anonymous", "other", "timecreated", "origin", "ip", "realuserid",
)  # fmt: skip
REPORT_COLUMNS = (
    "Time", "User full name", "Affected user", "Event context", "Component", "Event name",
    "Description", "Origin", "IP address",
)  # fmt: skip

LOGSTORE = "logstore_standard_log"
LOGS_REPORT = "logs_report"

LOGIN_EVENT = "\\core\\event\\user_loggedin"
COURSEWORK_EVENTS = frozenset(
    {"\\mod_assign\\event\\assessable_submitted", "\\mod_assign\\event\\feedback_viewed"}
)
SYSTEM_ORIGINS = frozenset({"cli", "cron", "restore"})
EDULEVEL_PARTICIPATING = 2
CONTEXT_MODULE = 70
NULLS = frozenset({"", "NULL", "\\N"})

# The Logs report's English event names that are participating (edulevel 2) events in core
# Moodle, or the login. Anything else in a report is skipped: without an edulevel column a
# name not known to be participation must not be counted as engagement.
REPORT_LOGIN = "User has logged in"
REPORT_PARTICIPATING: dict[str, str] = {
    **dict.fromkeys(
        ("Course viewed", "Course module viewed", "Course module instance list viewed",
         "Course activity completion updated", "Discussion viewed", "Discussion created", "Post created",
         "Post updated", "Some content has been posted.", "Quiz attempt started", "Quiz attempt submitted",
         "Quiz attempt reviewed", "Quiz attempt summary viewed", "Quiz attempt viewed", "Lesson started",
         "Lesson ended", "Choice answer added", "Feedback submitted", "Resource viewed", "Book chapter viewed",
         "Chapter viewed", "H5P content viewed", "xAPI statement received"),
        "vle",
    ),
    **dict.fromkeys(
        ("Submission form viewed", "Submission status viewed", "A submission has been submitted.",
         "Submission created.", "Submission updated.", "File uploaded.", "Feedback viewed"),
        "coursework",
    ),
}  # fmt: skip
DEFAULT_REPORT_TIME_FORMATS = (
    "%d/%m/%y, %H:%M:%S",  # Moodle 'strftimedatetimeshortaccurate' in English (en)
    "%d/%m/%y, %H:%M",
    "%d/%m/%Y, %H:%M:%S",
    "%A, %d %B %Y, %I:%M %p",  # older Moodle 'strftimedatetime'
    "%d %B %Y, %I:%M %p",
)

# Plausible event times: Moodle 2.7 (the logstore's first release) to well past any export.
_MIN_TIME = 1_388_534_400  # 2014-01-01
_MAX_TIME = 4_102_444_800  # 2100-01-01
_EVENTNAME = re.compile(r"^\\[a-z][a-z0-9_]*\\event\\[a-z][a-z0-9_]*$")
_USER_ID = re.compile(r"\buser with id '(-?\d+)'")
_COURSE_ID = re.compile(r"\bcourse with id '(\d+)'")
_CMID = re.compile(r"\bcourse module id '(\d+)'")
_SLUG = re.compile(r"[^a-z0-9]+")


def detect_format(first_row: Sequence[str]) -> tuple[str, bool]:
    """Which export a file is, from its first row: ``(format, first_row_is_header)``.

    Raises ``ValueError`` naming what was expected when the row matches neither.
    """
    cells = [cell.strip().lstrip("\ufeff") for cell in first_row]
    if tuple(cells) == LOGSTORE_COLUMNS:
        return LOGSTORE, True
    if tuple(cells) == REPORT_COLUMNS or tuple(cells) == ("Course", *REPORT_COLUMNS):
        return LOGS_REPORT, True
    # A headerless table dump: 21 fields whose second looks like an event class name.
    if len(cells) == len(LOGSTORE_COLUMNS) and _EVENTNAME.match(cells[1]):
        return LOGSTORE, False
    raise ValueError(
        "not a Moodle export: expected the 21 logstore_standard_log columns "
        f"({', '.join(LOGSTORE_COLUMNS[:3])}, ...) or the Logs report header "
        f"({', '.join(REPORT_COLUMNS[:3])}, ...); first row has {len(cells)} fields"
    )


def _nullable_int(value: str, column: str) -> int | None:
    value = value.strip()
    if value in NULLS:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{column} is not an integer: {value[:40]!r}") from None


def _required_int(value: str, column: str) -> int:
    parsed = _nullable_int(value, column)
    if parsed is None:
        raise ValueError(f"{column} is empty")
    return parsed


def parse_other(value: str) -> object:
    """Decode the ``other`` column: SQL NULL, JSON, or PHP ``serialize()`` text."""
    text = value.strip()
    if text in NULLS or text == "N;":
        return None
    if text[0] in "{[" or text in ("true", "false") or text[0] == '"':
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    try:
        return phpserialize.loads(text.encode("utf-8"), decode_strings=True)
    except (ValueError, EOFError, TypeError) as exc:
        raise ValueError(f"other is neither JSON nor PHP-serialized ({exc})") from None


def _ip(value: str) -> None:
    text = value.strip()
    if text in NULLS:
        return
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"ip is not an IPv4 or IPv6 address: {text[:60]!r}") from None


def parse_logstore_row(fields: Sequence[str], *, site: str) -> Outcome:
    """One ``logstore_standard_log`` row to an event, a skip or a rejection (see module doc)."""
    if len(fields) != len(LOGSTORE_COLUMNS):
        return Reject(f"expected {len(LOGSTORE_COLUMNS)} columns, found {len(fields)}")
    row = dict(zip(LOGSTORE_COLUMNS, fields))
    try:
        log_id = _required_int(row["id"], "id")
        eventname = row["eventname"].strip()
        if not _EVENTNAME.match(eventname):
            raise ValueError(f"eventname is not a Moodle event class: {eventname[:60]!r}")
        crud = row["crud"].strip()
        if crud not in ("c", "r", "u", "d"):
            raise ValueError(f"crud is not one of c/r/u/d: {crud[:10]!r}")
        edulevel = _required_int(row["edulevel"], "edulevel")
        if edulevel not in (0, 1, 2):
            raise ValueError(f"edulevel is not 0, 1 or 2: {edulevel}")
        userid = _required_int(row["userid"], "userid")
        courseid = _nullable_int(row["courseid"], "courseid")
        contextlevel = _nullable_int(row["contextlevel"], "contextlevel")
        contextinstanceid = _nullable_int(row["contextinstanceid"], "contextinstanceid")
        objectid = _nullable_int(row["objectid"], "objectid")
        _nullable_int(row["contextid"], "contextid")
        _nullable_int(row["relateduserid"], "relateduserid")
        realuserid = _nullable_int(row["realuserid"], "realuserid")
        anonymous = _nullable_int(row["anonymous"], "anonymous") or 0
        if anonymous not in (0, 1):
            raise ValueError(f"anonymous is not 0 or 1: {anonymous}")
        timecreated = _required_int(row["timecreated"], "timecreated")
        if not _MIN_TIME <= timecreated < _MAX_TIME:
            raise ValueError(f"timecreated {timecreated} is not a plausible Unix time")
        parse_other(row["other"])
        _ip(row["ip"])
    except ValueError as exc:
        return Reject(str(exc))

    origin = row["origin"].strip()
    if userid <= 0:
        return Skip("not a person (userid 0 = not logged in, -1 = system)")
    if realuserid is not None:
        return Skip("logged in as another user")
    if origin in SYSTEM_ORIGINS:
        return Skip(f"system origin {origin}")
    if anonymous:
        return Skip("anonymous")
    if eventname != LOGIN_EVENT and edulevel != EDULEVEL_PARTICIPATING:
        return Skip("teaching action" if edulevel == 1 else "not a participating event")

    if contextlevel == CONTEXT_MODULE and contextinstanceid is not None:
        object_ref: str | None = f"cm:{contextinstanceid}"
    elif row["objecttable"].strip() not in NULLS and objectid is not None:
        object_ref = f"{row['objecttable'].strip()}:{objectid}"
    else:
        object_ref = None
    return activity(
        reference=f"moodle:{site}:logstore:{log_id}",
        student_id=str(userid),
        identity=MOODLE_USER_ID,
        source="coursework" if eventname in COURSEWORK_EVENTS else "vle",
        action=eventname.rsplit("\\", 1)[1],
        event_time_ms=timecreated * 1000,
        course=str(courseid) if courseid else None,
        object_ref=object_ref,
        source_ref=f"moodle:{site}:logstore_standard_log:id={log_id}",
    )


def parse_report_time(text: str, tz: tzinfo, formats: Sequence[str]) -> int:
    """A Logs report ``Time`` cell in the downloader's zone to UTC milliseconds."""
    value = text.strip()
    local = read_time(value, tz=tz, iso=None, formats=formats)
    if local is None:
        raise ValueError(f"Time {value[:40]!r} matches none of the formats {', '.join(formats)}")
    stamp = local.replace(tzinfo=tz).timestamp()  # in tz even when a format reads an offset, as it always was
    if not _MIN_TIME <= stamp < _MAX_TIME:  # Moodle's own bounds (from 2014), not producers.times'
        raise ValueError(f"Time {value!r} is not a plausible date")
    return int(stamp * 1000)


def parse_report_row(
    fields: Sequence[str],
    *,
    site: str,
    position: str,
    has_course: bool,
    tz: tzinfo,
    time_formats: Sequence[str] = DEFAULT_REPORT_TIME_FORMATS,
) -> Outcome:
    """One Logs report row to an event, a skip or a rejection (see module doc).

    ``position`` (file and line) becomes the event's source reference: the report has no row id.
    """
    expected = len(REPORT_COLUMNS) + (1 if has_course else 0)
    if len(fields) != expected:
        return Reject(f"expected {expected} columns, found {len(fields)}")
    course_name = fields[0].strip() if has_course else None
    row = dict(zip(REPORT_COLUMNS, fields[1:] if has_course else fields))
    description = row["Description"].strip()
    try:
        when = parse_report_time(row["Time"], tz, time_formats)
        user = _USER_ID.search(description)
        if user is None:
            raise ValueError("Description names no user (expected \"The user with id '...'\")")
        _ip(row["IP address"])
    except ValueError as exc:
        return Reject(str(exc))

    userid = int(user.group(1))
    full_name = row["User full name"].strip()
    origin = row["Origin"].strip()
    event_name = row["Event name"].strip()
    if userid <= 0:
        return Skip("not a person (userid 0 = not logged in, -1 = system)")
    if " as " in full_name:
        return Skip("logged in as another user")
    if origin in SYSTEM_ORIGINS:
        return Skip(f"system origin {origin}")
    if full_name in ("", "-"):
        return Skip("anonymous")
    if event_name == REPORT_LOGIN:
        source = "vle"
    elif event_name in REPORT_PARTICIPATING:
        source = REPORT_PARTICIPATING[event_name]
    else:
        return Skip("not a participating event")

    course_id = _COURSE_ID.search(description)
    cmid = _CMID.search(description)
    identity = "|".join((str(userid), str(when), event_name, description, row["Event context"].strip()))
    return activity(
        reference=f"moodle:{site}:logs-report:{identity}",
        student_id=str(userid),
        identity=MOODLE_USER_ID,
        source=source,
        action=_SLUG.sub("_", event_name.lower()).strip("_"),
        event_time_ms=when,
        course=course_name or (course_id.group(1) if course_id else None),
        object_ref=f"cm:{cmid.group(1)}" if cmid else None,
        source_ref=f"moodle:{site}:logs-report:{position}",
    )


def row_parser(
    fmt: str,
    first_row: Sequence[str],
    *,
    site: str,
    location: str,
    tz: tzinfo,
    time_formats: Sequence[str] = DEFAULT_REPORT_TIME_FORMATS,
) -> Callable[[Sequence[str], int], Outcome]:
    """The row parser for a detected format: ``parse(fields, line_number) -> Outcome``."""
    if fmt == LOGSTORE:
        return lambda fields, line: parse_logstore_row(fields, site=site)
    has_course = bool(first_row) and first_row[0].strip().lstrip("\ufeff") == "Course"
    name = Path(location).name
    return lambda fields, line: parse_report_row(
        fields, site=site, position=f"{name}:{line}", has_course=has_course, tz=tz, time_formats=time_formats
    )


class Moodle(Adapter):
    """Moodle's logs: a ``logstore_standard_log`` dump or a Logs report download (module doc)."""

    name = "moodle"
    source = "vle"
    identity = MOODLE_USER_ID
    summary = "Moodle logstore_standard_log dump (CSV or MySQL text) or Logs report download"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._parse: Callable[[Sequence[str], int], Outcome] | None = None
        self.site = self.options.site or "moodle"

    @contextmanager
    def records(self, path: Path) -> Iterator[Iterator[CsvRecord]]:
        """CSV records, or MySQL's escaped text (``producers.mysql_text``) when the dump is written in it."""
        with open_text(path, self.options.encoding) as stream:
            head = stream.read(64 * 1024)
            stream.seek(0)
            yield read_mysql(stream, *dialect_of(head.split("\n", 1)[0])) if looks_like_mysql(head) else read_csv(stream)

    def start(self, first: CsvRecord) -> bool:
        """Tell the table dump from the Logs report by the first row."""
        try:
            fmt, is_header = detect_format(first.fields or [])
        except ValueError as exc:
            raise NotThisFormat(str(exc)) from None
        self.label = fmt
        self._parse = row_parser(
            fmt, first.fields or [], site=self.site, location=self.location, tz=self.options.tz,
            time_formats=self.options.time_formats or DEFAULT_REPORT_TIME_FORMATS,
        )  # fmt: skip
        return is_header

    def start_table(self) -> None:
        """Read rows of ``mdl_logstore_standard_log`` in column order without a header (the live tail)."""
        self.start(CsvRecord(0, "", list(LOGSTORE_COLUMNS)))

    def parse(self, record: CsvRecord) -> Outcome:
        """One row to an event, a skip or a rejection."""
        if self._parse is None:
            raise RuntimeError("Moodle.parse before start")
        return self._parse(record.fields or [], record.line)


__all__ = [
    "COURSEWORK_EVENTS",
    "DEFAULT_REPORT_TIME_FORMATS",
    "LOGSTORE",
    "LOGSTORE_COLUMNS",
    "LOGS_REPORT",
    "REPORT_COLUMNS",
    "Event",
    "detect_format",
    "parse_logstore_row",
    "parse_other",
    "parse_report_row",
    "parse_report_time",
    "row_parser",
]
