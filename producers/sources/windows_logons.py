"""Windows logons: Security event 4624 ("An account was successfully logged on") exports.

Two shapes are accepted, told apart by the file's first character (``<`` is XML):

``wevtutil`` XML
    What ``wevtutil qe Security /q:"*[System[(EventID=4624)]]" /f:xml`` writes: a sequence of
    ``<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">`` elements, usually
    without a root element (Event Viewer's "Save as XML" wraps them in ``<Events>``; both are
    read). Each element is read on its own: ``System/EventID``, ``TimeCreated/@SystemTime``
    (UTC), ``Computer``, ``EventRecordID`` and ``EventData/Data[@Name]`` (``TargetUserName``,
    ``TargetDomainName``, ``LogonType``, ``WorkstationName``). An element that is not
    well-formed is rejected alone; text outside the elements is an unreadable record. A DTD or
    entity declaration is refused and never reaches the parser: an export cannot expand entities.

CSV
    A header naming an event id column (``Event ID``, ``EventID``, ``EventCode``, or
    PowerShell's ``Id`` beside ``ProviderName``/``LogName``) and a time column (``Date and
    Time``, ``TimeCreated``, ``TimeGenerated``, ``Time``), plus either the flattened logon
    columns (``Account Name``, ``Account Domain``, ``Logon Type``, ``Workstation Name``,
    ``Computer``/``MachineName``, ``RecordId``/``Record ID``; spacing, case and underscores
    do not matter, ``TargetUserName`` style names too) or a ``Message`` column holding the
    rendered event text. When ``Account Name`` appears twice, the second is the New Logon
    account (the first is the Subject, as in the message). Event Viewer's "Save as CSV"
    (``Keywords``/``Level``, ``Date and Time``, ``Source``, ``Event ID``, ``Task Category``)
    writes the message as an unnamed sixth field; it is read too. In a message the person is
    the ``Account Name`` of the "New Logon" block; the "Subject" block's is the machine
    (``WS-LAB01$``). PowerShell's ``#TYPE ...`` first line (``Export-Csv`` on 5.1) is skipped.
    Times without an offset are local (``Options.tz``). ISO 8601 is read first; otherwise a
    24-hour time is day-first (``20/11/2026 09:01:02``, en-GB) and a time with AM/PM is
    month-first (``11/20/2026 9:01:02 AM``, en-US), unless ``Options.time_formats`` are given.

Rules (in this order):

1. only event 4624 is a logon: any other is skipped as ``not a logon (event N)``;
2. the account must be a person: machine accounts (ending ``$``), ``ANONYMOUS LOGON`` and
   built-in accounts (``SYSTEM``, ``LOCAL SERVICE``, ``NETWORK SERVICE``, ``DWM-n``,
   ``UMFD-n``, the ``NT AUTHORITY``/``NT SERVICE``/``Window Manager``/``Font Driver Host``
   domains) are skipped;
3. only a new interactive session counts: logon types 2 (interactive), 10 (remote
   interactive), 11 (cached interactive) and 12 (cached remote interactive). Network (3),
   batch (4), service (5), network cleartext (8), new credentials (9) and system (0) logons
   are skipped by name and type; unlock (7) and cached unlock (13) are skipped too: they
   reopen a session that was already counted when it began.

A logon is published as source ``logins``, action ``logged_in``, for the Windows account
(identity ``windows_account``: the identity map drops any ``DOMAIN\\`` prefix and case).
``object_ref`` is the computer logged on to (``Computer``/``MachineName``), or the workstation
name when the export has no computer column. The event id comes from the computer and its
``EventRecordID`` when the export has one, else from the computer, time, account and logon
type. A record is *rejected* when its event id or record id is not a number, its time is
unreadable or outside 2000-2099, its account is empty, or its logon type is not one of
Windows' (0, 2-5, 7-13, or their names such as ``RemoteInteractive``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timezone, tzinfo
from pathlib import Path
from typing import IO

from leap.vocabulary import WINDOWS_ACCOUNT
from producers import times
from producers.outcome import CsvRecord, Outcome, Reject, Skip, activity
from producers.readers import NOT_UTF8, open_text, read_table
from producers.sources.base import Adapter, NotThisFormat

EVENTS_NS = "http://schemas.microsoft.com/win/2004/08/events/event"
LOGON_EVENT = 4624
INTERACTIVE = {2: "interactive", 10: "remote interactive", 11: "cached interactive", 12: "cached remote interactive"}
NOT_A_NEW_LOGIN = {
    0: "system logon", 3: "network logon", 4: "batch logon", 5: "service logon", 7: "unlock",
    8: "network cleartext logon", 9: "new credentials logon", 13: "cached unlock",
}  # fmt: skip
LOGON_TYPE_NAMES = {
    "system": 0, "interactive": 2, "network": 3, "batch": 4, "service": 5, "unlock": 7,
    "networkcleartext": 8, "newcredentials": 9, "remoteinteractive": 10, "cachedinteractive": 11,
    "cachedremoteinteractive": 12, "cachedunlock": 13,
}  # fmt: skip
BUILTIN_ACCOUNTS = frozenset({"SYSTEM", "LOCAL SERVICE", "NETWORK SERVICE", "LOCALSERVICE", "NETWORKSERVICE"})
BUILTIN_DOMAINS = frozenset({"NT AUTHORITY", "NT SERVICE", "WINDOW MANAGER", "FONT DRIVER HOST"})
# Event Viewer and PowerShell write the exporting machine's locale: en-GB day first, en-US month first with AM/PM.
DEFAULT_TIME_FORMATS = (*times.DAY_FIRST, *times.US_12_HOUR)
MAX_TEXT = 256

# CSV column names, normalised (lower case, letters and digits only), by what they hold.
ALIASES: dict[str, tuple[str, ...]] = {
    "event_id": ("eventid", "eventcode"),
    "time": ("dateandtime", "timecreated", "timegenerated", "datetime", "time"),
    "account": ("accountname", "targetusername", "targetaccountname"),
    "domain": ("accountdomain", "targetdomainname", "targetaccountdomain"),
    "logon_type": ("logontype",),
    "workstation": ("workstationname", "workstation"),
    "computer": ("computer", "computername", "machinename"),
    "record_id": ("recordid", "eventrecordid", "recordnumber"),
    "message": ("message",),
}
LAST_WINS = frozenset({"account", "domain"})  # Subject first, New Logon second
EVENT_VIEWER = ("dateandtime", "source", "eventid", "taskcategory")  # after Level or Keywords
_START = re.compile(r"<Event[\s>/]")
_END = "</Event>"
_OUTSIDE = re.compile(r"<\?xml[^>]*\?>|</?Events\s*>|<!--.*?-->", re.S)
_FIELD = re.compile(r"^\s+([A-Za-z][A-Za-z ()]*?):\s*(.*?)\s*$")
_TYPE_NUMBER = re.compile(r"^\s*(\d{1,3})\b")


def _norm(cell: str) -> str:
    return re.sub(r"[^a-z0-9]", "", cell.strip().lstrip("\ufeff").lower())


# ------------------------------------------------------------------ rules shared by both shapes


def logon_type(text: str) -> int:
    """A logon type written as a number (``10``, ``2 (Interactive)``) or a name (``RemoteInteractive``)."""
    match = _TYPE_NUMBER.match(text)
    number = int(match.group(1)) if match else LOGON_TYPE_NAMES.get(re.sub(r"[^a-z]", "", text.lower()))
    if number is None or (number not in INTERACTIVE and number not in NOT_A_NEW_LOGIN):
        raise ValueError(f"Logon Type {text.strip()[:30]!r} is not a Windows logon type")
    return number


def account_skip(account: str, domain: str = "") -> str | None:
    """Why an account is not a person, or ``None`` when it may be one."""
    name = account.strip().rpartition("\\")[2].upper()
    if name.endswith("$"):
        return "machine account"
    if name == "ANONYMOUS LOGON":
        return "anonymous logon"
    if name in BUILTIN_ACCOUNTS or name.startswith(("DWM-", "UMFD-")) or domain.strip().upper() in BUILTIN_DOMAINS:
        return "built-in system account"
    return None


def _present(value: str | None) -> str:
    value = (value or "").strip()
    return "" if value == "-" else value


def parse_logon(values: Mapping[str, str], read_time: Callable[[str], int], *, site: str, position: str) -> Outcome:
    """One logon's values (keys as ``ALIASES``) to an event, a skip or a rejection (module doc)."""
    code = values.get("event_id", "").strip()
    if not (code.isascii() and code.isdigit() and len(code) <= 6):
        return Reject(f"Event ID {code[:20]!r} is not a number")
    if int(code) != LOGON_EVENT:
        return Skip(f"not a logon (event {int(code)})")
    try:
        when = read_time(values.get("time", ""))
        account, domain = _present(values.get("account")), _present(values.get("domain"))
        if not account:
            raise ValueError("Account Name (TargetUserName) is empty")
        if len(account) > MAX_TEXT:
            raise ValueError(f"Account Name is longer than {MAX_TEXT} characters")
        kind = logon_type(values.get("logon_type", ""))
        record_id = _present(values.get("record_id"))
        if record_id and not (record_id.isascii() and record_id.isdigit() and len(record_id) <= 20):
            raise ValueError(f"EventRecordID {record_id[:20]!r} is not a number")
    except ValueError as exc:
        return Reject(str(exc))
    if reason := account_skip(account, domain):
        return Skip(reason)
    if kind not in INTERACTIVE:
        return Skip(f"{NOT_A_NEW_LOGIN[kind]} (type {kind})")
    machine = (_present(values.get("computer")) or _present(values.get("workstation")))[:MAX_TEXT]
    if record_id:
        reference = f"windows-logons:{site}:{machine.lower()}:record:{int(record_id)}"
        source_ref = f"{machine or position}:Security:EventRecordID={int(record_id)}"
    else:
        reference = f"windows-logons:{site}:{machine.lower()}:{when}:{account.lower()}:{kind}"
        source_ref = position
    return activity(
        reference=reference,
        student_id=account,
        identity=WINDOWS_ACCOUNT,
        source="logins",
        action="logged_in",
        event_time_ms=when,
        object_ref=machine or None,
        source_ref=source_ref,
    )


