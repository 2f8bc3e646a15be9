"""Library loans and gate entries, as the Jisc learning-records TSVs (universal xAPI translator inputs).

Two files, told apart by their header row (column order free, names as Jisc writes them,
upper case; other columns such as ``HOMEPAGE``, ``OCLC_NUMBER`` or ``SUBJECT_AREA`` are
allowed and ignored). Tab-separated as Jisc specifies; a comma-separated copy is read too.

Loans (``borrowing.tsv``)
    ``USERNAME ITEM_ID ITEM_NAME ITEM_SUBTYPE BORROWING_SITE TIMESTAMP``. Every row is a loan:
    source ``library``, action ``borrowed``, ``object_ref`` the item id (the item name when
    the id is empty). The event id comes from the site, user, item and time.

Gate access
    ``USERNAME TIMESTAMP TYPE SITE ACCESS_ID DIRECTION_OF_ACCESS``. Only entering counts:
    action ``entered``, ``object_ref`` the library site. ``DIRECTION_OF_ACCESS`` (any case)
    ``in``, ``entry``, ``enter``, ``entered``, ``ingress`` or ``1`` is an entry; ``out``,
    ``exit``, ``exited``, ``egress``, ``leave``, ``0`` or ``2`` is leaving and is skipped
    (``leaving the library``); an empty direction is taken as an entry, since gates that
    record one direction record entries. A ``TYPE`` saying the gate refused the person
    (containing ``denied``, ``refused`` or ``rejected``) is skipped (``access denied``). The
    event id comes from ``ACCESS_ID`` (the gate system's own id) when present, else from the
    site, user, time and direction.

``TIMESTAMP`` is ISO 8601 (Jisc's format) with or without an offset, ``YYYY-MM-DD
HH:MM:SS``, or a bare date (Jisc's own samples write loans as ``2020-09-19``: midnight);
times without an offset are local (``Options.tz``). Users are the library system's user
names (identity ``username``), resolved to students by the identity map.

A row is *rejected* when it has fewer fields than the header, ``USERNAME`` is empty or
longer than 256 characters, ``TIMESTAMP`` is not one of those forms or outside 2000-2099,
a loan has neither ``ITEM_ID`` nor ``ITEM_NAME``, or ``DIRECTION_OF_ACCESS`` is none of the
values above.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import tzinfo

from leap.vocabulary import USERNAME
from producers.outcome import CsvRecord, Outcome, Reject, Skip, activity
from producers.sources.base import Adapter, NotThisFormat
from producers.times import ISO_YEAR_FIRST, OUTSIDE, parse_time

LOANS_COLUMNS = ("USERNAME", "ITEM_ID", "ITEM_NAME", "ITEM_SUBTYPE", "BORROWING_SITE", "TIMESTAMP")
GATE_COLUMNS = ("USERNAME", "TIMESTAMP", "TYPE", "SITE", "ACCESS_ID", "DIRECTION_OF_ACCESS")
LOANS = "loans"
GATE = "gate"
ENTERING = frozenset({"in", "entry", "enter", "entered", "ingress", "1", ""})
LEAVING = frozenset({"out", "exit", "exited", "egress", "leave", "0", "2"})
DENIED_WORDS = ("denied", "refused", "rejected")
MAX_TEXT = 256


def detect_format(cells: Sequence[str]) -> tuple[str, dict[str, int]]:
    """Which file a header is (``loans`` or ``gate``) and where its columns are; ``ValueError`` otherwise."""
    names = [cell.strip().lstrip("\ufeff").upper() for cell in cells]
    index = {name: i for i, name in reversed(list(enumerate(names)))}
    loans, gate = set(LOANS_COLUMNS) <= set(index), set(GATE_COLUMNS) <= set(index)
    if loans != gate:
        return (LOANS, index) if loans else (GATE, index)
    raise ValueError(
        "not a Jisc library file: expected the loans header "
        f"({' '.join(LOANS_COLUMNS)}) or the gate access header ({' '.join(GATE_COLUMNS)})"
    )


def parse_timestamp(text: str, tz: tzinfo) -> int:
    """A ``TIMESTAMP`` (ISO 8601, ``YYYY-MM-DD HH:MM:SS`` or a date) to UTC ms; no offset means ``tz``."""
    return parse_time(
        text, column="TIMESTAMP", tz=tz, iso=ISO_YEAR_FIRST, implausible=OUTSIDE, exact=False,
        unreadable="is not ISO 8601 (YYYY-MM-DDTHH:MM:SS, optional offset)",
    )  # fmt: skip


def _username(row: Mapping[str, str]) -> str:
    user = row["USERNAME"].strip()
    if not user:
        raise ValueError("USERNAME is empty")
    if len(user) > MAX_TEXT:
        raise ValueError(f"USERNAME is longer than {MAX_TEXT} characters")
    return user


def _row(columns: Mapping[str, int], fields: Sequence[str]) -> dict[str, str]:
    width = max(columns.values()) + 1
    if len(fields) < width:
        raise ValueError(f"{len(fields)} fields, too few for the header ({width} needed)")
    return {name: fields[i] for name, i in columns.items()}


def parse_loan_row(columns: Mapping[str, int], fields: Sequence[str], *, site: str, tz: tzinfo, position: str) -> Outcome:
    """One loans row to a ``borrowed`` event or a rejection (module doc)."""
    try:
        row = _row(columns, fields)
        user = _username(row)
        when = parse_timestamp(row["TIMESTAMP"], tz)
        item = (row["ITEM_ID"].strip() or row["ITEM_NAME"].strip())[:MAX_TEXT]
        if not item:
            raise ValueError("ITEM_ID and ITEM_NAME are both empty")
    except ValueError as exc:
        return Reject(str(exc))
    return activity(
        reference=f"jisc-library:{site}:loan:{user.casefold()}:{item}:{when}",
        student_id=user,
        identity=USERNAME,
        source="library",
        action="borrowed",
        event_time_ms=when,
        object_ref=item,
        source_ref=position,
    )


def parse_gate_row(columns: Mapping[str, int], fields: Sequence[str], *, site: str, tz: tzinfo, position: str) -> Outcome:
    """One gate access row to an ``entered`` event, a skip or a rejection (module doc)."""
    try:
        row = _row(columns, fields)
        user = _username(row)
        when = parse_timestamp(row["TIMESTAMP"], tz)
        direction = row["DIRECTION_OF_ACCESS"].strip().lower()
        if direction not in ENTERING and direction not in LEAVING:
            raise ValueError(f"DIRECTION_OF_ACCESS {direction[:20]!r} is neither in/entry/1 nor out/exit/0")
    except ValueError as exc:
        return Reject(str(exc))
    if any(word in row["TYPE"].lower() for word in DENIED_WORDS):
        return Skip("access denied")
    if direction in LEAVING:
        return Skip("leaving the library")
    library = row["SITE"].strip()[:MAX_TEXT]
    access_id = row["ACCESS_ID"].strip()[:MAX_TEXT]
    reference = f"jisc-library:{site}:gate:{access_id}" if access_id else f"jisc-library:{site}:gate:{user.casefold()}:{library}:{when}:{direction}"
    return activity(
        reference=reference,
        student_id=user,
        identity=USERNAME,
        source="library",
        action="entered",
        event_time_ms=when,
        object_ref=library or None,
        source_ref=f"{position} (ACCESS_ID {access_id})" if access_id else position,
    )


class JiscLibrary(Adapter):
    """Jisc library loans or gate access TSV (module doc)."""

    name = "jisc-library"
    source = "library"
    identity = USERNAME
    summary = "library loans and gate entries as the Jisc learning-records TSVs (borrowing, gate access)"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.site = self.options.site or self.name
        self._format: str | None = None
        self._columns: dict[str, int] = {}

    def start(self, first: CsvRecord) -> bool:
        """Tell loans from gate access by the header."""
        try:
            self._format, self._columns = detect_format(first.fields or [])
        except ValueError as exc:
            raise NotThisFormat(str(exc)) from None
        self.label = f"jisc-library ({self._format})"
        return True

    def parse(self, record: CsvRecord) -> Outcome:
        """One row to an event, a skip or a rejection."""
        if self._format is None:
            raise RuntimeError("JiscLibrary.parse before start")
        parse = parse_loan_row if self._format == LOANS else parse_gate_row
        return parse(self._columns, record.fields or [], site=self.site, tz=self.options.tz, position=f"{self.file_name}:{record.line}")
