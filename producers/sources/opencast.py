"""Opencast (lecture capture): user tracking actions into minutes-watched events.

Opencast's user tracking service records *actions* (``oc_user_action``: ``mediapackageId,
inpoint, outpoint, length, type, isPlaying, created``) in *sessions* (``sessionId, userId,
userIp, userAgent``). Opencast itself publishes them as ``/usertracking/actions.json``; it
has no CSV export, so the accepted shapes are:

CSV (documented here: what a university writes from the REST response or the database)
    A header naming the action's fields, with the session's ``userId``: required
    ``mediapackageId, sessionId, userId, inpoint, outpoint, type, isPlaying, created``;
    optional ``id, length, userIp, userAgent``; any order. The database's column names are
    accepted for the same fields (``mediapackage, session_id, user_id, user_ip, user_agent,
    playing``), so a join of ``oc_user_action`` and ``oc_user_session`` can be read as it
    is. ``isPlaying`` is ``true``/``false`` (also ``t``/``f``, ``1``/``0``).

JSON
    The ``actions.json`` response as saved (``{"actions": {"action": [...]}}``; one action may
    be an object rather than a list, as Opencast's JSON writer does), or JSON lines of
    action objects. Each action is one record (a response's ``action N``). The session may be
    flat (``"userId"``, ``"sessionId"``) or nested (``"sessionId": {"sessionId": ..., "userId":
    ...}``), as different Opencast versions write it; numbers and booleans may be quoted.

``created`` is ISO 8601; a time without an offset (a database export) is in ``--tz``; a JSON
number is Unix milliseconds. ``inpoint``/``outpoint`` are seconds into the recording.

Opencast extends the last FOOTPRINT of a session while the player keeps playing, so a
FOOTPRINT with ``isPlaying`` true watched ``outpoint - inpoint`` seconds (``length`` is not
read: Opencast computes it from the two). Footprints are summed per viewing
(``producers.viewings``: one user's footprints of one media package in one session, in time
order, split at a gap of 30 minutes after the previous footprint's end, ``created +
seconds``, and before a day of watching): each footprint is *skipped* as "summed into its
viewing", and each viewing becomes one ``viewed`` event at the end of the file: ``quantity``
its seconds / 60, ``event_time`` its first footprint's ``created``, the person the
``userId`` (``username``: Opencast's user id is the login name), ``object_ref`` the
``mediapackageId``, no course (actions do not name the series).

Skipped: any other action type ("not a FOOTPRINT action": PLAY, PAUSE, SEEK, ... say nothing
about time watched that footprints do not); a footprint while paused ("not playing"); one
with ``outpoint`` equal to ``inpoint`` ("nothing watched"); the ``anonymous`` user
("anonymous viewer"); ``-omitted-`` users (user logging switched off: "user not recorded").

Rejected: a wrong number of fields; a line that is not a JSON object; an empty
``mediapackageId``, ``sessionId``, ``userId`` or ``type``; ``inpoint``/``outpoint`` that are
not numbers of seconds >= 0; ``isPlaying`` not a boolean; ``created`` not a time between 2000
and 2099; a FOOTPRINT whose ``outpoint`` is before its ``inpoint`` or more than a day after it
(other types may go backwards: a SEEK back).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from leap.vocabulary import USERNAME
from producers.outcome import CsvRecord, Outcome, Reject, Skip
from producers.readers import open_text, read_lines, read_table
from producers.sources.base import Adapter, NotThisFormat
from producers.times import ISO_DATE_TIME, NOT_BETWEEN, plausible_ms, read_time
from producers.viewings import MAX_SECONDS, Piece, viewing_events

REQUIRED_COLUMNS = ("mediapackageId", "sessionId", "userId", "inpoint", "outpoint", "type", "isPlaying", "created")
OPTIONAL_COLUMNS = ("id", "length", "userIp", "userAgent")
DATABASE_NAMES = {
    "mediapackage": "mediapackageId", "session_id": "sessionId", "user_id": "userId",
    "user_ip": "userIp", "user_agent": "userAgent", "playing": "isPlaying",
}  # fmt: skip
FOOTPRINT = "FOOTPRINT"
OMITTED = "-omitted-"  # what Opencast stores when user, session or IP logging is switched off
ANONYMOUS_USER = "anonymous"

SUMMED = "summed into its viewing"
NOT_FOOTPRINT = "not a FOOTPRINT action"
NOT_PLAYING = "not playing"
NOTHING_WATCHED = "nothing watched"
ANONYMOUS = "anonymous viewer"
NOT_RECORDED = "user not recorded (-omitted-)"

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_TRUE = frozenset({"true", "t", "1"})
_FALSE = frozenset({"false", "f", "0"})


def check_header(cells: Sequence[str]) -> tuple[str, ...]:
    """The canonical field names of a CSV header; ``ValueError`` naming missing or unknown columns."""
    header = tuple(DATABASE_NAMES.get(name, name) for name in (c.strip().lstrip("\ufeff").strip() for c in cells))
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown or len(set(header)) != len(header):
        problem = f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)[:80]}" if unknown else "repeated columns"
        raise ValueError(
            f"not an Opencast user actions CSV ({problem}): expected the columns {', '.join(REQUIRED_COLUMNS)}"
            f" (and optionally {', '.join(OPTIONAL_COLUMNS)})"
        )
    return header


def _text(value: object, name: str) -> str:
    """A non-empty identifier (Opencast's JSON writer may turn a numeric one into a number)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{name} is empty")
    if not isinstance(value, str):
        raise ValueError(f"{name} is not text")
    return value.strip()


def _seconds(value: object, name: str) -> float:
    """Seconds into the recording: a finite number >= 0, written as a number or as text."""
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} {str(value)[:40]!r} is not a number")
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name} {seconds:g} is not a number of seconds >= 0")
    return seconds


