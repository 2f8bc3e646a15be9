import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.codec import MAGIC, Codec, CodecError, default_codec, fingerprint

EVENT_V1 = {
    "event_id": "7d4f0f0a-0000-5000-8000-000000000001",
    "student_id": "1046",
    "source": "vle",
    "action": "course_module_viewed",
    "event_time": 1_788_000_000_000,
    "course": "12",
    "object_ref": "cm:643",
    "quantity": None,
    "attendance_status": None,
    "source_ref": "moodle:moodle:logstore_standard_log:id=1",
}


def test_fingerprint_matches_the_avro_specification_test_vector():
    # Avro spec: the CRC-64-AVRO fingerprint of "int" is 8247732601305521295.
    assert int.from_bytes(fingerprint("int"), "little") == 8247732601305521295
    assert fingerprint("int").hex() == "8f5c393f1ad57572"


def test_encoding_is_single_object_with_the_writer_fingerprint():
    codec = default_codec()
    data = codec.encode("activity_event", {**EVENT_V1, "amends": None})
    assert data[:2] == MAGIC == b"\xc3\x01"
    assert data[2:10] == codec.current("activity_event").fingerprint


def test_round_trip_of_every_current_schema():
    codec = default_codec()
    records = {
        "activity_event": {**EVENT_V1, "amends": "e0"},
        "dead_letter": {
            "source": "moodle",
            "location": "/x.csv",
            "position": "line 3",
            "reason": "bad",
            "raw": b"\x00\xff",
            "rejected_at": 5,
            "context": b"id,eventname\n",
        },
        "band_change": {
            "change_id": "c1",
            "student_id": "s1",
            "cohort": "all",
            "previous_band": None,
            "new_band": "low",
            "score": 21.5,
            "as_of": 7,
            "cause": "day_rollover",
            "days_since_last_activity": 3,
            "explanation": json.dumps({"vle": 10}),
            "trigger_event_id": "e1",
            "trigger_time": 6,
            "input_offset": 41,
        },
        "student_state": {
            "student_id": "s1",
            "cohort": "P/Y1",
            "score": None,
            "band": "no_data",
            "days_since_last_activity": None,
            "day": 20_000,
            "explanation": "{}",
            "updated_at": 9,
            "input_offset": None,
            "term_score": 61.5,
            "term_active_days": 30,
            "term_days": 40,
        },
        "daily_summary": {
            "student_id": "s1", "cohort": "P/Y1", "day": 20_000, "score": 55.5, "band": "partial", "days_since_last_activity": 2,
            "term_score": None, "term_active_days": None, "term_days": None,
        },  # fmt: skip
        "clock_message": {"kind": "baseline", "at": 1, "cohort": "P/Y1", "day": 739_000, "medians": [1.0, 0.5], "used": [True, False], "members": 12},
        "cohort_message": {"kind": "contribution", "cohort": "P/Y1", "student_id": None, "day": 0, "measures": [], "at": 3,
                           "members": [{"student_id": "s1", "day": 739_000, "measures": [1.0, 2.0]}]},  # fmt: skip
        "identity": {"identity": "card_number:0412345", "student_id": "2300001", "loaded_from": "identities.csv:2"},
        "quarantined_event": {
            "identity": "panopto_user_id:0b6f", "source": "panopto", "location": "usage.csv", "position": "line 2",
            "reason": "panopto_user_id '0b6f' is not in the identity map", "event": b"\x00\x01", "quarantined_at": 1_795_000_000_000,
        },  # fmt: skip
        "tail_checkpoint": {"tail": "moodle:essex", "high": 1046, "gap_ids": [1040], "gap_since": [1_795_000_000_000], "committed_at": 1_795_000_000_500},
        "roster_entry": {
            "student_id": "2300001",
            "programme": "BSC-CS",
            "year_of_study": 2,
            "mode_of_study": "part_time",
            "personal_tutor_id": None,
            "department": "CSEE",
            "status": "placement",
        },
    }
    assert sorted(records) == codec.names
    for name, record in records.items():
        assert codec.decode(codec.encode(name, record), expect=name) == record


