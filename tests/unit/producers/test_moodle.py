from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.sources import moodle
from producers.moodle_sample import generate
from producers.outcome import Event, Reject, Skip

LONDON = ZoneInfo("Europe/London")
HEADER = list(moodle.LOGSTORE_COLUMNS)


def logstore_row(**overrides: str) -> list[str]:
    """A student's course-module view as a real logstore row; override any column."""
    row = {
        "id": "12345",
        "eventname": "\\mod_page\\event\\course_module_viewed",
        "component": "mod_page",
        "action": "viewed",
        "target": "course_module",
        "objecttable": "page",
        "objectid": "77",
        "crud": "r",
        "edulevel": "2",
        "contextid": "901",
        "contextlevel": "70",
        "contextinstanceid": "643",
        "userid": "1046",
        "courseid": "12",
        "relateduserid": "NULL",
        "anonymous": "0",
        "other": "N;",
        "timecreated": "1788817258",
        "origin": "web",
        "ip": "10.12.4.77",
        "realuserid": "NULL",
    }
    row.update(overrides)
    return [row[c] for c in moodle.LOGSTORE_COLUMNS]


def parse(**overrides: str):
    return moodle.parse_logstore_row(logstore_row(**overrides), site="essex")


# ---------------------------------------------------------------- format detection


def test_detects_a_logstore_dump_with_header():
    assert moodle.detect_format(HEADER) == (moodle.LOGSTORE, True)
    assert moodle.detect_format(["\ufeffid", *HEADER[1:]]) == (moodle.LOGSTORE, True)


def test_detects_a_headerless_logstore_dump_from_its_first_row():
    assert moodle.detect_format(logstore_row()) == (moodle.LOGSTORE, False)


def test_detects_the_logs_report_with_and_without_course_column():
    assert moodle.detect_format(list(moodle.REPORT_COLUMNS)) == (moodle.LOGS_REPORT, True)
    assert moodle.detect_format(["Course", *moodle.REPORT_COLUMNS]) == (moodle.LOGS_REPORT, True)


def test_anything_else_is_refused_naming_what_was_expected():
    with pytest.raises(ValueError, match="not a Moodle export.*21 logstore_standard_log columns"):
        moodle.detect_format(["student", "timestamp", "minutes"])


# ---------------------------------------------------------------- logstore: events


def test_a_participating_view_is_a_vle_event():
    outcome = parse()
    assert isinstance(outcome, Event)
    assert outcome.record == {
        "event_id": outcome.record["event_id"],
        "student_id": "1046",
        "source": "vle",
        "action": "course_module_viewed",
        "event_time": 1788817258000,
        "course": "12",
        "object_ref": "cm:643",
        "quantity": None,
        "attendance_status": None,
        "source_ref": "moodle:essex:logstore_standard_log:id=12345",
        "amends": None,
    }


def test_event_id_is_stable_per_row_and_site_and_differs_between_rows():
    first = parse().record["event_id"]
    assert parse().record["event_id"] == first
    assert parse(id="12346").record["event_id"] != first
    assert moodle.parse_logstore_row(logstore_row(), site="other").record["event_id"] != first


def test_login_counts_although_its_edulevel_is_other():
    outcome = parse(eventname=moodle.LOGIN_EVENT, edulevel="0", contextlevel="10", objecttable="user")
    assert isinstance(outcome, Event)
    assert outcome.record["action"] == "user_loggedin"
    assert outcome.record["source"] == "vle"


@pytest.mark.parametrize("eventname", sorted(moodle.COURSEWORK_EVENTS))
def test_assignment_submission_and_feedback_are_coursework(eventname):
    assert parse(eventname=eventname, crud="u").record["source"] == "coursework"


def test_course_level_event_refers_to_its_object_and_site_course_has_no_course():
    outcome = parse(eventname="\\core\\event\\course_viewed", contextlevel="50", objecttable="NULL", courseid="0")
    assert outcome.record["object_ref"] is None
    assert outcome.record["course"] is None