def system_time(text: str) -> int:
    """``TimeCreated/@SystemTime`` (ISO 8601, UTC; ``Z`` or an offset) to UTC milliseconds."""
    value = text.strip()
    stamp = times.read_time(value, tz=timezone.utc, iso=times.ISO_ANY)
    if stamp is None:
        raise ValueError(f"SystemTime {value[:40]!r} is not ISO 8601")
    return times.plausible_ms(stamp, "time", value, times.OUTSIDE, exact=False)


def local_time(text: str, tz: tzinfo, formats: Sequence[str] = DEFAULT_TIME_FORMATS) -> int:
    """A CSV time cell to UTC milliseconds: ISO 8601 first, then ``formats``; no offset means ``tz``."""
    return times.parse_time(
        text, column="time", tz=tz, iso=times.ISO_ANY, formats=formats, implausible=times.OUTSIDE, exact=False,
        unreadable=f"is neither ISO 8601 nor one of {', '.join(formats)}",
    )  # fmt: skip


# ------------------------------------------------------------------ wevtutil XML


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    if element is None:
        return None
    return next((c for c in element if _local(c.tag) == name), None)


def xml_values(text: str) -> dict[str, str]:
    """The logon values of one ``<Event>`` element; ``ValueError`` when it cannot be read."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ValueError("a DTD or entity declaration is refused in an event export")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"<Event> is not well-formed XML ({exc})") from None
    except (UnicodeError, ValueError):
        raise ValueError(NOT_UTF8) from None
    if _local(root.tag) != "Event":
        raise ValueError(f"expected an <Event> element, found <{_local(root.tag)[:40]}>")
    system = _child(root, "System")
    if system is None:
        raise ValueError("<Event> has no <System> element")
    created = _child(system, "TimeCreated")
    values = {
        "event_id": (getattr(_child(system, "EventID"), "text", None) or ""),
        "time": created.get("SystemTime", "") if created is not None else "",
        "computer": (getattr(_child(system, "Computer"), "text", None) or ""),
        "record_id": (getattr(_child(system, "EventRecordID"), "text", None) or ""),
    }
    event_data = _child(root, "EventData")
    items = list(event_data) if event_data is not None else []
    data = {d.get("Name", ""): d.text or "" for d in items if _local(d.tag) == "Data"}
    values.update(
        account=data.get("TargetUserName", ""), domain=data.get("TargetDomainName", ""),
        logon_type=data.get("LogonType", ""), workstation=data.get("WorkstationName", ""),
    )  # fmt: skip
    return values


def parse_event_xml(text: str, *, site: str, position: str) -> Outcome:
    """One wevtutil ``<Event>`` element to an event, a skip or a rejection."""
    try:
        values = xml_values(text)
    except ValueError as exc:
        return Reject(str(exc)[:300])
    return parse_logon(values, system_time, site=site, position=position)


def read_events_xml(stream: IO[str]) -> Iterator[CsvRecord]:
    """Each ``<Event>`` element of a wevtutil export as a record (its first line, its exact text).

    Elements are found by their tags, not by parsing the whole file, so a broken element is one
    bad record. Text outside them (but the XML declaration and ``<Events>``) is an error record,
    as is an element not closed before the next one starts.
    """
    parts: list[str] | None = None
    first_line = 0
    for number, line in enumerate(stream, start=1):
        rest, fresh = line, False
        while rest:
            if parts is None:
                match = _START.search(rest)
                gap = rest if match is None else rest[: match.start()]
                if junk := _OUTSIDE.sub("", gap).strip():
                    refused = "<!DOCTYPE" in junk or "<!ENTITY" in junk
                    yield CsvRecord(number, gap, None, "a DTD or entity declaration is refused" if refused else "text outside an <Event> element")
                if match is None:
                    break
                parts, first_line, rest, fresh = [], number, rest[match.start() :], True
            end = rest.find(_END)
            following = _START.search(rest, 1 if fresh else 0)
            fresh = False
            if following is not None and (end < 0 or following.start() < end):
                parts.append(rest[: following.start()])
                yield CsvRecord(first_line, "".join(parts), None, "unclosed <Event> element")
                parts, rest = None, rest[following.start() :]
            elif end < 0:
                parts.append(rest)
                break
            else:
                parts.append(rest[: end + len(_END)])
                yield CsvRecord(first_line, "".join(parts), None)
                parts, rest = None, rest[end + len(_END) :]
    if parts is not None:
        yield CsvRecord(first_line, "".join(parts), None, "unclosed <Event> element at the end of the file")


# ------------------------------------------------------------------ CSV


def csv_columns(cells: Sequence[str]) -> dict[str, int]:
    """Which column holds what (``ALIASES`` keys to indexes); ``ValueError`` naming what is missing."""
    names = [_norm(cell) for cell in cells]
    columns: dict[str, int] = {}
    for index, name in enumerate(names):
        for role, aliases in ALIASES.items():
            if name in aliases and (role in LAST_WINS or role not in columns):
                columns[role] = index
    if "event_id" not in columns and "id" in names and {"providername", "logname"} & set(names):
        columns["event_id"] = names.index("id")  # PowerShell Get-WinEvent | Export-Csv
    if len(names) == 5 and names[0] in ("level", "keywords") and tuple(names[1:]) == EVENT_VIEWER:
        columns["message"] = 5  # Event Viewer "Save as CSV": the message has no header cell
    missing = [what for what, ok in (
        ("an Event ID column", "event_id" in columns), ("a time column (Date and Time, TimeCreated)", "time" in columns),
        ("Account Name and Logon Type columns or a Message column", "message" in columns or {"account", "logon_type"} <= set(columns)),
    ) if not ok]  # fmt: skip
    if missing:
        raise ValueError(f"not a Windows logon export: no {'; no '.join(missing)}")
    return columns


def message_values(message: str) -> dict[str, str]:
    """The logon values in a rendered 4624 message: the New Logon block's account, the logon type, the workstation."""
    values: dict[str, str] = {}
    section = ""
    for line in message.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            section = line.strip().rstrip(":").lower()
            continue
        match = _FIELD.match(line) or re.match(r"^(Logon Type):\s*(.*?)\s*$", line)
        if match is None:
            continue
        key, value = match.group(1).strip().lower(), match.group(2)
        if section == "new logon" and key in ("account name", "account domain"):
            values["account" if key == "account name" else "domain"] = value
        elif key == "logon type":
            values.setdefault("logon_type", value)
        elif key == "workstation name":
            values.setdefault("workstation", value)
    return values


