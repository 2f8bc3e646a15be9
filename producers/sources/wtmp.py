"""Linux ``wtmp``: the binary login records of a Linux machine (``/var/log/wtmp``, read by ``last``).

The file is a sequence of glibc ``struct utmp`` records (``man 5 utmp``, ``<bits/utmp.h>``),
384 bytes each, little-endian as written on x86-64 (its 32-bit time fields are the same
on 32- and 64-bit builds, so the layout is one)::

    offset  size  field
         0     2  short ut_type             (2 bytes padding follow)
         4     4  pid_t ut_pid
         8    32  char ut_line[32]          tty: "pts/0", "tty1", ":0", "~" for boot records
        40     4  char ut_id[4]
        44    32  char ut_user[32]
        76   256  char ut_host[256]         remote host of an ssh/X session, else empty
       332     4  struct exit_status {short e_termination, e_exit}
       336     4  int32 ut_session
       340     8  struct {int32 tv_sec, tv_usec} ut_tv
       348    16  int32 ut_addr_v6[4]
       364    20  reserved

Strings are NUL-padded (not necessarily NUL-terminated when full). Each record is one
``CsvRecord`` (``unit`` "record", ``line`` its 1-based number, ``data`` its exact 384
bytes); a short last record (a file copied while a login was being written) is an error
record. The file has no header. ``start`` accepts a file whose first record is complete
and looks like a utmp record (``ut_type`` 0-9, ``ut_pid`` >= 0, ``tv_usec`` < 1,000,000);
the adapter is not tried by ``--format auto``, since a binary file cannot be told from its
first record with certainty: name it (``leap produce wtmp FILE``; ``--format wtmp`` for replay).

Rules: a ``USER_PROCESS`` (7) record is a login; every other type (``DEAD_PROCESS`` 8 is a
logout, ``BOOT_TIME`` 2, ``RUN_LVL`` 1, ``LOGIN_PROCESS`` 6 a getty waiting, ...) is skipped
as ``<TYPE> record``. Logins of ``root`` are skipped (``root account``), as are the
pseudo-users ``reboot``, ``shutdown``, ``runlevel`` and ``LOGIN`` (``system pseudo-user``).
A login is published as source ``logins``, action ``logged_in``, for the Linux user name
(identity ``username``), with ``object_ref`` the remote host it came from or, for a local
login, the terminal line. wtmp records have no id: the event id comes from the user, line,
pid and the time to the microsecond, under ``Options.site`` (name each machine, e.g.
``--site linux-lab-03``). A record is *rejected* when its ``ut_type`` is not 0-9, or a login's
user is empty or not printable UTF-8 text, or its time is outside 2000-2099 or its
microseconds out of range.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from leap.vocabulary import USERNAME
from producers.outcome import CsvRecord, Outcome, Reject, Skip, activity
from producers.sources.base import Adapter, NotThisFormat
from producers.times import EARLIEST_MS, LATEST_MS

UTMP = struct.Struct("<h2xi32s4s32s256s2hi2i16s20s")
RECORD_SIZE = UTMP.size  # 384
TYPE_NAMES = {
    0: "EMPTY", 1: "RUN_LVL", 2: "BOOT_TIME", 3: "NEW_TIME", 4: "OLD_TIME", 5: "INIT_PROCESS",
    6: "LOGIN_PROCESS", 7: "USER_PROCESS", 8: "DEAD_PROCESS", 9: "ACCOUNTING",
}  # fmt: skip
USER_PROCESS = 7
PSEUDO_USERS = frozenset({"reboot", "shutdown", "runlevel", "LOGIN"})
EARLIEST_S, LATEST_S = EARLIEST_MS // 1000, LATEST_MS // 1000  # 2000-01-01, 2100-01-01


def _text(raw: bytes) -> str:
    """A NUL-padded field as text; ``ValueError`` when it is not printable UTF-8."""
    text = raw.split(b"\0", 1)[0].decode("utf-8")
    if not text.isprintable():
        raise ValueError("is not printable text")
    return text


def summary(data: bytes) -> str:
    """A readable line for a record (its ``raw``): type, pid, line, user, host and time."""
    if len(data) != RECORD_SIZE:
        return f"{len(data)} bytes: {data[:32].hex()}"
    kind, pid, line, _, user, host, _, _, _, sec, usec, _, _ = UTMP.unpack(data)
    shown = [field.split(b"\0", 1)[0].decode("utf-8", "replace") for field in (line, user, host)]
    try:
        when = datetime.fromtimestamp(sec, timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        when = str(sec)
    return f"{TYPE_NAMES.get(kind, kind)} pid={pid} line={shown[0]!r} user={shown[1]!r} host={shown[2][:64]!r} time={when} usec={usec}"


def parse_utmp(data: bytes, *, site: str, position: str) -> Outcome:
    """One 384-byte ``struct utmp`` to an event, a skip or a rejection (module doc)."""
    if len(data) != RECORD_SIZE:
        return Reject(f"record is {len(data)} bytes, not {RECORD_SIZE}")
    kind, pid, raw_line, _, raw_user, raw_host, _, _, _, sec, usec, _, _ = UTMP.unpack(data)
    if kind not in TYPE_NAMES:
        return Reject(f"ut_type {kind} is not a utmp record type (0-9)")
    if kind != USER_PROCESS:
        return Skip(f"{TYPE_NAMES[kind]} record")
    values: dict[str, str] = {}
    for name, raw in (("ut_user", raw_user), ("ut_line", raw_line), ("ut_host", raw_host)):
        try:
            values[name] = _text(raw)
        except ValueError:
            return Reject(f"{name} is not printable UTF-8 text")
    user = values["ut_user"]
    if not user.strip():
        return Reject("ut_user is empty in a USER_PROCESS record")
    if not EARLIEST_S <= sec < LATEST_S:
        return Reject(f"ut_tv.tv_sec {sec} is outside 2000-2099")
    if not 0 <= usec < 1_000_000:
        return Reject(f"ut_tv.tv_usec {usec} is not 0-999999")
    if user == "root":
        return Skip("root account")
    if user in PSEUDO_USERS:
        return Skip("system pseudo-user")
    return activity(
        reference=f"wtmp:{site}:{user}:{values['ut_line']}:{pid}:{sec}.{usec:06d}",
        student_id=user,
        identity=USERNAME,
        source="logins",
        action="logged_in",
        event_time_ms=sec * 1000 + usec // 1000,
        object_ref=values["ut_host"] or values["ut_line"] or None,
        source_ref=position,
    )


def read_utmp(path: Path) -> Iterator[CsvRecord]:
    """The file's records, 384 bytes each; a short last one is an error record."""
    with path.open("rb") as stream:
        number = 0
        while chunk := stream.read(RECORD_SIZE):
            number += 1
            if len(chunk) < RECORD_SIZE:
                yield CsvRecord(number, summary(chunk), None, f"truncated record: {len(chunk)} of {RECORD_SIZE} bytes", unit="record", data=chunk)
                return
            yield CsvRecord(number, summary(chunk), None, unit="record", data=chunk)


