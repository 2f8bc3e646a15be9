"""xAPI (Experience API) statements: Moodle's ``logstore_xapi``, the Jisc recipes, video players, any LRS.

Where statements come from
    The HTTP endpoint calls ``parse_statement`` for each statement a system POSTs (one
    decoded JSON value in, one outcome out). Files (``leap produce xapi FILE``) are an LRS
    export: JSON lines, one statement a line, or a JSON array of statements (a file whose
    first character is ``[``), read whole up to 64 MiB (``producers.json_records``); a larger
    array is refused (convert it to JSON lines: ``jq -c '.[]' export.json``). Array elements are
    numbered ``record 1``, ``record 2``... in positions.

Required: ``actor``, ``verb.id`` and ``object.id`` (a statement without them is rejected,
naming what is missing). An ``id``, when present, must be a UUID.

Event id: the statement's own ``id`` (lower-cased), so a statement sent twice, or sent live
and then read again from an LRS export, is one event. A statement without an ``id`` gets one
derived from its content (canonical JSON, keys sorted, without the LRS's ``stored`` and
``authority``), so re-sending it is harmless too.

Time: ``timestamp`` (ISO 8601; ``stored`` when there is none). Moodle sends UTC with
milliseconds or its local time with an offset; a timestamp without an offset is taken as
UTC (xAPI says timestamps SHOULD carry a zone; UTC is what LRSs assume). Rejected when it is
not an ISO 8601 date and time or not in 2000-2099; with neither field: "no timestamp".

Person (the actor; xAPI identifies an agent by exactly one of ``mbox``, ``mbox_sha1sum``,
``openid``, ``account``; none or more than one is rejected):

- ``account {homePage, name}``: on a Moodle site (``context.platform`` "Moodle", any case;
  "moodle" in the homePage; or an object under the homePage at a Moodle ``view.php`` URL) a
  name of digits is the Moodle user id (``moodle_user_id``: ``logstore_xapi``'s default);
  any other name is a ``username`` (Jisc recipes, Moodle set to send usernames). A Moodle
  site sending numeric *usernames* is read as user ids: map those in the identity map.
- ``mbox`` ``mailto:someone@example.ac.uk``: ``email``.
- ``mbox_sha1sum`` or ``openid``: skipped ("actor identified only by a hash or OpenID"):
  neither can be turned into a student.
- an actor of ``objectType`` Group is skipped ("group actor").

What counts (verb -> source, action):

- ``https://brindlewaye.com/xAPITerms/verbs/loggedin`` -> vle, logged_in (Jisc login);
- ``http://id.tincanapi.com/verb/viewed``, ``http://adlnet.gov/expapi/verbs/experienced``
  -> vle, viewed;
- ``http://activitystrea.ms/schema/1.0/submit`` and ``http://adlnet.gov/expapi/verbs/completed``
  on an assignment (``object.definition.type`` containing "assessment" or "assignment", or a
  Moodle ``/mod/assign/`` URL) -> coursework, submitted (Moodle's submission, Jisc's
  assignment recipe); otherwise vle, submitted / completed;
- ``http://activitystrea.ms/schema/1.0/borrowed`` -> library, borrowed (Jisc loan);
- ``http://activitystrea.ms/schema/1.0/access`` -> library, entered (Jisc facility gate);
- ``http://adlnet.gov/expapi/verbs/attended`` -> attendance, session_marked (Jisc attendance
  recipe; the mark is the statement's own event, so a mark changed later by a new statement
  is a second event, not an amendment), from ``result.completion``: true is present, or late when a result extension whose IRI ends in
  ``attendance_late`` is 1/true or the ``attendance_category`` is a late code; false is
  absent, or authorised_absence when the category is an authorised code. Codes are read with
  the register vocabulary (``producers.attendance_marks.MARKS``: ``L``/``Late`` late;
  ``AA``, ``Auth``, ``Authorised``, ``E``, ``Excused``, ``Sick``, ``Medical``, ``EC``...
  authorised); other codes (Jisc leaves them to the institution) change nothing, and
  ``result.completion`` always decides attended or not. A category saying the session was
  cancelled or not required (``C``, ``NR``, ``N/A``, ``Exempt``...) is skipped ("session
  cancelled or not required"). No boolean ``result.completion``: rejected.
- Lecture capture: a statement about a video (``object.definition.type`` containing
  "video", or the xAPI video profile ``https://w3id.org/xapi/video`` in
  ``context.contextActivities.category``) with verb viewed, experienced, completed or the
  video profile's ``played``/``paused`` (``https://w3id.org/xapi/video/verbs/...``) and a
  ``result.duration`` -> lecture_capture, viewed, quantity = the duration in minutes. Each
  statement's duration counts as it stands: a player that sends segment durations on
  played/paused *and* a session total on completed is counted twice, so send one of the two.
  Durations are ISO 8601 days/hours/minutes/seconds (``PT12M30.5S``, ``P1DT2H``); years,
  months and weeks are rejected, as are durations over a day; a zero duration is skipped
  ("no time watched"). A played/paused statement without a duration is skipped ("video
  statement without duration"), as is one about something that is not a video;
  viewed/experienced/completed without one count as above.

Skipped as well: the ``voided`` verb ("voiding statement": voiding is not applied yet, the
voided statement's event stands) and every other verb ("verb not counted").

Course: a Moodle course URL (``.../course/view.php?id=N`` -> "N") in
``context.contextActivities.parent``, ``grouping`` or the object itself; else the Jisc
``courseArea`` context extension (``uddModInstanceID``, else ``uddCourseInstanceID``); else
the first grouping activity's id. ``object_ref`` is ``object.id``; both are cut to 256
characters.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from leap.vocabulary import EMAIL, MOODLE_USER_ID, USERNAME
from producers.attendance_marks import (
    ABSENT, AUTHORISED_ABSENCE, LATE, MARKS, NOT_REQUIRED, NOT_REQUIRED_SKIP, PRESENT, mark_key,
)  # fmt: skip
from producers.json_records import MAX_TEXT, decode_json, is_uuid, iso_time_ms, read_json_array
from producers.outcome import CsvRecord, Outcome, Reject, Skip, activity, event_id
from producers.readers import open_text, read_lines
from producers.sources.base import Adapter, NotThisFormat

VOIDED = "http://adlnet.gov/expapi/verbs/voided"
LOGGED_IN = "https://brindlewaye.com/xAPITerms/verbs/loggedin"
VIEWED = "http://id.tincanapi.com/verb/viewed"
EXPERIENCED = "http://adlnet.gov/expapi/verbs/experienced"
SUBMIT = "http://activitystrea.ms/schema/1.0/submit"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
BORROWED = "http://activitystrea.ms/schema/1.0/borrowed"
ACCESS = "http://activitystrea.ms/schema/1.0/access"
ATTENDED = "http://adlnet.gov/expapi/verbs/attended"
VIDEO_PLAYED = "https://w3id.org/xapi/video/verbs/played"
VIDEO_PAUSED = "https://w3id.org/xapi/video/verbs/paused"
VIDEO_COMPLETED = "https://w3id.org/xapi/video/verbs/completed"
VIDEO_PROFILE = "https://w3id.org/xapi/video"

SIMPLE_VERBS: dict[str, tuple[str, str]] = {
    LOGGED_IN: ("vle", "logged_in"),
    VIEWED: ("vle", "viewed"),
    EXPERIENCED: ("vle", "viewed"),
    BORROWED: ("library", "borrowed"),
    ACCESS: ("library", "entered"),
}
VIDEO_ONLY_VERBS = frozenset({VIDEO_PLAYED, VIDEO_PAUSED, VIDEO_COMPLETED})
WATCHING_VERBS = frozenset({VIEWED, EXPERIENCED, COMPLETED, *VIDEO_ONLY_VERBS})
IDENTIFIERS = ("mbox", "mbox_sha1sum", "openid", "account")

VOIDING = "voiding statement"
GROUP_ACTOR = "group actor"
HASHED_ACTOR = "actor identified only by a hash or OpenID"
NOT_COUNTED = "verb not counted"
NO_DURATION = "video statement without duration"
NOTHING_WATCHED = "no time watched"

MAX_MINUTES = 24 * 60  # one statement cannot stand for more than a day of watching

_NUMBER = r"([0-9]+(?:[.,][0-9]+)?)"
_DURATION = re.compile(rf"P(?!$)(?:{_NUMBER}D)?(?:T(?=[0-9])(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?")
_MBOX = re.compile(r"mailto:([^@\s]+@[^@\s]+)", re.IGNORECASE)
_MOODLE_COURSE = re.compile(r"/course/view\.php\?id=([0-9]+)")
_MOODLE_PAGE = re.compile(r"/(?:mod/[a-z0-9_]+|course)/view\.php\?id=[0-9]+")
_MOODLE_ASSIGN = re.compile(r"/mod/assign/")


def check_statement_id(value: object) -> str | None:
    """The problem with a statement's ``id`` (absent or ``null`` is none), or ``None`` when it is a UUID."""
    if value is None:
        return None
    if not isinstance(value, str):
        return "id is not text"
    if not is_uuid(value):
        return f"id {value[:60]!r} is not a UUID"
    return None