def parse_csv_row(columns: Mapping[str, int], fields: Sequence[str], read_time: Callable[[str], int], *, site: str, position: str) -> Outcome:
    """One CSV row of a Windows logon export to an event, a skip or a rejection."""
    width = max(columns.values()) + 1
    if len(fields) < width:
        return Reject(f"{len(fields)} fields, too few for the header ({width} needed)")
    values = {role: fields[index] for role, index in columns.items() if role != "message"}
    if "message" in columns:
        for role, value in message_values(fields[columns["message"]]).items():
            if not _present(values.get(role)):
                values[role] = value
    return parse_logon(values, read_time, site=site, position=position)


def _without_type_line(records: Iterator[CsvRecord]) -> Iterator[CsvRecord]:
    first = next(records, None)
    if first is not None and not (first.fields and len(first.fields) == 1 and first.fields[0].startswith("#TYPE ")):
        yield first
    yield from records


class WindowsLogons(Adapter):
    """Windows Security 4624 logons: wevtutil XML or a CSV export (module doc)."""

    name = "windows-logons"
    source = "logins"
    identity = WINDOWS_ACCOUNT
    summary = "Windows Security event 4624 logons: wevtutil XML, Event Viewer / PowerShell / log tool CSV"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.site = self.options.site or self.name
        self._columns: dict[str, int] | None = None
        self._xml = False

    @contextmanager
    def records(self, path: Path) -> Iterator[Iterator[CsvRecord]]:
        """``<Event>`` elements when the file starts with ``<``, else CSV rows."""
        with open_text(path, self.options.encoding) as stream:
            self._xml = stream.read(4096).lstrip().startswith("<")
            stream.seek(0)
            yield read_events_xml(stream) if self._xml else _without_type_line(read_table(stream))

    def start(self, first: CsvRecord) -> bool:
        """An ``<Event>`` in the Windows events namespace (data), or a CSV header naming logon columns."""
        if first.fields is None:
            head = first.raw.lstrip()
            if head.startswith("<Event") and EVENTS_NS in head[: head.find(">")]:
                self.label = "windows-logons (wevtutil XML)"
                return False
            raise NotThisFormat(f"not a Windows event export: expected <Event xmlns=\"{EVENTS_NS}\"> elements")
        try:
            self._columns = csv_columns(first.fields)
        except ValueError as exc:
            raise NotThisFormat(str(exc)) from None
        self.label = "windows-logons (CSV)"
        return True

    def parse(self, record: CsvRecord) -> Outcome:
        """One ``<Event>`` element or CSV row to an event, a skip or a rejection."""
        position = f"{self.file_name}:{record.line}"
        if self._columns is None:
            return parse_event_xml(record.raw, site=self.site, position=position)
        formats = self.options.time_formats or DEFAULT_TIME_FORMATS
        return parse_csv_row(self._columns, record.fields or [], lambda text: local_time(text, self.options.tz, formats), site=self.site, position=position)
