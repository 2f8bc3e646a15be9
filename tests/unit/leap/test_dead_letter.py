"""Dead-letter records: whole when small, cut to a size Kafka accepts when not, always with the reason."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leap.dead_letter import MAX_RAW_BYTES, MAX_REASON_CHARS, dead_letter_record, reason_kind, summarise
from schemas.codec import default_codec


@given(st.binary(max_size=3 * MAX_RAW_BYTES), st.text(min_size=1, max_size=3 * MAX_REASON_CHARS))
def test_a_dead_letter_keeps_the_head_of_the_record_and_says_how_long_it_was(raw, reason):
    record = dead_letter_record(source="moodle", location="log.csv", position="row 7", reason=reason, raw=raw, rejected_at=5)
    assert record["raw"] == raw[:MAX_RAW_BYTES]
    assert record["reason"].startswith(reason[:MAX_REASON_CHARS - 1])
    if len(raw) > MAX_RAW_BYTES:
        assert f"record of {len(raw):,} bytes" in record["reason"]
    else:
        assert "bytes: the first" not in record["reason"]
    assert (record["source"], record["location"], record["position"], record["rejected_at"]) == ("moodle", "log.csv", "row 7", 5)
    # Whatever went in, the encoded record stays far below Kafka's 1 MB message limit.
    assert len(default_codec().encode("dead_letter", record)) < 100_000


def test_dead_letters_are_summarised_by_source_and_kind_of_reason_not_by_value():
    letters = [
        {"source": "events", "reason": "source 'gym' is not one of vle, attendance"},
        {"source": "events", "reason": "source 'pool' is not one of vle, attendance"},
        {"source": "moodle", "reason": "expected 21 columns, found 3"},
        {"source": "engine", "reason": "source 'gym' is not one of vle, attendance"},
    ]
    assert summarise(letters) == {
        ("events", "source … is not one of vle, attendance"): 2,
        ("moodle", "expected … columns, found …"): 1,
        ("engine", "source … is not one of vle, attendance"): 1,
    }


def test_dates_and_times_are_elided_whole_so_one_kind_of_reason_is_one_line():
    days = [reason_kind(f"event day 2026-09-0{d} is older than the 42-day retention") for d in (7, 8)]
    assert days == ["event day … is older than the …-day retention"] * 2
    assert reason_kind("event time 2026-11-20T10:00:00+00:00 is in the future") == "event time … is in the future"