# ---------------------------------------------------------------- logstore: skips


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"userid": "0"}, "not a person"),
        ({"userid": "-1"}, "not a person"),
        ({"realuserid": "2"}, "logged in as"),
        ({"origin": "cli"}, "system origin cli"),
        ({"origin": "cron"}, "system origin cron"),
        ({"origin": "restore"}, "system origin restore"),
        ({"anonymous": "1"}, "anonymous"),
        ({"edulevel": "1"}, "teaching action"),
        ({"edulevel": "0"}, "not a participating event"),
    ],
)
def test_rows_that_are_not_a_students_own_engagement_are_skipped(overrides, reason):
    outcome = parse(**overrides)
    assert isinstance(outcome, Skip)
    assert reason in outcome.reason


# ---------------------------------------------------------------- logstore: NULLs, other, ip


@pytest.mark.parametrize("null", ["NULL", "", "\\N"])
def test_sql_null_in_every_written_form(null):
    outcome = parse(relateduserid=null, realuserid=null, ip=null, other=null, objecttable=null, objectid=null)
    assert isinstance(outcome, Event)


@pytest.mark.parametrize(
    "other",
    [
        "N;",
        'a:1:{s:8:"username";s:5:"s1046";}',
        'a:2:{s:10:"modulename";s:4:"page";s:10:"instanceid";i:77;}',
        '{"username":"s1046"}',
        '{"modulename":"page","instanceid":77}',
        "[]",
        'b:1;',
    ],
)
def test_other_may_be_php_serialized_or_json(other):
    assert isinstance(parse(other=other), Event)


def test_parse_other_decodes_both_encodings_alike():
    assert moodle.parse_other('a:1:{s:8:"username";s:5:"s1046";}') == moodle.parse_other('{"username": "s1046"}')


@pytest.mark.parametrize("ip", ["2001:630:d0:f102::3e", "::1", "fe80::1ff:fe23:4567:890a", "192.168.0.1"])
def test_ipv4_and_ipv6_addresses(ip):
    assert isinstance(parse(ip=ip), Event)


# ---------------------------------------------------------------- logstore: rejections


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"id": "abc"}, "id is not an integer"),
        ({"id": ""}, "id is empty"),
        ({"timecreated": "yesterday"}, "timecreated is not an integer"),
        ({"timecreated": "99"}, "not a plausible Unix time"),
        ({"timecreated": "17888172580000"}, "not a plausible Unix time"),
        ({"userid": "NULL"}, "userid is empty"),
        ({"edulevel": "7"}, "edulevel is not 0, 1 or 2"),
        ({"crud": "x"}, "crud is not one of"),
        ({"eventname": "viewed a page"}, "eventname is not a Moodle event class"),
        ({"other": 'a:1:{s:8:"username";s:99:"s1046";}'}, "neither JSON nor PHP-serialized"),
        ({"other": "{not json"}, "neither JSON nor PHP-serialized"),
        ({"ip": "10.0.0.300"}, "not an IPv4 or IPv6"),
        ({"anonymous": "2"}, "anonymous is not 0 or 1"),
    ],
)
def test_malformed_rows_are_rejected_with_the_reason(overrides, reason):
    outcome = parse(**overrides)
    assert isinstance(outcome, Reject)
    assert reason in outcome.reason


@pytest.mark.parametrize("count", [0, 1, 20, 22, 30])
def test_wrong_column_count_is_rejected(count):
    outcome = moodle.parse_logstore_row(["1"] * count, site="s")
    assert outcome == Reject(f"expected 21 columns, found {count}")


# ---------------------------------------------------------------- logstore: every generated row


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_the_adapter_decides_every_sample_row_as_it_was_generated(seed):
    for row in generate(200, students=20, seed=seed):
        outcome = moodle.parse_logstore_row(row.fields, site="s")
        if row.intent == "publish":
            assert isinstance(outcome, Event), (row, outcome)
        else:
            assert isinstance(outcome, Skip), (row, outcome)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=21, max_size=21))
def test_arbitrary_21_field_rows_never_raise(fields):
    assert isinstance(moodle.parse_logstore_row(fields, site="s"), (Event, Skip, Reject))


# ---------------------------------------------------------------- Logs report


