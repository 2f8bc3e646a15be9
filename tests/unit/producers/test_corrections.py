"""Corrections from upheld data queries: the event they stand for."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from leap.calendar import local_instant
from producers.corrections import CorrectionError, correction_event, correction_hook
from schemas.codec import default_codec

LONDON = ZoneInfo("Europe/London")


def test_an_attendance_correction_is_a_present_mark_at_the_stated_time_and_encodes():
    at = local_instant("2026-12-01 10:00", LONDON)
    event = correction_event(42, "s1", "attendance", at).record
    assert event["attendance_status"] == "present" and event["source"] == "attendance" and event["student_id"] == "s1"
    assert event["event_time"] == int(datetime(2026, 12, 1, 10, tzinfo=LONDON).timestamp() * 1000)
    assert "data query 42" in event["source_ref"] and event["amends"] is None
    assert default_codec().decode(default_codec().encode("activity_event", event))["event_id"] == event["event_id"]


def test_the_same_query_always_gives_the_same_event_id_and_another_query_another():
    at = local_instant("2026-12-01T10:00", LONDON)
    assert correction_event(1, "s1", "vle", at).record["event_id"] == correction_event(1, "s1", "vle", at).record["event_id"]
    assert correction_event(1, "s1", "vle", at).record["event_id"] != correction_event(2, "s1", "vle", at).record["event_id"]


def test_a_correction_can_amend_the_register_mark_and_lecture_capture_has_minutes():
    at = local_instant("2026-12-01T10:00", LONDON)
    assert correction_event(3, "s1", "attendance", at, amends="abc").record["amends"] == "abc"
    assert correction_event(3, "s1", "lecture_capture", at).record["quantity"] > 0


@pytest.mark.parametrize("source, at", [(None, "2026-12-01T10:00"), ("telepathy", "2026-12-01T10:00"), ("vle", None)])
def test_a_correction_without_source_or_time_is_refused_with_the_reason(source, at):
    with pytest.raises(CorrectionError):
        correction_event(1, "s1", source, None if at is None else local_instant(at, LONDON))


def test_the_hook_publishes_nothing_for_a_query_about_no_activity():
    hook = correction_hook(None, None, None)  # type: ignore[arg-type]  # never touched: nothing to publish
    assert hook({"query_id": 1, "student_id": "s1", "activity_source": None, "activity_at": None}) is None


def test_local_instant_reads_what_people_type_and_refuses_the_rest():
    assert local_instant("2026-07-01 09:30", LONDON).utcoffset().total_seconds() == 3600
    with pytest.raises(ValueError, match="not a date and time"):
        local_instant("yesterday", LONDON)