class Wtmp(Adapter):
    """Linux ``wtmp`` binary login records (module doc)."""

    name = "wtmp"
    source = "logins"
    identity = USERNAME
    summary = "Linux wtmp binary login records (glibc struct utmp, 384 bytes each; read by last)"
    detectable = False

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.site = self.options.site or self.name

    @contextmanager
    def records(self, path: Path) -> Iterator[Iterator[CsvRecord]]:
        """The file's 384-byte records, read in binary."""
        yield read_utmp(path)

    def start(self, first: CsvRecord) -> bool:
        """Accept a file whose first record is a complete, plausible utmp record (no header)."""
        data = first.data or b""
        if len(data) != RECORD_SIZE:
            raise NotThisFormat(f"not a wtmp file: expected binary records of {RECORD_SIZE} bytes (struct utmp)")
        fields = UTMP.unpack(data)
        kind, pid, usec = fields[0], fields[1], fields[10]
        if kind not in TYPE_NAMES or pid < 0 or not 0 <= usec < 1_000_000:
            raise NotThisFormat(f"not a wtmp file: the first record's ut_type {kind} / ut_pid {pid} is not a utmp record's")
        return False

    def parse(self, record: CsvRecord) -> Outcome:
        """One utmp record to an event, a skip or a rejection."""
        return parse_utmp(record.data or b"", site=self.site, position=f"{self.file_name}:record {record.line}")
