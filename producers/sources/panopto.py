"""Panopto (lecture capture, "Listen Again" at Essex): viewing data into minutes-watched events.

Two shapes are accepted, told apart by the header (``detect_format``); both need it.

UsageReporting API detailed usage items (CSV)
    What ``GetSessionDetailedUsage`` / ``GetUserDetailedUsage`` return, written to CSV with
    the API's field names: ``Time, UserId, SessionId, SecondsViewed, StartPosition``, or the
    extended items that add ``PlaybackSpeed, StartReason, StopReason`` (columns in any
    order). ``Time`` is ISO 8601 (``2018-11-15T01:44:52Z``; a fraction of any length; a time
    without an offset is UTC, as the API's are). One viewing produces an item for every
    start, seek, pause and speed change, so items are summed, not counted: each item is
    *skipped* as "summed into its viewing" and, at the end of the file, each viewing
    (``producers.viewings``: one user's items of one session, in time order, split at a gap
    of 30 minutes or more after the previous item's end ``Time + SecondsViewed``, and
    before it would pass a day of watching) becomes one ``viewed`` event: ``quantity`` its
    total seconds / 60, ``event_time`` its first item's time, the person the ``UserId``
    GUID (``panopto_user_id``), ``object_ref`` the ``SessionId``, no course (items do not
    name the folder). It stands for a record at its first item's line holding every item's
    line, so a dead letter or audit shows what was summed. ``SecondsViewed`` is taken as
    Panopto reports it, whatever the ``PlaybackSpeed``; ``StartReason``/``StopReason`` are
    not checked (Panopto adds values).

The viewing export (tab-separated)
    ``TIMESTAMP USER_ID USERNAME EMAIL SESSION_ID SESSION_NAME OBJECT_ID FOLDER_NAME
    MINUTES_WATCHED VIEWING_TYPE``: one row is one viewing, so one row is one ``viewed``
    event with ``quantity`` MINUTES_WATCHED (fractional), ``course`` FOLDER_NAME and
    ``object_ref`` SESSION_ID. ``TIMESTAMP`` is US-style 12-hour local time
    (``11/15/2018 1:44:52 AM``, seconds optional) in ``--tz``. The person is the USERNAME
    (``username``, what universities map best), with an identity provider's prefix removed
    (``Essex-Moodle\\ab12345`` is ``ab12345``); without one the EMAIL (``email``), else the
    USER_ID GUID (``panopto_user_id``). The export has no row id: the event id is made of the
    user, session and time, so the same viewing re-exported keeps its id.

Skipped (well-formed, not a student's viewing): usage items themselves ("summed into its
viewing"; a viewing of 0 seconds then makes no event); an item repeated exactly (same time,
user, session, seconds and position: overlapping API pages) as "duplicate usage item"; an
anonymous viewer (no user, or the all-zero GUID; in the export no username, email or user
id); an export row with 0 minutes ("nothing watched").

Rejected (dead-letter): a wrong number of fields; a time that is not in the format or not
between 2000 and 2099; a ``SessionId``/``UserId`` (or ``SESSION_ID``/``USER_ID``) that is not
a GUID; ``SecondsViewed``/``StartPosition``/``PlaybackSpeed``/``MINUTES_WATCHED`` not a
number, negative, or more than a day (``PlaybackSpeed`` also 0); an EMAIL without ``@``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timezone, tzinfo

from leap.vocabulary import EMAIL, PANOPTO_USER_ID, USERNAME
from producers.outcome import CsvRecord, Outcome, Reject, Skip, activity
from producers.sources.base import Adapter, NotThisFormat
from producers.times import ISO_DATE_TIME, NOT_BETWEEN, US_12_HOUR, parse_time
from producers.viewings import MAX_SECONDS, Piece, viewing_events

USAGE_COLUMNS = ("Time", "UserId", "SessionId", "SecondsViewed", "StartPosition")
EXTENDED_COLUMNS = (*USAGE_COLUMNS, "PlaybackSpeed", "StartReason", "StopReason")
EXPORT_COLUMNS = (
    "TIMESTAMP", "USER_ID", "USERNAME", "EMAIL", "SESSION_ID", "SESSION_NAME", "OBJECT_ID",
    "FOLDER_NAME", "MINUTES_WATCHED", "VIEWING_TYPE",
)  # fmt: skip
USAGE_ITEMS = "usage_items"
VIEWING_EXPORT = "viewing_export"
EXPORT_TIME_FORMATS = US_12_HOUR
NIL_GUID = "00000000-0000-0000-0000-000000000000"
MAX_MINUTES = MAX_SECONDS / 60

SUMMED = "summed into its viewing"
DUPLICATE = "duplicate usage item"
ANONYMOUS = "anonymous viewer"
NOTHING_WATCHED = "nothing watched"

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def detect_format(cells: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """Which Panopto file this is, from its header: ``(format, column names)``; ``ValueError`` if neither."""
    header = tuple(cell.strip().lstrip("\ufeff").strip() for cell in cells)
    if len(set(header)) == len(header):
        if set(header) in (set(USAGE_COLUMNS), set(EXTENDED_COLUMNS)):
            return USAGE_ITEMS, header
        if set(header) == set(EXPORT_COLUMNS):
            return VIEWING_EXPORT, header
    raise ValueError(
        f"not a Panopto export: expected the detailed usage header ({', '.join(USAGE_COLUMNS)}"
        f"[, {', '.join(EXTENDED_COLUMNS[len(USAGE_COLUMNS):])}]) or the viewing export's "
        f"({', '.join(EXPORT_COLUMNS[:3])}, ...); first row has {len(header)} fields"
    )


def _number(value: str, column: str, limit: float) -> float:
    """A non-negative finite number no more than ``limit``; ``ValueError`` naming the column."""
    if not _NUMBER.match(value):
        raise ValueError(f"{column} {value[:40]!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{column} {value[:40]!r} is not a finite number")
    if number < 0:
        raise ValueError(f"{column} {number:g} is negative")
    if number > limit:
        raise ValueError(f"{column} {number:g} is more than a day")
    return number


def _guid(value: str, column: str) -> str:
    """A GUID, lower-cased (Panopto writes them in either case)."""
    if not _GUID.match(value):
        raise ValueError(f"{column} {value[:40]!r} is not a GUID")
    return value.lower()


def parse_usage_time(text: str) -> int:
    """A usage item's ``Time`` (ISO 8601; no offset means UTC) in Unix milliseconds."""
    return parse_time(text, column="Time", tz=timezone.utc, iso=ISO_DATE_TIME, unreadable="is not an ISO 8601 date and time", implausible=NOT_BETWEEN)


