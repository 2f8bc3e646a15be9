"""The identity map's pure core: reading identities files, resolving events, refusing contradictions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap.vocabulary import IDENTITY_NAMESPACES, identity_key
from producers.identities import IdentityMap, Unknown, identity_columns, parse_identity_row
from producers.identity_map import identity_outcomes
from producers.outcome import CsvRecord, Event, Reject, activity


def event(student: str, identity: str) -> Event:
    return activity(reference="r", student_id=student, source="vle", action="viewed", event_time_ms=1_795_000_000_000, source_ref="f:1", identity=identity)


@pytest.mark.parametrize(
    ("namespace", "value", "key"),
    [
        ("windows_account", "ESSEX\\AB12345", "windows_account:ab12345"),
        ("windows_account", " ab12345 ", "windows_account:ab12345"),
        ("email", "Ann.Smith@Essex.ac.uk", "email:ann.smith@essex.ac.uk"),
        ("panopto_user_id", "{0B6F9A1C-2D3E-4F50-8A9B-0C1D2E3F4A5B}", "panopto_user_id:0b6f9a1c-2d3e-4f50-8a9b-0c1d2e3f4a5b"),
        ("card_number", "00412345", "card_number:00412345"),  # leading zeros are part of a card number
        ("moodle_user_id", "1046", "moodle_user_id:1046"),
    ],
)
def test_identities_are_written_the_way_their_system_compares_them(namespace, value, key):
    assert identity_key(namespace, value) == key


@pytest.mark.parametrize(("namespace", "value", "problem"), [("shoe_size", "9", "unknown identity namespace"), ("username", "  ", "empty username")])
def test_an_unknown_namespace_or_empty_value_is_refused(namespace, value, problem):
    with pytest.raises(ValueError, match=problem):
        identity_key(namespace, value)


def test_resolving_rewrites_the_student_and_leaves_student_ids_alone():
    known = IdentityMap({"moodle_user_id:1046": "2300001"})
    resolved = known.resolve(event("1046", "moodle_user_id"))
    assert isinstance(resolved, Event) and resolved.record["student_id"] == "2300001" and resolved.identity == "student_id"
    assert resolved.record["event_id"] == event("1046", "moodle_user_id").record["event_id"]  # the same event, now keyed by student
    direct = event("2300009", "student_id")
    assert known.resolve(direct) is direct


def test_an_unknown_person_is_unknown_with_the_identity_and_why():
    outcome = IdentityMap().resolve(event("ESSEX\\zz999", "windows_account"))
    assert outcome == Unknown("windows_account:zz999", "windows_account 'ESSEX\\\\zz999' is not in the identity map")


def test_a_tombstone_forgets():
    known = IdentityMap({"card_number:1": "s1"})
    known.learn("card_number:1", None)
    assert isinstance(known.resolve(event("1", "card_number")), Unknown) and len(known) == 0


def test_an_identities_header_needs_student_id_and_an_identity():
    assert identity_columns(["\ufeffStudent_ID", "programme", "card_number", "email"]) == {"student_id": 0, "card_number": 2, "email": 3}
    with pytest.raises(ValueError, match="no student_id column"):
        identity_columns(["card_number"])
    with pytest.raises(ValueError, match="no identity column"):
        identity_columns(["student_id", "programme"])


def test_a_row_maps_each_of_its_non_empty_identities_to_its_student():
    columns = identity_columns(["student_id", "moodle_user_id", "card_number", "username"])
    assert parse_identity_row(columns, ["2300001", "1046", "", "AB12345"]) == [
        ("student_id:2300001", "2300001"), ("moodle_user_id:1046", "2300001"), ("username:ab12345", "2300001"),
    ]  # fmt: skip
    assert parse_identity_row(columns, ["", "1046", "", ""]) == Reject("student_id is empty")
    assert isinstance(parse_identity_row(columns, ["2300001"]), Reject)


def test_a_file_giving_one_identity_to_two_students_rejects_the_second_row():
    columns = identity_columns(["student_id", "card_number"])
    rows = [CsvRecord(2, "a", ["s1", "0001"]), CsvRecord(3, "b", ["s2", "0001"]), CsvRecord(4, "c", ["s3", "0003"])]
    outcomes = [o for _, o in identity_outcomes(rows, columns, "ids.csv")]
    assert [type(o).__name__ for o in outcomes] == ["Event", "Reject", "Event"]
    assert outcomes[1].reason == "card_number '0001' already belongs to another student"
    assert outcomes[2].record["loaded_from"] == "ids.csv:4"


@given(st.sampled_from(IDENTITY_NAMESPACES), st.text(max_size=80), st.dictionaries(st.text(max_size=20), st.text(min_size=1, max_size=10), max_size=5))
def test_resolving_anything_never_raises(namespace, value, entries):
    outcome = IdentityMap(entries).resolve(event(value or "x", namespace))
    assert isinstance(outcome, (Event, Unknown))
    if isinstance(outcome, Unknown):
        assert outcome.reason
