"""The Windows logons adapter: Security event 4624 as wevtutil XML and as CSV exports."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.exports import open_export
from producers.outcome import CsvRecord, Event, Reject, Skip
from producers.readers import ExportError
from producers.sources import Options
from producers.sources import windows_logons as wl
from producers.sources.base import NotThisFormat
from tests.unit.producers.test_fuzz import NOISE, decided, half_real

FIXTURES = Path(__file__).parents[3] / "fixtures" / "sources"
HERE = FIXTURES / "windows-logons"
LONDON = ZoneInfo("Europe/London")


def ms(*args: int, tz=timezone.utc) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)


def event_xml(user: str = "ab12345", logon_type: str = "2", *, event_id: str = "4624", time: str = "2026-11-20T09:01:02.1234567Z",
              computer: str = "WS-LAB01.essex.ac.uk", record_id: str = "1048571", domain: str = "ESSEX", workstation: str = "WS-LAB01") -> str:  # fmt: skip
    """One event as wevtutil writes it (single quotes, no whitespace between elements)."""
    return (
        f"<Event xmlns='{wl.EVENTS_NS}'><System><Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>{event_id}</EventID>"
        f"<TimeCreated SystemTime='{time}'/><EventRecordID>{record_id}</EventRecordID><Channel>Security</Channel>"
        f"<Computer>{computer}</Computer><Security/></System><EventData><Data Name='SubjectUserName'>WS-LAB01$</Data>"
        f"<Data Name='TargetUserName'>{user}</Data><Data Name='TargetDomainName'>{domain}</Data><Data Name='LogonType'>{logon_type}</Data>"
        f"<Data Name='WorkstationName'>{workstation}</Data><Data Name='IpAddress'>127.0.0.1</Data></EventData></Event>"
    )


def parse_xml(text: str, site: str = "essex"):
    return wl.parse_event_xml(text, site=site, position="security.xml:1")


def outcomes(path: Path, **options) -> list:
    with open_export(path, "windows-logons", Options(**options)) as export:
        return [(record.line, outcome) for record, outcome in export.outcomes()]


def brief(outcome):
    if isinstance(outcome, Event):
        r = outcome.record
        return (r["student_id"], r["event_time"], r["object_ref"])
    return outcome.reason


# ---------------------------------------------------------------- the fixtures, record by record


def test_wevtutil_xml_fixture():
    got = [(line, brief(o)) for line, o in outcomes(HERE / "wevtutil_security_4624.xml")]
    assert got == [
        (1, ("ab12345", ms(2026, 11, 20, 9, 1, 2) + 123, "WS-LAB01.essex.ac.uk")),
        (2, "machine account"),
        (3, "anonymous logon"),
        (4, "built-in system account"),
        (5, "built-in system account"),
        (6, "network logon (type 3)"),
        (7, "unlock (type 7)"),
        (8, ("cd67890", ms(2026, 11, 20, 11, 5, 12) + 300, "RDS-01.essex.ac.uk")),
        (9, ("ef24680", ms(2026, 11, 20, 12, 30), "LT-0042.essex.ac.uk")),
        (10, "not a logon (event 4634)"),
        (11, "<Event> is not well-formed XML (mismatched tag: line 1, column 1334)"),
        (12, "SystemTime 'yesterday' is not ISO 8601"),
        (13, "Logon Type '42' is not a Windows logon type"),
        (14, ("ij97531", ms(2026, 11, 20, 14, 20, 31), "WS-LAB02.essex.ac.uk")),  # pretty-printed over many lines
    ]


def test_a_wevtutil_event_is_exactly_this_event():
    (_, outcome), *_ = outcomes(HERE / "wevtutil_security_4624.xml", site="essex")
    assert isinstance(outcome, Event) and outcome.identity == "windows_account"
    assert outcome.record == {
        "event_id": outcome.record["event_id"],
        "student_id": "ab12345",
        "source": "logins",
        "action": "logged_in",
        "event_time": ms(2026, 11, 20, 9, 1, 2) + 123,
        "course": None,
        "object_ref": "WS-LAB01.essex.ac.uk",
        "quantity": None,
        "attendance_status": None,
        "source_ref": "WS-LAB01.essex.ac.uk:Security:EventRecordID=1048571",
        "amends": None,
    }


def test_event_viewer_csv_fixture_reads_the_new_logon_account_from_the_message():
    got = [(line, brief(o)) for line, o in outcomes(HERE / "eventviewer_security.csv", tz=LONDON)]
    assert got == [
        (2, ("ab12345", ms(2026, 11, 20, 9, 1, 2), "WS-LAB01")),  # not the Subject's WS-LAB01$
        (51, "machine account"),
        (100, "network logon (type 3)"),
        (149, "unlock (type 7)"),
        (198, ("kl24601", ms(2026, 11, 20, 11, 58, 30), "WS-LAB01")),
        (247, "not a logon (event 4634)"),
        (256, f"time '31/11/2026 13:00:00' is neither ISO 8601 nor one of {', '.join(wl.DEFAULT_TIME_FORMATS)}"),
    ]


def test_powershell_export_csv_fixture_skips_the_type_line_and_reads_us_times():
    got = [(line, brief(o)) for line, o in outcomes(HERE / "get_winevent_export.csv")]
    assert got == [
        (3, ("mn11223", ms(2026, 11, 20, 9, 1, 2), "LIB-PC07.essex.ac.uk")),
        (52, "built-in system account"),
        (101, ("mn11223", ms(2026, 11, 20, 14, 30), "LIB-PC07.essex.ac.uk")),
        (150, "batch logon (type 4)"),
        (199, f"time '11/20/2026 25:31:00 PM' is neither ISO 8601 nor one of {', '.join(wl.DEFAULT_TIME_FORMATS)}"),
    ]
    assert outcomes(HERE / "get_winevent_export.csv")[0][1].record["source_ref"] == "LIB-PC07.essex.ac.uk:Security:EventRecordID=2201"


def test_flattened_logon_report_fixture():
    got = [(line, brief(o)) for line, o in outcomes(HERE / "logon_report.csv", tz=LONDON)]
    assert got == [
        (2, ("ab12345", ms(2026, 11, 20, 9, 1, 2), "WS-LAB01.essex.ac.uk")),
        (3, "machine account"),
        (4, ("ESSEX\\op55555", ms(2026, 11, 20, 9, 20, 11), "RDS-02.essex.ac.uk")),
        (5, "built-in system account"),
        (6, "network logon (type 3)"),
        (7, "not a logon (event 4625)"),
        (8, ("qr77777", ms(2026, 11, 20, 10, 5), "WS-LAB03.essex.ac.uk")),
        (9, "Account Name (TargetUserName) is empty"),
        (10, "Logon Type 'remote' is not a Windows logon type"),
        (11, "Event ID '46x24' is not a number"),
    ]
    assert outcomes(HERE / "logon_report.csv")[0][1].record["source_ref"] == "logon_report.csv:2"


@pytest.mark.parametrize("path", sorted(HERE.iterdir()), ids=lambda p: p.name)
def test_auto_detection_picks_this_adapter(path):
    with open_export(path, "auto") as export:
        assert export.format == "windows-logons"


# ---------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("user", "domain", "reason"),
    [
        ("WS-LAB01$", "ESSEX", "machine account"),
        ("ESSEX\\WS-LAB01$", "ESSEX", "machine account"),
        ("ANONYMOUS LOGON", "NT AUTHORITY", "anonymous logon"),
        ("SYSTEM", "NT AUTHORITY", "built-in system account"),
        ("LOCAL SERVICE", "NT AUTHORITY", "built-in system account"),
        ("NETWORK SERVICE", "NT AUTHORITY", "built-in system account"),
        ("DWM-1", "Window Manager", "built-in system account"),
        ("UMFD-0", "Font Driver Host", "built-in system account"),
        ("dwm-4", "ESSEX", "built-in system account"),
        ("MSSQLSERVER", "NT SERVICE", "built-in system account"),
    ],
)
def test_accounts_that_are_not_people_are_skipped(user, domain, reason):
    assert parse_xml(event_xml(user, domain=domain)) == Skip(reason)


@pytest.mark.parametrize(
    ("logon_type", "reason"),
    [("0", "system logon (type 0)"), ("3", "network logon (type 3)"), ("4", "batch logon (type 4)"), ("5", "service logon (type 5)"),
     ("7", "unlock (type 7)"), ("8", "network cleartext logon (type 8)"), ("9", "new credentials logon (type 9)"), ("13", "cached unlock (type 13)")],
)  # fmt: skip
def test_logons_that_are_not_a_new_session_at_a_pc_are_skipped(logon_type, reason):
    assert parse_xml(event_xml(logon_type=logon_type)) == Skip(reason)


@pytest.mark.parametrize("logon_type", ["2", "10", "11", "12", "RemoteInteractive", "Cached Interactive", "2 (Interactive)", " 10 "])
def test_interactive_logons_are_events(logon_type):
    outcome = parse_xml(event_xml(logon_type=logon_type))
    assert isinstance(outcome, Event) and outcome.record["action"] == "logged_in"


@pytest.mark.parametrize("event_id", ["4625", "4634", "4648", "4672", "1"])
def test_other_events_are_skipped_before_anything_else_is_read(event_id):
    assert parse_xml(event_xml(event_id=event_id, logon_type="junk", time="junk")) == Skip(f"not a logon (event {event_id})")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"event_id": "x"}, "Event ID 'x' is not a number"),
        ({"event_id": ""}, "Event ID '' is not a number"),
        ({"time": "2026-11-20"}, None),  # a date is a time (midnight UTC)
        ({"time": "1999-12-31T23:59:59Z"}, "outside 2000-2099"),
        ({"time": "20/11/2026 09:00"}, "SystemTime '20/11/2026 09:00' is not ISO 8601"),
        ({"user": ""}, "Account Name (TargetUserName) is empty"),
        ({"user": "-"}, "Account Name (TargetUserName) is empty"),
        ({"user": "a" * 300}, "longer than 256 characters"),
        ({"logon_type": "1"}, "Logon Type '1' is not a Windows logon type"),
        ({"logon_type": "%%2313"}, "is not a Windows logon type"),
        ({"logon_type": ""}, "Logon Type '' is not a Windows logon type"),
        ({"record_id": "12a"}, "EventRecordID '12a' is not a number"),
    ],
)
def test_malformed_events_are_rejected_with_the_reason(overrides, reason):
    outcome = parse_xml(event_xml(**overrides))
    if reason is None:
        assert isinstance(outcome, Event)
    else:
        assert isinstance(outcome, Reject) and reason in outcome.reason


def test_system_time_without_an_offset_is_utc_and_with_one_is_honoured():
    assert parse_xml(event_xml(time="2026-11-20T09:01:02")).record["event_time"] == ms(2026, 11, 20, 9, 1, 2)
    assert parse_xml(event_xml(time="2026-11-20T09:01:02+01:00")).record["event_time"] == ms(2026, 11, 20, 8, 1, 2)


def test_without_a_computer_the_workstation_is_the_object():
    assert parse_xml(event_xml(computer="")).record["object_ref"] == "WS-LAB01"
    assert parse_xml(event_xml(computer="", workstation="-")).record["object_ref"] is None


# ---------------------------------------------------------------- event ids


def test_event_id_comes_from_computer_and_record_id():
    first = parse_xml(event_xml()).record["event_id"]
    assert parse_xml(event_xml(time="2026-11-21T00:00:00Z")).record["event_id"] == first  # re-exported: same record
    assert parse_xml(event_xml(computer="WS-LAB01.ESSEX.AC.UK")).record["event_id"] == first
    assert parse_xml(event_xml(record_id="1048572")).record["event_id"] != first
    assert parse_xml(event_xml(computer="WS-LAB02.essex.ac.uk")).record["event_id"] != first
    assert parse_xml(event_xml(), site="other").record["event_id"] != first


def test_the_same_record_as_xml_and_as_powershell_csv_has_the_same_id():
    header = ["Message", "Id", "RecordId", "ProviderName", "MachineName", "TimeCreated"]
    message = "An account was successfully logged on.\r\n\r\nLogon Information:\r\n\tLogon Type:\t\t2\r\n\r\nNew Logon:\r\n\tAccount Name:\t\tab12345\r\n"
    columns = wl.csv_columns(header)
    row = [message, "4624", "1048571", "Microsoft-Windows-Security-Auditing", "WS-LAB01.essex.ac.uk", "2026-11-20 09:01:02"]
    from_csv = wl.parse_csv_row(columns, row, lambda t: wl.local_time(t, timezone.utc), site="essex", position="x.csv:2")
    assert from_csv.record["event_id"] == parse_xml(event_xml()).record["event_id"]


def test_without_a_record_id_the_event_id_comes_from_time_account_and_computer():
    base = {"event_id": "4624", "time": "2026-11-20T09:00:00Z", "account": "ab12345", "logon_type": "2", "computer": "WS-LAB01"}

    def eid(**changes):
        return wl.parse_logon({**base, **changes}, wl.system_time, site="essex", position="p").record["event_id"]

    assert eid() == eid() == eid(account="AB12345")
    assert len({eid(), eid(time="2026-11-20T09:00:01Z"), eid(account="cd67890"), eid(computer="WS-LAB02"), eid(logon_type="10")}) == 5


# ---------------------------------------------------------------- CSV headers and messages


def test_a_repeated_account_name_column_is_subject_then_new_logon():
    header = ["Date and Time", "Event ID", "Account Name", "Account Domain", "Logon Type", "Account Name", "Account Domain", "Workstation Name"]
    row = ["2026-11-20 09:00:00", "4624", "WS-LAB01$", "ESSEX", "2", "ab12345", "ESSEX", "WS-LAB01"]
    outcome = wl.parse_csv_row(wl.csv_columns(header), row, lambda t: wl.local_time(t, timezone.utc), site="s", position="p")
    assert outcome.record["student_id"] == "ab12345"


@pytest.mark.parametrize(
    "header",
    [
        ["Date and Time", "Event ID", "Account Name", "Logon Type"],
        ["TimeCreated", "EventID", "TargetUserName", "TargetDomainName", "LogonType", "WorkstationName", "IpAddress"],
        ["time", "event_code", "account_name", "logon_type"],
        ["Level", "Date and Time", "Source", "Event ID", "Task Category"],
        ["Id", "TimeCreated", "Message", "LogName"],
        ["EventID", "TimeGenerated", "Message", "MachineName", "Index"],
    ],
)
def test_headers_of_real_exports_are_accepted(header):
    assert {"event_id", "time"} <= set(wl.csv_columns(header))


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        (["Date and Time", "Account Name", "Logon Type"], "an Event ID column"),
        (["Id", "TimeCreated", "Message"], "an Event ID column"),  # Id alone could be anything's id
        (["Event ID", "Account Name", "Logon Type"], "a time column"),
        (["Date and Time", "Event ID", "Account Name"], "Account Name and Logon Type columns or a Message column"),
        (["id", "eventname", "component", "timecreated", "userid"], "an Event ID column"),
        (["Time", "User full name", "Affected user", "Event context", "Component", "Event name", "Description", "Origin", "IP address"], "an Event ID column"),
    ],
)
def test_other_headers_are_refused_naming_what_is_missing(header, missing):
    with pytest.raises(ValueError, match="not a Windows logon export") as excinfo:
        wl.csv_columns(header)
    assert missing in str(excinfo.value)


def test_message_values_take_the_new_logon_block_and_older_top_level_logon_type():
    server_2008 = (
        "An account was successfully logged on.\r\n\r\nSubject:\r\n\tSecurity ID:\t\tSYSTEM\r\n\tAccount Name:\t\tWS-LAB01$\r\n"
        "\tAccount Domain:\t\tESSEX\r\n\r\nLogon Type:\t\t\t10\r\n\r\nNew Logon:\r\n\tSecurity ID:\t\tESSEX\\cd67890\r\n"
        "\tAccount Name:\t\tcd67890\r\n\tAccount Domain:\t\tESSEX\r\n\r\nNetwork Information:\r\n\tWorkstation Name:\tHOME-PC\r\n"
        "\r\nThe New Logon fields indicate the account for whom the new logon was created, i.e. the account that was logged on.\r\n"
    )
    assert wl.message_values(server_2008) == {"logon_type": "10", "account": "cd67890", "domain": "ESSEX", "workstation": "HOME-PC"}
    assert wl.message_values("") == {}


def test_columns_win_over_the_message_and_the_message_fills_the_gaps():
    columns = wl.csv_columns(["Date and Time", "Event ID", "Account Name", "Logon Type", "Message"])
    message = "New Logon:\n\tAccount Name:\t\tfrom-message\nLogon Information:\n\tLogon Type:\t\t10\n"
    read = lambda t: wl.local_time(t, timezone.utc)  # noqa: E731
    assert wl.parse_csv_row(columns, ["2026-11-20 09:00", "4624", "from-column", "2", message], read, site="s", position="p").record["student_id"] == "from-column"
    assert wl.parse_csv_row(columns, ["2026-11-20 09:00", "4624", "", "", message], read, site="s", position="p").record["student_id"] == "from-message"
    assert wl.parse_csv_row(columns, ["2026-11-20 09:00", "4624"], read, site="s", position="p") == Reject("2 fields, too few for the header (5 needed)")


@pytest.mark.parametrize(
    ("text", "tz", "formats", "expected"),
    [
        ("2026-11-20T09:01:02+00:00", LONDON, wl.DEFAULT_TIME_FORMATS, ms(2026, 11, 20, 9, 1, 2)),
        ("2026-07-20 09:01:02", LONDON, wl.DEFAULT_TIME_FORMATS, ms(2026, 7, 20, 8, 1, 2)),  # BST
        ("20/07/2026 09:01:02", LONDON, wl.DEFAULT_TIME_FORMATS, ms(2026, 7, 20, 8, 1, 2)),  # en-GB: day first
        ("07/08/2026 09:01", timezone.utc, wl.DEFAULT_TIME_FORMATS, ms(2026, 8, 7, 9, 1)),
        ("7/20/2026 9:01:02 PM", timezone.utc, wl.DEFAULT_TIME_FORMATS, ms(2026, 7, 20, 21, 1, 2)),  # en-US: month first
        ("20.11.2026 09:01:02", timezone.utc, ("%d.%m.%Y %H:%M:%S",), ms(2026, 11, 20, 9, 1, 2)),  # de-DE, when told
    ],
)
def test_csv_time_forms(text, tz, formats, expected):
    assert wl.local_time(text, tz, formats) == expected


def test_time_formats_option_reaches_the_csv_parser(tmp_path):
    path = tmp_path / "logons.csv"
    path.write_text("Date and Time,Event ID,Account Name,Logon Type\n20.11.2026 09:01:02,4624,ab12345,2\n")
    (_, outcome), = outcomes(path, time_formats=("%d.%m.%Y %H:%M:%S",))
    assert outcome.record["event_time"] == ms(2026, 11, 20, 9, 1, 2)


# ---------------------------------------------------------------- reading wevtutil XML


def read_xml(text: str) -> list[CsvRecord]:
    return list(wl.read_events_xml(io.StringIO(text)))


def test_events_run_together_on_one_line_are_separate_records():
    records = read_xml(event_xml("a1") + event_xml("b2", record_id="2") + "\n" + event_xml("c3", record_id="3") + "\n")
    assert [(r.line, r.error) for r in records] == [(1, None), (1, None), (2, None)]
    assert [parse_xml(r.raw).record["student_id"] for r in records] == ["a1", "b2", "c3"]


def test_a_saved_events_file_with_declaration_and_root_reads_the_same():
    text = f"<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<Events>\n{event_xml()}\n</Events>\n"
    (record,) = read_xml(text)
    assert record.line == 3 and record.error is None and record.raw == event_xml()


def test_an_unclosed_event_is_one_error_record_and_the_next_is_read():
    broken = event_xml()[: -len("</Event>")]
    records = read_xml(broken + "\n" + event_xml("cd67890") + "\n" + broken)
    assert [(r.line, r.error) for r in records] == [(1, "unclosed <Event> element"), (2, None), (3, "unclosed <Event> element at the end of the file")]


def test_text_outside_events_is_an_error_record():
    records = read_xml("garbage\n" + event_xml() + "\n")
    assert [(r.line, r.error) for r in records] == [(1, "text outside an <Event> element"), (2, None)]


def test_entities_are_never_expanded():
    laughs = '<!DOCTYPE Event [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    records = read_xml(laughs + "\n" + event_xml("&lol2;") + "\n")
    assert records[0].error == "a DTD or entity declaration is refused"
    outcome = parse_xml(records[1].raw)
    assert isinstance(outcome, Reject) and "undefined entity" in outcome.reason
    assert parse_xml(laughs + event_xml()) == Reject("a DTD or entity declaration is refused in an event export")


def test_an_external_entity_is_not_fetched():
    outcome = parse_xml(event_xml("&xxe;"))
    assert isinstance(outcome, Reject) and "undefined entity" in outcome.reason


def test_a_predefined_entity_is_just_text():
    assert parse_xml(event_xml("o&apos;brien")).record["student_id"] == "o'brien"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<Event><System></System>", "not well-formed XML"),
        ("<Events/>", "expected an <Event> element, found <Events>"),
        (f"<Event xmlns='{wl.EVENTS_NS}'><EventData/></Event>", "<Event> has no <System> element"),
        (f"<Event xmlns='{wl.EVENTS_NS}'><System/></Event>", "Event ID '' is not a number"),
    ],
)
def test_unreadable_elements_are_rejected(text, reason):
    outcome = parse_xml(text)
    assert isinstance(outcome, Reject) and reason in outcome.reason


# ---------------------------------------------------------------- detection


@pytest.mark.parametrize("path", [p for name in ("moodle", "events") for p in sorted((FIXTURES / name).iterdir())], ids=lambda p: p.name)
def test_other_adapters_files_are_refused(path):
    with pytest.raises(ExportError):
        with open_export(path, "windows-logons"):
            pass


def test_xml_in_another_namespace_is_refused():
    adapter = wl.WindowsLogons()
    with pytest.raises(NotThisFormat, match="expected <Event xmlns="):
        adapter.start(CsvRecord(1, "<Event xmlns='urn:other'><System/></Event>", None))


# ---------------------------------------------------------------- fuzz

REAL_XML = {"user": "ab12345", "logon_type": "2", "event_id": "4624", "time": "2026-11-20T09:01:02.1234567Z",
            "computer": "WS-LAB01", "record_id": "1048571", "domain": "ESSEX", "workstation": "WS-LAB01"}  # fmt: skip
XML_NOISE = NOISE | st.sampled_from(["<", "&", "]]>", "&amp;", "</Data>", "\ud800", "-", "$", "WS$"])


@settings(max_examples=300)
@given(st.fixed_dictionaries({k: st.just(v) | XML_NOISE for k, v in REAL_XML.items()}) | st.text(max_size=200).map(lambda t: {"raw": t}))
def test_xml_events_are_always_decided(values):
    decided(parse_xml(values["raw"] if "raw" in values else event_xml(**values)))


CSV_HEADER = ["Date and Time", "Event ID", "Account Name", "Account Domain", "Logon Type", "Workstation Name", "Computer", "Record ID"]
CSV_ROW = ["20/11/2026 09:01:02", "4624", "ab12345", "ESSEX", "2", "WS-LAB01", "WS-LAB01.essex.ac.uk", "77"]


@settings(max_examples=300)
@given(half_real(CSV_ROW) | st.lists(NOISE, max_size=10))
def test_csv_rows_are_always_decided(fields):
    columns = wl.csv_columns(CSV_HEADER)
    decided(wl.parse_csv_row(columns, fields, lambda t: wl.local_time(t, LONDON), site="essex", position="l.csv:2"))


@given(st.lists(st.sampled_from(["<Event>", "</Event>", "<Event ", "x", "\n", "<?xml ?>", "<Events>", "<!DOCTYPE"]), max_size=40).map("".join) | st.text(max_size=200))
def test_reading_xml_takes_any_text(text):
    for record in wl.read_events_xml(io.StringIO(text)):
        assert record.fields is None and record.line >= 1
        assert record.error is None or record.error.strip()
        decided(parse_xml(record.raw))