def _boolean(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, (str, int)) else ""
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"{name} {str(value)[:40]!r} is not true or false")


def parse_created(value: object, tz: tzinfo) -> int:
    """``created`` in Unix milliseconds: ISO 8601 (no offset: ``tz``) or a JSON number of milliseconds."""
    when: datetime | int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        when = value
    elif isinstance(value, str):
        when = read_time(value.strip(), tz=tz, iso=ISO_DATE_TIME)
    if when is None:
        raise ValueError(f"created {str(value)[:40]!r} is not an ISO 8601 date and time")
    return plausible_ms(when, "created", str(value), NOT_BETWEEN)


@dataclass(frozen=True, slots=True)
class Footprint:
    """One valid playing footprint: who watched which media package in which session, from when, how long."""

    user: str
    mediapackage: str
    session: str
    start_ms: int
    seconds: float


def _session(action: Mapping[str, object]) -> tuple[str, str]:
    """``(sessionId, userId)``, flat or nested in the session object as newer Opencast writes it."""
    session = action.get("sessionId")
    if isinstance(session, Mapping):
        return _text(session.get("sessionId"), "sessionId"), _text(action.get("userId", session.get("userId")), "userId")
    return _text(session, "sessionId"), _text(action.get("userId"), "userId")


def read_action(action: Mapping[str, object], *, tz: tzinfo) -> Footprint | Skip | Reject:
    """One user action to its footprint, or why it is skipped or rejected (module doc)."""
    try:
        mediapackage = _text(action.get("mediapackageId"), "mediapackageId")
        session, user = _session(action)
        inpoint = _seconds(action.get("inpoint"), "inpoint")
        outpoint = _seconds(action.get("outpoint"), "outpoint")
        kind = _text(action.get("type"), "type")
        playing = _boolean(action.get("isPlaying"), "isPlaying")
        created = parse_created(action.get("created"), tz)
        # Only a footprint's points are a stretch watched: a SEEK back has its outpoint first.
        if kind == FOOTPRINT and outpoint < inpoint:
            raise ValueError(f"outpoint {outpoint:g} is before inpoint {inpoint:g}")
        if kind == FOOTPRINT and outpoint - inpoint > MAX_SECONDS:
            raise ValueError(f"outpoint - inpoint ({outpoint - inpoint:g} seconds) is more than a day")
    except ValueError as exc:
        return Reject(str(exc))
    if kind != FOOTPRINT:
        return Skip(NOT_FOOTPRINT)
    if user == OMITTED:
        return Skip(NOT_RECORDED)
    if user.lower() == ANONYMOUS_USER:
        return Skip(ANONYMOUS)
    if not playing:
        return Skip(NOT_PLAYING)
    if outpoint == inpoint:
        return Skip(NOTHING_WATCHED)
    return Footprint(user, mediapackage, session, created, outpoint - inpoint)


def read_csv_action(header: Sequence[str], fields: Sequence[str], *, tz: tzinfo) -> Footprint | Skip | Reject:
    """One CSV row (``header`` from ``check_header``) to its footprint, a skip or a rejection."""
    if len(fields) != len(header):
        return Reject(f"expected {len(header)} columns, found {len(fields)}")
    return read_action(dict(zip(header, fields)), tz=tz)


