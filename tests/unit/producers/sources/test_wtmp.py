"""The Linux wtmp adapter: glibc struct utmp records, written here with struct as glibc writes them."""

from __future__ import annotations

import ipaddress
import struct
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.exports import open_export
from producers.outcome import CsvRecord, Event, Reject, Skip
from producers.sources import Options, adapters
from producers.sources import wtmp
from producers.sources.base import NotThisFormat
from tests.unit.producers.test_fuzz import decided

FIXTURE = Path(__file__).parents[3] / "fixtures" / "sources" / "wtmp" / "wtmp.bin"
T0 = int(datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc).timestamp())

# glibc's <bits/utmp.h> on x86-64, written out field by field (not with wtmp.UTMP, so the
# adapter's layout is checked against an independent one).
_LAYOUT = struct.Struct("<hxxi32s4s32s256shhiii16s20s")


def utmp_record(kind: int = 7, pid: int = 10234, line: str | bytes = "pts/0", user: str | bytes = "ab12345", host: str | bytes = "10.20.1.5",
                sec: int = T0, usec: int = 123456, addr: str = "", ut_id: bytes | None = None) -> bytes:  # fmt: skip
    """One struct utmp as glibc writes it (NUL-padded strings, the IPv4/IPv6 address in ut_addr_v6)."""
    def raw(value: str | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.encode()

    packed_addr = ipaddress.ip_address(addr).packed.ljust(16, b"\0") if addr else bytes(16)
    ident = ut_id if ut_id is not None else raw(line)[-4:]
    return _LAYOUT.pack(kind, pid, raw(line), ident, raw(user), raw(host), 0, 0, 0, sec, usec, packed_addr, bytes(20))


# The fixture: a lab machine's morning as `last -f wtmp.bin` would show it.
FIXTURE_RECORDS = [
    utmp_record(2, 0, "~", "reboot", "6.1.0-27-amd64", T0 - 3600, 5012, ut_id=b"~~\0\0"),  # BOOT_TIME
    utmp_record(1, 53, "~", "runlevel", "6.1.0-27-amd64", T0 - 3590, 0, ut_id=b"~~\0\0"),  # RUN_LVL
    utmp_record(6, 812, "tty1", "LOGIN", "", T0 - 3580, 0),  # LOGIN_PROCESS (a getty)
    utmp_record(7, 10234, "pts/0", "ab12345", "10.20.1.5", T0, 123456, "10.20.1.5"),  # ssh login
    utmp_record(7, 10301, "tty1", "root", "", T0 + 60, 0),  # root at the console
    utmp_record(8, 10234, "pts/0", "", "", T0 + 1800, 999),  # logout of pts/0
    utmp_record(7, 11020, ":0", "cd67890", ":0", T0 + 2000, 500000),  # graphical login
    utmp_record(7, 11544, "pts/1", "ef24680", "lab-gw.essex.ac.uk", T0 + 2400, 42, "2001:630:d0:f102::3e"),
    utmp_record(7, 11600, "pts/2", "", "10.20.1.6", T0 + 2500, 0),  # broken: no user
    utmp_record(7, 11610, "pts/2", "gh13579", "10.20.1.6", 0, 0),  # broken: the epoch
    utmp_record(42, 11620, "pts/2", "gh13579", "10.20.1.6", T0 + 2600, 0),  # broken: not a type
    utmp_record(7, 11630, "pts/3", b"ij\xff\xfe975", "10.20.1.7", T0 + 2700, 0),  # broken: not UTF-8
    utmp_record(7, 11700, "tty2", "kl24601", "", T0 + 3000, 7),  # local text console
    utmp_record(1, 0, "~", "shutdown", "6.1.0-27-amd64", T0 + 7200, 0, ut_id=b"~~\0\0"),  # RUN_LVL at shutdown
]


def write_fixture(path: Path = FIXTURE) -> None:
    """Regenerate the committed fixture (run this module's ``write_fixture`` after changing the records)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(FIXTURE_RECORDS))


def parse(data: bytes, site: str = "lab03"):
    return wtmp.parse_utmp(data, site=site, position="wtmp:record 1")


# ---------------------------------------------------------------- layout


def test_the_record_layout_is_glibcs_384_bytes_with_its_offsets():
    assert wtmp.UTMP.size == _LAYOUT.size == 384
    data = utmp_record()
    assert struct.unpack_from("<h", data, 0)[0] == 7
    assert struct.unpack_from("<i", data, 4)[0] == 10234
    assert data[8:13] == b"pts/0" and data[44:51] == b"ab12345" and data[76:85] == b"10.20.1.5"
    assert struct.unpack_from("<ii", data, 340) == (T0, 123456)
    assert wtmp.UTMP.unpack(data)[9:11] == (T0, 123456)


def test_the_committed_fixture_is_the_generators_output():
    assert FIXTURE.read_bytes() == b"".join(FIXTURE_RECORDS)


# ---------------------------------------------------------------- the fixture, record by record


def test_fixture_gives_exactly_these_outcomes():
    with open_export(FIXTURE, "wtmp", Options(site="lab03")) as export:
        got = [(r.position, r.unit, r.data == FIXTURE_RECORDS[r.line - 1], o) for r, o in export.outcomes()]
    assert [(p, unit, same) for p, unit, same, _ in got] == [(f"record {n}", "record", True) for n in range(1, 15)]
    summary = [o.reason if not isinstance(o, Event) else (o.record["student_id"], o.record["event_time"], o.record["object_ref"]) for *_, o in got]
    assert summary == [
        "BOOT_TIME record",
        "RUN_LVL record",
        "LOGIN_PROCESS record",
        ("ab12345", T0 * 1000 + 123, "10.20.1.5"),
        "root account",
        "DEAD_PROCESS record",
        ("cd67890", (T0 + 2000) * 1000 + 500, ":0"),
        ("ef24680", (T0 + 2400) * 1000, "lab-gw.essex.ac.uk"),
        "ut_user is empty in a USER_PROCESS record",
        "ut_tv.tv_sec 0 is outside 2000-2099",
        "ut_type 42 is not a utmp record type (0-9)",
        "ut_user is not printable UTF-8 text",
        ("kl24601", (T0 + 3000) * 1000, "tty2"),
        "RUN_LVL record",
    ]
    kinds = [type(o) for *_, o in got]
    assert kinds.count(Event) == 4 and kinds.count(Skip) == 6 and kinds.count(Reject) == 4


def test_a_login_is_a_logins_event_for_the_username():
    outcome = parse(utmp_record())
    assert isinstance(outcome, Event)
    assert outcome.identity == "username"
    assert outcome.record == {
        "event_id": outcome.record["event_id"],
        "student_id": "ab12345",
        "source": "logins",
        "action": "logged_in",
        "event_time": T0 * 1000 + 123,
        "course": None,
        "object_ref": "10.20.1.5",
        "quantity": None,
        "attendance_status": None,
        "source_ref": "wtmp:record 1",
        "amends": None,
    }


def test_a_local_login_refers_to_its_terminal_line():
    assert parse(utmp_record(line="tty3", host="")).record["object_ref"] == "tty3"


def test_a_full_32_byte_user_without_a_nul_is_read_whole():
    assert parse(utmp_record(user="u" * 32)).record["student_id"] == "u" * 32


def test_event_id_is_stable_and_differs_by_site_time_pid_and_line():
    first = parse(utmp_record()).record["event_id"]
    assert parse(utmp_record()).record["event_id"] == first
    others = [parse(utmp_record(), site="lab04"), parse(utmp_record(usec=123457)), parse(utmp_record(pid=1)), parse(utmp_record(line="pts/9"))]
    assert all(o.record["event_id"] != first for o in others)


@pytest.mark.parametrize(("kind", "name"), sorted((k, n) for k, n in wtmp.TYPE_NAMES.items() if k != 7))
def test_every_other_record_type_is_skipped_by_name(kind, name):
    assert parse(utmp_record(kind=kind)) == Skip(f"{name} record")


@pytest.mark.parametrize(("user", "reason"), [("root", "root account"), ("reboot", "system pseudo-user"), ("LOGIN", "system pseudo-user"), ("shutdown", "system pseudo-user")])
def test_root_and_pseudo_users_are_skipped(user, reason):
    assert parse(utmp_record(user=user)) == Skip(reason)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (utmp_record()[:383], "record is 383 bytes, not 384"),
        (utmp_record(kind=-1), "ut_type -1 is not a utmp record type"),
        (utmp_record(user="   "), "ut_user is empty"),
        (utmp_record(user="ab\x07cd"), "ut_user is not printable UTF-8 text"),
        (utmp_record(host=b"\xc3"), "ut_host is not printable UTF-8 text"),
        (utmp_record(sec=-5), "tv_sec -5 is outside 2000-2099"),
        (utmp_record(sec=946_684_799), "tv_sec 946684799 is outside 2000-2099"),
        (utmp_record(usec=1_000_000), "tv_usec 1000000 is not 0-999999"),
    ],
)
def test_broken_records_are_rejected_with_the_reason(data, reason):
    outcome = parse(data)
    assert isinstance(outcome, Reject) and reason in outcome.reason


# ---------------------------------------------------------------- reading the file


def test_a_truncated_last_record_is_an_error_record(tmp_path):
    path = tmp_path / "wtmp"
    path.write_bytes(utmp_record() + utmp_record(user="cd67890")[:100])
    with open_export(path, "wtmp") as export:
        got = list(export.outcomes())
    assert isinstance(got[0][1], Event)
    record, outcome = got[1]
    assert record.error == "truncated record: 100 of 384 bytes" and record.data == utmp_record(user="cd67890")[:100]
    assert outcome == Reject("truncated record: 100 of 384 bytes")


def test_raw_is_a_readable_summary(tmp_path):
    (tmp_path / "wtmp").write_bytes(utmp_record())
    (record,) = wtmp.read_utmp(tmp_path / "wtmp")
    assert record.raw == "USER_PROCESS pid=10234 line='pts/0' user='ab12345' host='10.20.1.5' time=2026-11-20T09:00:00+00:00 usec=123456"


@pytest.mark.parametrize(
    "data",
    [b"student_id,action\n1,2\n" * 30, b"", b"x" * 100, utmp_record(kind=12), utmp_record(pid=-4), utmp_record(usec=-1)],
    ids=["csv", "empty", "short", "bad-type", "bad-pid", "bad-usec"],
)
def test_start_refuses_what_is_not_a_wtmp_file(data):
    reader = wtmp.Wtmp()
    with pytest.raises(NotThisFormat, match="not a wtmp file"):
        reader.start(CsvRecord(1, "", None, unit="record", data=data[:384]))


def test_start_accepts_a_wtmp_record_as_data_not_a_header():
    assert wtmp.Wtmp().start(CsvRecord(1, "", None, unit="record", data=utmp_record(kind=2, user="reboot"))) is False


def test_wtmp_is_named_explicitly_not_auto_detected():
    assert adapters()["wtmp"].detectable is False


# ---------------------------------------------------------------- fuzz

NOISY_BYTES = st.binary(max_size=40)


@st.composite
def half_real_records(draw):
    """Records whose every field is either a real value or noise, packed as glibc would."""
    kind = draw(st.sampled_from([7, 7, 8, 2]) | st.integers(-(2**15), 2**15 - 1))
    pid = draw(st.just(10234) | st.integers(-(2**31), 2**31 - 1))
    line, user, host = (draw(st.just(real) | st.binary(max_size=size)) for real, size in ((b"pts/0", 32), (b"ab12345", 32), (b"10.0.0.1", 256)))
    sec = draw(st.just(T0) | st.integers(-(2**31), 2**31 - 1))
    usec = draw(st.just(0) | st.integers(-(2**31), 2**31 - 1))
    return utmp_record(kind, pid, line, user, host, sec, usec)


@settings(max_examples=300)
@given(half_real_records() | st.binary(max_size=400))
def test_parse_decides_every_record(data):
    decided(parse(data))