def test_band_change_v1_reads_as_current_without_trigger_or_watermark():
    codec = default_codec()
    v1 = {
        "change_id": "c1", "student_id": "s1", "cohort": "all", "previous_band": "good", "new_band": "low",
        "score": 30.0, "as_of": 7, "cause": "activity", "days_since_last_activity": 0, "explanation": "{}",
    }  # fmt: skip
    assert codec.decode(codec.encode("band_change", v1, version=1)) == {**v1, "trigger_event_id": None, "trigger_time": None, "input_offset": None}


def test_a_message_written_with_an_old_version_is_read_into_the_current_one():
    codec = default_codec()
    assert codec.current("activity_event").version == 2
    old = codec.encode("activity_event", EVENT_V1, version=1)
    assert codec.writer_of(old).version == 1
    decoded = codec.decode(old)
    assert decoded == {**EVENT_V1, "amends": None}


def test_unknown_fingerprint_is_a_clear_error():
    codec = default_codec()
    data = bytearray(codec.encode("activity_event", {**EVENT_V1, "amends": None}))
    data[2:10] = b"\x01" * 8
    with pytest.raises(CodecError, match="unknown schema fingerprint 0101010101010101"):
        codec.decode(bytes(data))


def test_not_single_object_encoding_is_a_clear_error():
    with pytest.raises(CodecError, match="not an Avro single-object"):
        default_codec().decode(b'{"json": true}')
    with pytest.raises(CodecError, match="starts empty"):
        default_codec().decode(b"")


def test_wrong_record_kind_and_truncated_and_padded_bodies_are_errors():
    codec = default_codec()
    data = codec.encode("activity_event", {**EVENT_V1, "amends": None})
    with pytest.raises(CodecError, match="is a activity_event, expected a band_change"):
        codec.decode(data, expect="band_change")
    with pytest.raises(CodecError, match="corrupt"):
        codec.decode(data[:-5])
    with pytest.raises(CodecError, match="left over"):
        codec.decode(data + b"\x00")


def test_a_record_that_does_not_fit_its_schema_is_an_error():
    with pytest.raises(CodecError, match="does not fit activity_event"):
        default_codec().encode("activity_event", {**EVENT_V1, "source": "telepathy", "amends": None})


def test_schema_files_must_be_named_with_a_version(tmp_path):
    (tmp_path / "thing.avsc").write_text('"int"')
    with pytest.raises(CodecError, match="named <name>.v<N>.avsc"):
        Codec(tmp_path)


def test_two_files_with_the_same_canonical_schema_are_refused(tmp_path):
    (tmp_path / "a.v1.avsc").write_text('{"type": "record", "name": "A", "fields": []}')
    (tmp_path / "a.v2.avsc").write_text('{"type": "record", "name": "A", "doc": "same", "fields": []}')
    with pytest.raises(CodecError, match="same canonical schema"):
        Codec(tmp_path)


text = st.text(max_size=40)
events = st.fixed_dictionaries(
    {
        "event_id": text,
        "student_id": text,
        "source": st.sampled_from(["vle", "coursework", "lecture_capture", "attendance", "logins", "library"]),
        "action": text,
        "event_time": st.integers(min_value=-(2**62), max_value=2**62),
        "course": st.none() | text,
        "object_ref": st.none() | text,
        "quantity": st.none() | st.floats(allow_nan=False),
        "attendance_status": st.none() | st.sampled_from(["present", "late", "absent", "authorised_absence"]),
        "source_ref": text,
        "amends": st.none() | text,
    }
)


@given(events)
def test_any_activity_event_round_trips(event):
    codec = default_codec()
    assert codec.decode(codec.encode("activity_event", event)) == event


@given(events)
def test_any_v1_event_reads_as_current_with_amends_null(event):
    codec = default_codec()
    v1 = {k: v for k, v in event.items() if k != "amends"}
    assert codec.decode(codec.encode("activity_event", v1, version=1)) == {**v1, "amends": None}