def read_json_action(text: str, *, tz: tzinfo) -> Footprint | Skip | Reject:
    """One JSON action object (a line, or one action of a response) to its footprint, a skip or a rejection."""
    try:
        action = json.loads(text)
    except json.JSONDecodeError as exc:
        return Reject(f"not JSON: {exc.msg} at column {exc.colno}")
    except (ValueError, RecursionError):  # an integer too long to read, or nesting too deep
        return Reject("not JSON that can be read (number too long or nesting too deep)")
    if not isinstance(action, dict):
        return Reject("not a JSON object")
    return read_action(action, tz=tz)


def _response_records(document: Mapping[str, object], raw: str) -> Iterator[CsvRecord]:
    """The actions of a saved ``actions.json`` response, one record each (``action N``)."""
    actions = document["actions"]
    if isinstance(actions, Mapping):
        actions = actions.get("action", [])
    if isinstance(actions, Mapping):  # one action: written as an object, not a list of one
        actions = [actions]
    if not isinstance(actions, list):
        yield CsvRecord(1, raw[:10_000], None, "actions.json: 'actions' holds no list of actions", unit="document")
        return
    for number, action in enumerate(actions, start=1):
        yield CsvRecord(number, json.dumps(action, ensure_ascii=False) + "\n", None, unit="action")


def _is_action_line(line: str) -> bool:
    """Whether a file's first line is a whole JSON object other than a response (so the file is JSON lines)."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and "actions" not in value


class Opencast(Adapter):
    """Opencast user tracking actions, CSV or JSON: footprints summed per viewing (module doc)."""

    name = "opencast"
    source = "lecture_capture"
    identity = USERNAME
    summary = "Opencast user tracking actions (CSV with the action fields and userId, or actions.json / JSON lines): footprints summed per viewing"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.site = self.options.site or "opencast"
        self._header: tuple[str, ...] | None = None
        self._started = False
        self._footprints: list[Piece] = []

    @contextmanager
    def records(self, path: Path) -> Iterator[Iterator[CsvRecord]]:
        """A table; or, when the file starts with ``{``, a saved ``actions.json`` response or JSON lines."""
        with open_text(path, self.options.encoding) as stream:
            head = stream.read(4096).lstrip()
            stream.seek(0)
            if not head.startswith("{"):
                yield read_table(stream)
                return
            if _is_action_line(head.split("\n", 1)[0]):  # JSON lines: no need to read it all first
                yield read_lines(stream)
                return
            text = stream.read()
            try:
                document = json.loads(text)
            except (ValueError, RecursionError):  # not JSON, or a number too long to read
                document = None
            if isinstance(document, dict) and "actions" in document:
                yield _response_records(document, text)
            else:
                stream.seek(0)
                yield read_lines(stream)

    def start(self, first: CsvRecord) -> bool:
        """A CSV must start with the action header; JSON's first action must look like one."""
        self._started = True
        if first.fields is not None:
            try:
                self._header = check_header(first.fields)
            except ValueError as exc:
                raise NotThisFormat(str(exc)) from None
            self.label = "opencast actions (CSV)"
            return True
        try:
            action = json.loads(first.raw)
        except (ValueError, RecursionError):  # not JSON, or a number too long to read
            action = None
        if not isinstance(action, dict) or not {"mediapackageId", "type", "inpoint", "outpoint"} <= action.keys():
            raise NotThisFormat("not Opencast user actions: expected JSON action objects with mediapackageId, type, inpoint and outpoint")
        self.label = "opencast actions (JSON)"
        return False

    def parse(self, record: CsvRecord) -> Outcome:
        """A footprint held for its viewing (a skip); any other action skipped or rejected."""
        if not self._started:
            raise RuntimeError("Opencast.parse before start")
        if self._header is not None:
            footprint = read_csv_action(self._header, record.fields or [], tz=self.options.tz)
        else:
            footprint = read_json_action(record.raw, tz=self.options.tz)
        if not isinstance(footprint, Footprint):
            return footprint
        key = (footprint.user, footprint.mediapackage, footprint.session)
        self._footprints.append(Piece(key, footprint.start_ms, footprint.seconds, record))
        return Skip(SUMMED)

    def finish(self) -> Iterable[tuple[CsvRecord, Outcome]]:
        """One ``viewed`` event per viewing of the footprints read."""
        return viewing_events(self._footprints, reference=f"opencast:{self.site}:footprints", identity=USERNAME, file_name=self.file_name, noun="footprint")


__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "Footprint",
    "Opencast",
    "check_header",
    "parse_created",
    "read_action",
    "read_csv_action",
    "read_json_action",
]