def parse_export_time(text: str, tz: tzinfo) -> int:
    """A viewing export's ``TIMESTAMP`` (``11/15/2018 1:44:52 AM`` in ``tz``) in Unix milliseconds."""
    return parse_time(
        text, column="TIMESTAMP", tz=tz, iso=None, formats=EXPORT_TIME_FORMATS, implausible=NOT_BETWEEN,
        unreadable="is not a US date and 12-hour time (11/15/2018 1:44:52 AM)",
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class UsageItem:
    """One valid detailed usage item: who watched which session, from when, for how many seconds, from where."""

    user: str
    session: str
    start_ms: int
    seconds: float
    position: float


def read_usage_item(header: Sequence[str], fields: Sequence[str]) -> UsageItem | Skip | Reject:
    """One detailed usage row to its item, or why it is skipped or rejected (module doc)."""
    if len(fields) != len(header):
        return Reject(f"expected {len(header)} columns, found {len(fields)}")
    row = {name: value.strip() for name, value in zip(header, fields)}
    try:
        start_ms = parse_usage_time(row["Time"])
        user = _guid(row["UserId"], "UserId") if row["UserId"] else ""
        session = _guid(row["SessionId"], "SessionId")
        seconds = _number(row["SecondsViewed"], "SecondsViewed", MAX_SECONDS)
        position = _number(row["StartPosition"], "StartPosition", math.inf)
        if row.get("PlaybackSpeed"):
            if _number(row["PlaybackSpeed"], "PlaybackSpeed", math.inf) == 0:
                raise ValueError("PlaybackSpeed 0 is not a speed")
    except ValueError as exc:
        return Reject(str(exc))
    if user in ("", NIL_GUID):
        return Skip(ANONYMOUS)
    return UsageItem(user, session, start_ms, seconds, position)


def _login(username: str) -> str:
    """A Panopto username without its identity provider's prefix (``Essex-Moodle\\ab12345`` is ``ab12345``)."""
    return username.rsplit("\\", 1)[-1].strip()


def parse_viewing_row(header: Sequence[str], fields: Sequence[str], *, site: str, tz: tzinfo, position: str) -> Outcome:
    """One viewing export row to a ``viewed`` event, a skip or a rejection (module doc)."""
    if len(fields) != len(header):
        return Reject(f"expected {len(header)} columns, found {len(fields)}")
    row = {name: value.strip() for name, value in zip(header, fields)}
    try:
        when = parse_export_time(row["TIMESTAMP"], tz)
        user_id = _guid(row["USER_ID"], "USER_ID") if row["USER_ID"] else ""
        session = _guid(row["SESSION_ID"], "SESSION_ID")
        minutes = _number(row["MINUTES_WATCHED"], "MINUTES_WATCHED", MAX_MINUTES)
        if row["EMAIL"] and "@" not in row["EMAIL"]:
            raise ValueError(f"EMAIL {row['EMAIL'][:60]!r} is not an email address")
    except ValueError as exc:
        return Reject(str(exc))
    username = _login(row["USERNAME"])
    if username:
        person, identity = username, USERNAME
    elif row["EMAIL"]:
        person, identity = row["EMAIL"], EMAIL
    elif user_id and user_id != NIL_GUID:
        person, identity = user_id, PANOPTO_USER_ID
    else:
        return Skip(ANONYMOUS)
    if minutes == 0:
        return Skip(NOTHING_WATCHED)
    # USER_ID when present, so a username renamed between exports keeps the viewing's id.
    who = user_id if user_id and user_id != NIL_GUID else f"{identity}={person.lower()}"
    return activity(
        reference=f"panopto:{site}:viewing:{who}:{session}:{when}",
        student_id=person,
        identity=identity,
        source="lecture_capture",
        action="viewed",
        event_time_ms=when,
        course=row["FOLDER_NAME"] or None,
        object_ref=session,
        quantity=minutes,
        source_ref=position,
    )


class Panopto(Adapter):
    """Panopto viewings: detailed usage items (summed per viewing) or the viewing export (module doc)."""

    name = "panopto"
    source = "lecture_capture"
    identity = USERNAME
    summary = "Panopto: UsageReporting detailed usage items (CSV, summed per viewing) or the viewing export (tab-separated)"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.site = self.options.site or "panopto"
        self._format: str | None = None
        self._header: tuple[str, ...] = ()
        self._items: list[Piece] = []
        self._seen: set[UsageItem] = set()

    def start(self, first: CsvRecord) -> bool:
        """Tell the usage items from the viewing export by the header."""
        try:
            self._format, self._header = detect_format(first.fields or [])
        except ValueError as exc:
            raise NotThisFormat(str(exc)) from None
        self.label = f"panopto {self._format}"
        return True

    def parse(self, record: CsvRecord) -> Outcome:
        """An export row to its event; a usage item held for its viewing (a skip) or rejected."""
        if self._format is None:
            raise RuntimeError("Panopto.parse before start")
        fields = record.fields or []
        if self._format == VIEWING_EXPORT:
            return parse_viewing_row(self._header, fields, site=self.site, tz=self.options.tz, position=f"{self.file_name}:{record.line}")
        item = read_usage_item(self._header, fields)
        if not isinstance(item, UsageItem):
            return item
        if item in self._seen:
            return Skip(DUPLICATE)
        self._seen.add(item)
        self._items.append(Piece((item.user, item.session), item.start_ms, item.seconds, record))
        return Skip(SUMMED)

    def finish(self) -> Iterable[tuple[CsvRecord, Outcome]]:
        """One ``viewed`` event per viewing of the usage items read (none for 0 seconds watched)."""
        return viewing_events(self._items, reference=f"panopto:{self.site}:usage", identity=PANOPTO_USER_ID, file_name=self.file_name, noun="usage item")


__all__ = [
    "EXPORT_COLUMNS",
    "EXTENDED_COLUMNS",
    "USAGE_COLUMNS",
    "Panopto",
    "UsageItem",
    "detect_format",
    "parse_export_time",
    "parse_usage_time",
    "parse_viewing_row",
    "read_usage_item",
]