def duration_minutes(value: object) -> float:
    """An ISO 8601 duration (days, hours, minutes, seconds) in minutes; ``ValueError`` when it is not one."""
    if not isinstance(value, str):
        raise ValueError("result.duration is not text")
    match = _DURATION.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"result.duration {value[:40]!r} is not an ISO 8601 duration (days, hours, minutes, seconds)")
    days, hours, minutes, seconds = (float(part.replace(",", ".")) if part else 0.0 for part in match.groups())
    total = days * 1440 + hours * 60 + minutes + seconds / 60
    if not math.isfinite(total) or total > MAX_MINUTES:
        raise ValueError(f"result.duration {value[:40]!r} is more than a day")
    return total


def _object(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _activities(context: dict, kind: str) -> list[dict]:
    """``contextActivities.<kind>``: an array, or the single object xAPI 1.0.0 also allows."""
    value = _object(context.get("contextActivities")).get(kind)
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def _extension(extensions: object, suffix: str) -> object:
    """The value of the first extension whose IRI ends in ``suffix`` (any case), else ``None``."""
    for key, value in _object(extensions).items():
        if isinstance(key, str) and key.rstrip("/").lower().endswith(suffix.lower()):
            return value
    return None


def _is_moodle(statement: dict, home_page: str) -> bool:
    platform = _object(statement.get("context")).get("platform")
    if isinstance(platform, str) and platform.strip().casefold() == "moodle":
        return True
    if "moodle" in home_page.casefold():
        return True
    object_id = statement["object"]["id"]
    return object_id.startswith(home_page.rstrip("/") + "/") and bool(_MOODLE_PAGE.search(object_id))


def statement_person(statement: dict) -> tuple[str, str] | Skip | Reject:
    """The actor's ``(identity namespace, id)``, or why it has none that names a student."""
    actor = statement["actor"]
    if actor.get("objectType") == "Group":
        return Skip(GROUP_ACTOR)
    present = [key for key in IDENTIFIERS if actor.get(key) is not None]
    if not present:
        return Reject("actor has no identifier (mbox, mbox_sha1sum, openid or account)")
    if len(present) > 1:
        return Reject(f"actor has {len(present)} identifiers ({', '.join(present)}); xAPI allows exactly one")
    if present[0] in ("mbox_sha1sum", "openid"):
        return Skip(HASHED_ACTOR)
    if present[0] == "mbox":
        mbox = actor["mbox"]
        match = _MBOX.fullmatch(mbox.strip()) if isinstance(mbox, str) else None
        if match is None or len(match.group(1)) > MAX_TEXT:
            return Reject("actor.mbox is not a mailto: address")
        return EMAIL, match.group(1)
    account = actor["account"]
    if not isinstance(account, dict):
        return Reject("actor.account is not an object")
    name, home_page = account.get("name"), account.get("homePage")
    if not _text(name):
        return Reject("actor.account.name is missing or empty")
    if not _text(home_page):
        return Reject("actor.account.homePage is missing or empty")
    name = name.strip()
    if len(name) > MAX_TEXT:
        return Reject(f"actor.account.name is longer than {MAX_TEXT} characters")
    if name.isascii() and name.isdigit() and _is_moodle(statement, home_page.strip()):
        return MOODLE_USER_ID, name
    return USERNAME, name


def statement_course(statement: dict) -> str | None:
    """The statement's course: a Moodle course id, a Jisc module instance, or the first grouping id."""
    context = _object(statement.get("context"))
    groupings = _activities(context, "grouping")
    for item in (*_activities(context, "parent"), *groupings, statement["object"]):
        item_id = item.get("id")
        if isinstance(item_id, str) and (match := _MOODLE_COURSE.search(item_id)):
            return match.group(1)
    area = _extension(context.get("extensions"), "courseArea")
    for name in ("uddModInstanceID", "uddCourseInstanceID"):
        value = _extension(area, name)
        if _text(value):
            return value.strip()[:MAX_TEXT]
    first = groupings[0].get("id") if groupings else None
    return first[:MAX_TEXT] if _text(first) else None


def _is_video(statement: dict) -> bool:
    kind = _object(statement["object"].get("definition")).get("type")
    if isinstance(kind, str) and "video" in kind.lower():
        return True
    categories = _activities(_object(statement.get("context")), "category")
    return any(isinstance(c.get("id"), str) and c["id"].rstrip("/") == VIDEO_PROFILE for c in categories)


def _is_assignment(obj: dict) -> bool:
    kind = _object(obj.get("definition")).get("type")
    if isinstance(kind, str) and ("assessment" in kind.lower() or "assignment" in kind.lower()):
        return True
    return bool(_MOODLE_ASSIGN.search(obj["id"]))


def _attendance(result: dict) -> dict[str, object] | Skip | Reject:
    completion = result.get("completion")
    if not isinstance(completion, bool):
        return Reject("attended statement has no result.completion (true or false)")
    extensions = result.get("extensions")
    category = _extension(extensions, "attendance_category")
    code = mark_key(str(category)) if isinstance(category, (str, int)) and not isinstance(category, bool) else ""
    if code in NOT_REQUIRED:
        return Skip(NOT_REQUIRED_SKIP)
    late = _extension(extensions, "attendance_late")
    late_flag = late is True or (isinstance(late, (int, float)) and late == 1) or (isinstance(late, str) and late.strip().lower() in ("1", "true"))
    if completion:
        status = LATE if late_flag or MARKS.get(code) == LATE else PRESENT
    else:
        status = AUTHORISED_ABSENCE if MARKS.get(code) == AUTHORISED_ABSENCE else ABSENT
    return {"source": "attendance", "action": "session_marked", "attendance_status": status}


def _counted(statement: dict, verb: str) -> dict[str, object] | Skip | Reject:
    """What the statement's verb makes of it: the event's source, action and measure, or a skip."""
    result = _object(statement.get("result"))
    if verb in WATCHING_VERBS and _is_video(statement) and result.get("duration") is not None:
        try:
            minutes = duration_minutes(result["duration"])
        except ValueError as exc:
            return Reject(str(exc))
        if minutes <= 0:
            return Skip(NOTHING_WATCHED)
        return {"source": "lecture_capture", "action": "viewed", "quantity": minutes}
    if verb in VIDEO_ONLY_VERBS:
        return Skip(NO_DURATION)
    if verb == ATTENDED:
        return _attendance(result)
    if verb in (SUBMIT, COMPLETED):
        if _is_assignment(statement["object"]):
            return {"source": "coursework", "action": "submitted"}
        return {"source": "vle", "action": "submitted" if verb == SUBMIT else "completed"}
    if verb in SIMPLE_VERBS:
        source, action = SIMPLE_VERBS[verb]
        return {"source": source, "action": action}
    return Skip(NOT_COUNTED)


def _missing(statement: dict) -> list[str]:
    missing = [] if isinstance(statement.get("actor"), dict) else ["actor"]
    for part in ("verb", "object"):
        if not _text(_object(statement.get(part)).get("id")):
            missing.append(f"{part}.id")
    return missing


def derived_id(statement: dict, site: str = "xapi") -> str:
    """The event id of a statement sent without an ``id``: from its content (not what an LRS adds), so a resend matches."""
    content = {key: value for key, value in statement.items() if key not in ("stored", "authority", "id")}
    return event_id(f"xapi:{site}:" + json.dumps(content, sort_keys=True, separators=(",", ":")))


def parse_statement(statement: object, *, site: str = "xapi", position: str) -> Outcome:
    """One decoded xAPI statement to an event, a skip or a rejection (rules in the module doc).

    ``position`` names where it came from (file and line, or request and index): the source
    reference of a statement without an ``id``.
    """
    if not isinstance(statement, dict):
        return Reject("statement is not a JSON object")
    if missing := _missing(statement):
        return Reject(f"statement has no {', '.join(missing)}")
    if problem := check_statement_id(statement.get("id")):
        return Reject(problem)
    verb = statement["verb"]["id"].strip()
    if verb == VOIDED:
        return Skip(VOIDING)
    person = statement_person(statement)
    if isinstance(person, (Skip, Reject)):
        return person
    field = "timestamp" if statement.get("timestamp") is not None else "stored"
    if statement.get(field) is None:
        return Reject("no timestamp")
    try:
        when = iso_time_ms(statement[field], field)
    except ValueError as exc:
        return Reject(str(exc))
    what = _counted(statement, verb)
    if isinstance(what, (Skip, Reject)):
        return what
    own_id = statement.get("id")
    try:
        eid = own_id.lower() if isinstance(own_id, str) else derived_id(statement, site)
    except (ValueError, RecursionError):
        return Reject("statement cannot be written as JSON (nested too deeply)")
    namespace, user = person
    event = activity(
        reference=eid, student_id=user, identity=namespace, event_time_ms=when,
        course=statement_course(statement), object_ref=statement["object"]["id"].strip()[:MAX_TEXT],
        source_ref=f"xapi:{site}:statement:{eid}" if isinstance(own_id, str) else position,
        **what,  # type: ignore[arg-type]
    )  # fmt: skip
    event.record["event_id"] = eid  # the statement's own id, not one derived from it
    return event


class Xapi(Adapter):
    """xAPI statements: JSON lines or a JSON array from an LRS (module doc); the HTTP endpoint uses ``parse_statement``."""

    name = "xapi"
    source = "any"
    identity = USERNAME  # each event names its own: moodle_user_id, username or email
    summary = "xAPI statements (Moodle logstore_xapi, Jisc recipes, video players): JSON lines or a JSON array from an LRS"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.site = self.options.site or "xapi"

    @contextmanager
    def records(self, path: Path) -> Iterator[Iterator[CsvRecord]]:
        """A JSON array's elements when the file starts with ``[``, else its lines."""
        with open_text(path, self.options.encoding) as stream:
            head = stream.read(4096).lstrip()
            stream.seek(0)
            yield read_json_array(stream, "statements") if head.startswith("[") else read_lines(stream)

    def start(self, first: CsvRecord) -> bool:
        """The first record must be a JSON object with ``actor`` and ``verb`` (no header)."""
        try:
            value = decode_json(first.raw)
        except ValueError:
            value = None
        if not isinstance(value, dict) or not {"actor", "verb"} <= value.keys():
            raise NotThisFormat("not xAPI statements: expected JSON objects with actor and verb, one a line or in a JSON array")
        self.label = "xapi (JSON array)" if first.unit == "record" else "xapi (JSON lines)"
        return False

    def parse(self, record: CsvRecord) -> Outcome:
        """One line or array element to an event, a skip or a rejection."""
        try:
            statement = decode_json(record.raw)
        except ValueError as exc:
            return Reject(str(exc))
        where = f"{self.file_name}:{record.line}" if record.unit == "line" else f"{self.file_name}:record {record.line}"
        return parse_statement(statement, site=self.site, position=where)