def report_row(**overrides: str) -> list[str]:
    row = {
        "Time": "7/09/26, 21:40:58",
        "User full name": "Amira Khan",
        "Affected user": "-",
        "Event context": "Page: Week 1 reading",
        "Component": "Page",
        "Event name": "Course module viewed",
        "Description": "The user with id '1046' viewed the 'page' activity with course module id '643'.",
        "Origin": "web",
        "IP address": "10.12.4.77",
    }
    row.update(overrides)
    return [row[c] for c in moodle.REPORT_COLUMNS]


def parse_report(fields=None, **kwargs):
    options = {"site": "essex", "position": "logs.csv:2", "has_course": False, "tz": LONDON}
    options.update(kwargs)
    return moodle.parse_report_row(fields if fields is not None else report_row(), **options)


def test_report_row_ids_come_from_the_description_and_time_from_the_local_zone():
    outcome = parse_report()
    assert isinstance(outcome, Event)
    record = outcome.record
    assert record["student_id"] == "1046"
    assert record["object_ref"] == "cm:643"
    assert record["action"] == "course_module_viewed"
    # 21:40:58 British Summer Time on 7 September 2026 is 20:40:58 UTC.
    assert record["event_time"] == 1788813658000
    assert record["source_ref"] == "moodle:essex:logs-report:logs.csv:2"


def test_report_time_respects_the_zone_across_the_dst_change():
    summer = moodle.parse_report_time("24/10/26, 12:00:00", LONDON, moodle.DEFAULT_REPORT_TIME_FORMATS)
    winter = moodle.parse_report_time("25/10/26, 12:00:00", LONDON, moodle.DEFAULT_REPORT_TIME_FORMATS)
    # 24 hours of local clock are 25 hours of real time across the October change.
    assert winter - summer == 25 * 3600 * 1000


def test_report_course_column_and_course_id_from_description():
    with_course = parse_report(["CE101", *report_row()], has_course=True)
    assert with_course.record["course"] == "CE101"
    viewed = parse_report(
        report_row(**{"Event name": "Course viewed", "Description": "The user with id '1046' viewed the course with id '12'."})
    )
    assert viewed.record["course"] == "12"


def test_report_event_id_is_stable_and_independent_of_position():
    assert parse_report().record["event_id"] == parse_report(position="other.csv:99").record["event_id"]
    assert parse_report().record["event_id"] != parse_report(report_row(Time="7/09/26, 21:40:59")).record["event_id"]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"User full name": "Admin User as Amira Khan"}, "logged in as"),
        ({"Origin": "cli"}, "system origin"),
        ({"User full name": "-"}, "anonymous"),
        ({"Description": "The user with id '0' viewed the course with id '12'."}, "not a person"),
        ({"Event name": "The submission has been graded."}, "not a participating event"),
    ],
)
def test_report_skips(overrides, reason):
    outcome = parse_report(report_row(**overrides))
    assert isinstance(outcome, Skip)
    assert reason in outcome.reason


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"Time": "32/09/26, 12:30:44"}, "matches none of the formats"),
        ({"Description": "The page activity was viewed."}, "names no user"),
        ({"IP address": "nope"}, "not an IPv4 or IPv6"),
    ],
)
def test_report_rejections(overrides, reason):
    outcome = parse_report(report_row(**overrides))
    assert isinstance(outcome, Reject)
    assert reason in outcome.reason


def test_report_time_format_can_be_given():
    outcome = parse_report(report_row(Time="09/07/2026 21:40"), time_formats=("%m/%d/%Y %H:%M",))
    assert outcome.record["event_time"] == 1788813600000


def test_row_parser_chooses_by_format():
    parse_row = moodle.row_parser(moodle.LOGSTORE, HEADER, site="s", location="/x/dump.csv", tz=LONDON)
    assert isinstance(parse_row(logstore_row(), 2), Event)
    parse_row = moodle.row_parser(
        moodle.LOGS_REPORT, ["Course", *moodle.REPORT_COLUMNS], site="s", location="/x/logs.csv", tz=LONDON
    )
    outcome = parse_row(["CE101", *report_row()], 5)
    assert outcome.record["source_ref"] == "moodle:s:logs-report:logs.csv:5"
