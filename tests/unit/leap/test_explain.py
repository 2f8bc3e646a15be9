"""Explanations in plain words: the sentences people read, for any explanation the engine (or a bug) writes."""

from __future__ import annotations

import copy
import json
import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leap.explain import DEFAULT_DISPLAY_NAMES, band_name, explain
from leap.policy import SOURCES, DailyCaps, Engagement
from leap.wording import bounded, day_text, join, number, one_decimal, range_text


def src(source, measure, reference, score, status, weight=1.0, capped_days=0):
    return {"source": source, "measure": measure, "reference": reference, "score": score, "weight": weight, "status": status, "capped_days": capped_days}


V2 = {
    "version": 2,
    "cohort": "BSC-CS/Y2",
    "as_of_day": "2026-11-29",
    "window": ["2026-11-23", "2026-11-29"],
    "window_kind": "complete_days",
    "window_days": 7,
    "reference_group": {"key": "cohort:BSC-CS/Y2:full_time", "label": "BSC-CS/Y2 full-time students", "size": 34, "level": "cohort"},
    "baseline_day": "2026-11-29",
    "score": 73.42,
    "band": "good",
    "band_by_score": "good",
    "bands": {"high": 80, "good": 60, "partial": 40, "low": 20, "margin": 2.0},
    "days_since_last_activity": 0,
    "last_active_day": "2026-11-29",
    "sources": [
        src("attendance", 3, 4, 75.0, "scored", 3.0),
        src("vle", 12.2857, 9.0, 100.0, "scored", 2.0),
        src("coursework", 0.2857, 0.1429, 100.0, "scored", 2.0),
        src("lecture_capture", 4.5, 12.0, 37.5, "scored"),
        src("logins", 1.0, 2.0, 50.0, "scored"),
        src("library", 0.1429, 0.2857, 50.0, "scored"),
    ],
}


def v2(**changes):
    e = copy.deepcopy(V2)
    e.update(changes)
    return e


def with_source(e, source, **changes):
    e = copy.deepcopy(e)
    for s in e["sources"]:
        if s["source"] == source:
            s.update(changes)
    return e


def line(result, source):
    return next(s.text for s in result.sources if s.source == source)


# ---- numbers and dates --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (0.04, "less than 0.1"), (0.05, "0.1"), (1, "1"), (4.5, "4.5"), (4.45, "4.5"), (9.0, "9"), (9.94, "9.9"),
     (9.96, "10"), (10.4, "10"), (12.2857, "12"), (37.5, "38"), (58.5, "59"), (1234.5, "1,235"), (-3.25, "-3.3")],
)
def test_numbers_are_whole_from_10_and_have_one_decimal_below(value, text):
    assert number(value) == text


def test_a_rounded_score_never_crosses_its_band_boundary():
    assert bounded(79.6, 60, 80) == "79"
    assert bounded(79.4, 60, 80) == "79"
    assert bounded(73.5, 60, 80) == "74"
    assert bounded(99.7, 0, 100) == "99"
    assert bounded(9.96, 0, 10) == "9.9"
    assert bounded(60.45, 60.4, 80) == "60.4"
    assert bounded(100, 0, 100) == "100"


def test_a_score_next_to_a_boundary_is_rounded_down_to_one_decimal():
    assert one_decimal(58.59) == "58.5" and one_decimal(61.0) == "61" and one_decimal(59.99) == "59.9"


def test_dates_and_ranges_are_en_gb():
    assert day_text(date(2026, 11, 3)) == "3 Nov 2026"
    assert range_text(date(2026, 11, 23), date(2026, 11, 29)) == "23–29 Nov 2026"
    assert range_text(date(2026, 11, 28), date(2026, 12, 4)) == "28 Nov – 4 Dec 2026"
    assert range_text(date(2026, 12, 29), date(2027, 1, 4)) == "29 Dec 2026 – 4 Jan 2027"
    assert range_text(date(2026, 11, 29), date(2026, 11, 23)) == "23–29 Nov 2026"
    assert range_text(date(2026, 11, 29), date(2026, 11, 29)) == "29 Nov 2026"


def test_lists_join_without_a_serial_comma():
    assert join(["a"]) == "a" and join(["a", "b"]) == "a and b" and join(["a", "b", "c"]) == "a, b and c"


def test_bands_have_words():
    assert [band_name(b) for b in ("high", "good", "partial", "low", "very_low", "no_data", "odd", None)] == [
        "High", "Good", "Partial", "Low", "Very low", "No data", "No data", "No data"]  # fmt: skip


# ---- the sentences --------------------------------------------------------------------------


def test_the_headline_names_the_band_its_score_and_its_range():
    assert explain(V2).headline == "Good — engagement score 73 out of 100 (Good is 60 to 79)."
    assert explain(v2(score=85.0, band="high", band_by_score="high")).headline == "High — engagement score 85 out of 100 (High is 80 or more)."
    assert explain(v2(score=4.25, band="very_low", band_by_score="very_low")).headline == "Very low — engagement score 4.3 out of 100 (Very low is below 20)."
    assert explain(v2(score=79.7)).headline == "Good — engagement score 79 out of 100 (Good is 60 to 79)."
    odd_bounds = {"high": 85, "good": 62.5, "partial": 40, "low": 20, "margin": 1}
    assert explain(v2(bands=odd_bounds)).headline == "Good — engagement score 73 out of 100 (Good is 62.5 up to 85)."


def test_no_data_says_there_is_no_score():
    result = explain(v2(score=None, band="no_data", band_by_score="no_data"))
    assert result.headline == "No data — there is no engagement score yet, because no source counts."
    assert result.band == "no_data" and result.band_name == "No data"


def test_the_window_sentence_names_the_days_and_the_group():
    assert explain(V2).window == "Over the 7 days 23–29 Nov 2026, compared with 34 BSC-CS/Y2 full-time students."
    assert explain(v2(window=["2026-11-28", "2026-12-04"])).window.startswith("Over the 7 days 28 Nov – 4 Dec 2026,")
    assert explain(v2(window=["2026-11-29", "2026-11-29"])).window.startswith("Over the day 29 Nov 2026,")
    assert explain(v2(window=None)).window == "As of 29 Nov 2026."


def test_attendance_is_sessions_attended_of_expected():
    assert line(explain(V2), "attendance") == "Attendance: attended 3 of 4 expected sessions (75%)."
    one = with_source(V2, "attendance", measure=1, reference=1, score=100.0)
    assert line(explain(one), "attendance") == "Attendance: attended 1 of 1 expected session (100%)."
    most = with_source(V2, "attendance", measure=249, reference=250, score=99.6)
    assert line(explain(most), "attendance") == "Attendance: attended 249 of 250 expected sessions (99%)."
    none = with_source(V2, "attendance", measure=0, reference=0, score=None, status="no_sessions")
    assert line(explain(none), "attendance") == "Attendance: no sessions were expected, so it does not count."


def test_each_source_is_the_students_figure_against_the_typical_student():
    result = explain(V2)
    assert line(result, "vle") == "Moodle: 12 actions a day; your course's typical student 9 — counts in full."
    assert line(result, "lecture_capture") == "Listen Again (lecture capture): 4.5 minutes a day; your course's typical student 12 minutes — 38 out of 100."
    assert line(result, "logins") == "University PC logins: 1 login a day; your course's typical student 2 — 50 out of 100."
    assert line(result, "library") == "Library: 0.1 visits or loans a day; your course's typical student 0.3 — 50 out of 100."
    staff = explain(V2, "staff")
    assert line(staff, "vle") == "Moodle: 12 actions a day; typical student in the group 9 — counts in full."


def test_the_typical_student_belongs_to_the_group_actually_compared_with():
    for level, owner in [("programme", "your programme's"), ("department", "your department's"), ("institution", "the university's"), ("institution_mode", "the university's")]:
        e = v2(reference_group={"label": "students", "size": 400, "level": level})
        assert f"; {owner} typical student 9" in line(explain(e), "vle")


def test_sources_that_do_not_count_say_so_and_the_notes_say_why():
    e = with_source(V2, "coursework", measure=0, reference=0, score=None, status="group_did_not_use")
    result = explain(e)
    assert line(result, "coursework") == "Coursework: none; your course's typical student none — does not count."
    assert "Coursework does not count this week: most students in your group did not submit any, and neither did you." in result.notes
    assert "Coursework does not count this week: most students in the group did not submit any, and neither did the student." in explain(e, "staff").notes
    e = with_source(e, "library", measure=0, reference=0, score=None, status="group_did_not_use")
    assert "Coursework and library do not count this week: most students in your group did not use them, and neither did you." in explain(e).notes


def test_a_source_the_student_alone_used_counts_in_full():
    e = with_source(V2, "logins", measure=0.4, reference=0, score=100.0, status="used_when_group_did_not")
    result = explain(e)
    assert line(result, "logins") == "University PC logins: 0.4 logins a day; your course's typical student none — counts in full."
    assert "University PC logins count in full: most students in your group did not use them this week, but you did." in result.notes


def test_nobody_used_and_no_baseline_notes():
    e = with_source(V2, "library", score=None, status="nobody_used")
    assert line(explain(e), "library") == "Library: 0.1 visits or loans a day — does not count."
    assert "Library does not count: nobody in your group used it recently." in explain(e).notes
    e = v2(sources=[src("attendance", 3, 4, 75.0, "scored", 3.0), src("vle", 5, None, None, "no_baseline", 2.0), src("coursework", 0, None, None, "no_baseline", 2.0)])
    result = explain(e, "staff")
    assert line(result, "vle") == "Moodle: 5 actions a day — does not count yet."
    assert "Moodle and coursework do not count yet: there are no figures from the group to compare with so far." in result.notes


def test_a_group_too_small_leaves_only_attendance():
    others = [src(s, 1.0, None, None, "group_too_small") for s in SOURCES if s != "attendance"]
    e = v2(reference_group=None, sources=[src("attendance", 3, 4, 75.0, "scored", 3.0), *others])
    result = explain(e)
    assert "Fewer than 10 students to compare with, so only attendance counts." in result.notes
    assert result.window == "Over the 7 days 23–29 Nov 2026."
    partly = v2(sources=[src("attendance", 3, 4, 75.0, "scored", 3.0), src("vle", 1.0, None, None, "group_too_small"), src("library", 1, 1, 100.0, "scored")])
    assert "Fewer than 10 students to compare with, so Moodle does not count." in explain(partly).notes


def test_a_held_band_is_explained():
    held = v2(score=58.53, band="good", band_by_score="partial")
    result = explain(held)
    assert result.headline == "Good — engagement score 58.5 out of 100 (Good is 60 to 79)."
    assert "Your band stays Good although your score (58.5) is below 60: a band changes only when the score passes a boundary by 2 points." in result.notes
    assert "The band stays Good although the student's score (58.5) is below 60: a band changes only when the score passes a boundary by 2 points." in explain(held, "staff").notes
    rising = v2(score=61.5, band="partial", band_by_score="good")
    assert "Your band stays Partial although your score (61.5) is 60 or more: a band changes only when the score passes a boundary by 2 points." in explain(rising).notes
    one_point = v2(score=58.53, band="good", band_by_score="partial", bands={**V2["bands"], "margin": 1})
    assert any(n.endswith("by 1 point.") for n in explain(one_point).notes)
    assert not any("stays" in n for n in explain(V2).notes)


def test_a_window_including_today_is_explained():
    e = v2(window_kind="including_today")
    assert "Today counts towards your figures only when it helps: the window is the last 6 complete days and today so far." in explain(e).notes
    assert "Today counts towards the student's figures only when it helps: the window is the last 20 complete days and today so far." in explain(
        v2(window_kind="including_today", window_days=21), "staff").notes  # fmt: skip
    assert not any("Today" in n for n in explain(V2).notes)


def test_daily_caps_are_named_with_the_policys_cap():
    e = with_source(V2, "vle", capped_days=1)
    assert "On 1 day your Moodle figure was capped at 200 actions (so a stuck client or a script cannot raise a band)." in explain(e, engagement=Engagement()).notes
    e = with_source(e, "lecture_capture", capped_days=3)
    notes = explain(e, "staff", engagement=Engagement(daily_caps=DailyCaps(lecture_capture_minutes=240))).notes
    assert "On 3 days the student's Listen Again (lecture capture) figure was capped at 240 minutes (so a stuck client or a script cannot raise a band)." in notes
    assert "On 1 day your Moodle figure was capped at the daily limit (so a stuck client or a script cannot raise a band)." in explain(e).notes


def test_last_activity():
    assert explain(V2).last_activity == "Last activity: today (29 Nov 2026)."
    assert explain(v2(days_since_last_activity=1, last_active_day="2026-11-28")).last_activity == "Last activity: yesterday (28 Nov 2026)."
    assert explain(v2(days_since_last_activity=3, last_active_day=None)).last_activity == "Last activity: 3 days ago (26 Nov 2026)."
    assert explain(v2(days_since_last_activity=None, last_active_day=None)).last_activity == "Last activity: no activity recorded."
    no_key = v2()
    del no_key["days_since_last_activity"], no_key["last_active_day"]
    assert explain(no_key).last_activity == ""


def test_display_names_can_be_overridden():
    result = explain(V2, names={"vle": "Blackboard", "library": "  ", "unknown": "x"})
    assert line(result, "vle").startswith("Blackboard: ") and line(result, "library").startswith("Library: ")


def test_a_source_the_policy_weighs_zero_is_not_used():
    e = with_source(V2, "library", weight=0.0)
    assert line(explain(e), "library").endswith("— not used in the score.")


def test_to_text_and_to_dict():
    result = explain(with_source(V2, "vle", capped_days=2))
    text = result.to_text()
    assert text.splitlines()[0] == result.headline and text.splitlines()[1] == result.window
    assert "  Moodle: 12 actions a day" in text and "Notes:\n  - On 2 days your Moodle figure" in text
    data = json.loads(json.dumps(result.to_dict()))
    assert data["band"] == "good" and data["sources"][1] == {"source": "vle", "name": "Moodle", "text": line(result, "vle"), "counts": True}


def test_an_unknown_viewer_is_a_programming_error():
    with pytest.raises(ValueError, match="viewer"):
        explain(V2, "parent")  # type: ignore[arg-type]


# ---- version 1 records ----------------------------------------------------------------------

V1 = {
    "cohort": "BSC-CS/Y3",
    "window": ["2026-11-23", "2026-11-29"],
    "baseline_day": "2026-11-29",
    "score": 94.0,
    "days_since_last_activity": 2,
    "sources": [
        {"source": "attendance", "measure": 8, "reference": 10, "score": 80.0, "weight": 3, "note": "attended / expected sessions"},
        {"source": "vle", "measure": 5.0, "reference": 4.7, "score": 100.0, "weight": 2, "note": "100 x measure / cohort median, capped at 100"},
        {"source": "coursework", "measure": 0.0, "reference": 0.0, "score": None, "weight": 2, "note": "most of the cohort did not use it and neither did the student"},
        {"source": "lecture_capture", "measure": 0.0, "reference": 0.0, "score": None, "weight": 1, "note": "nobody in the cohort used it in the baseline window"},
        {"source": "logins", "measure": 1.0, "reference": 0.0, "score": 100.0, "weight": 1, "note": "most of the cohort did not use it; using it counts fully"},
        {"source": "library", "measure": 1.0, "reference": None, "score": None, "weight": 1, "note": "no cohort baseline yet"},
    ],
}


def test_a_version_1_record_reads_as_well_as_it_can():
    result = explain(V1, "staff")
    assert result.headline == "High — engagement score 94 out of 100 (High is 80 or more)."
    assert result.window == "Over the 7 days 23–29 Nov 2026, compared with other students in BSC-CS/Y3."
    assert line(result, "attendance") == "Attendance: attended 8 of 10 expected sessions (80%)."
    assert line(result, "vle") == "Moodle: 5 actions a day; typical student in the group 4.7 — counts in full."
    assert line(result, "coursework") == "Coursework: none; typical student in the group none — does not count."
    assert line(result, "logins").endswith("— counts in full.")
    assert "Listen Again (lecture capture) does not count: nobody in the group used it recently." in result.notes
    assert "Library does not count yet: there are no figures from the group to compare with so far." in result.notes
    assert result.last_activity == "Last activity: 2 days ago (27 Nov 2026)."
    v1_no_sessions = {**V1, "sources": [{"source": "attendance", "measure": 0, "reference": 0, "score": None, "weight": 3, "note": "no sessions expected in the window"}]}
    assert line(explain(v1_no_sessions), "attendance") == "Attendance: no sessions were expected, so it does not count."


def test_a_band_missing_from_a_record_follows_its_score_and_the_policys_bands():
    assert explain({"score": 55.0}, engagement=Engagement(bands={"high": 90, "good": 50, "partial": 30, "low": 10})).band == "good"
    assert explain({"score": 55.0}).band == "partial"


def test_json_text_is_read_too():
    assert explain(json.dumps(V2)).headline == explain(V2).headline
    assert explain("not json").headline.startswith("No data")


# ---- properties: never raises, never leaks ---------------------------------------------------

INTERNAL = re.compile(
    r"\b(vle|measure|reference|status|no_baseline|group_too_small|nobody_used|group_did_not_use|used_when_group_did_not|"
    r"no_sessions|scored|lecture_capture|very_low|no_data|band_by_score|window_kind|window_days|including_today|"
    r"complete_days|capped_days|reference_group|days_since_last_activity|last_active_day|as_of_day|baseline_day|"
    r"institution_mode|unassigned|None|null|nan|inf)\b"
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
KEYS = [*V2, "note"]
SOURCE_KEYS = ["source", "measure", "reference", "score", "weight", "status", "capped_days", "note"]
odd_source = st.fixed_dictionaries({}, optional={k: st.sampled_from(SOURCES) | json_values if k == "source" else json_values for k in SOURCE_KEYS})
odd = st.fixed_dictionaries({}, optional={k: st.lists(odd_source, max_size=7) | json_values if k == "sources" else json_values for k in KEYS})


def _check(result):
    assert isinstance(result.to_text(), str) and result.headline
    json.dumps(result.to_dict())


@settings(max_examples=300)
@given(st.one_of(json_values, odd))
def test_anything_at_all_renders_without_raising(explanation):
    for viewer in ("student", "staff"):
        _check(explain(explanation, viewer, engagement=Engagement()))
        _check(explain(explanation, viewer))


figure = st.floats(0, 500, allow_nan=False) | st.integers(0, 50)
STATUS_OF = {
    "attendance": ["scored", "no_sessions"],
    **{s: ["scored", "no_baseline", "group_too_small", "nobody_used", "group_did_not_use", "used_when_group_did_not"] for s in SOURCES if s != "attendance"},
}


@st.composite
def valid_explanations(draw):
    first = draw(st.dates(date(2020, 1, 1), date(2035, 1, 1)))
    days = draw(st.sampled_from([7, 21]))
    last = date.fromordinal(first.toordinal() + days - 1)
    score = draw(st.none() | st.floats(0, 100))
    band = draw(st.sampled_from(["very_low", "low", "partial", "good", "high"])) if score is not None else "no_data"
    sources = []
    for source in SOURCES:
        status = draw(st.sampled_from(STATUS_OF[source]))
        reference = None if status in ("no_baseline", "group_too_small") else draw(figure)
        part = draw(st.floats(0, 100)) if status in ("scored", "used_when_group_did_not") else None
        sources.append(src(source, draw(figure), reference, part, status, draw(st.sampled_from([0.0, 1.0, 3.0])), draw(st.integers(0, days))))
    group = draw(st.none() | st.builds(lambda n, level: {"key": "k", "label": "BSC-CS/Y2 full-time students", "size": n, "level": level},
                                       st.integers(10, 5000), st.sampled_from(["cohort", "programme", "department", "institution_mode", "institution"])))  # fmt: skip
    since = draw(st.none() | st.integers(0, 40))
    return {
        "version": 2, "cohort": draw(st.sampled_from(["BSC-CS/Y2", "unassigned", "MA-HIST/Y1"])), "as_of_day": last.isoformat(),
        "window": [first.isoformat(), last.isoformat()], "window_kind": draw(st.sampled_from(["complete_days", "including_today"])),
        "window_days": days, "reference_group": group, "baseline_day": last.isoformat(), "score": score, "band": band,
        "band_by_score": draw(st.sampled_from([band, "partial"])) if score is not None else "no_data",
        "bands": {"high": 80, "good": 60, "partial": 40, "low": 20, "margin": draw(st.sampled_from([0, 1, 2.0, 2.5]))},
        "days_since_last_activity": since, "last_active_day": None if since is None else date.fromordinal(last.toordinal() - since).isoformat(),
        "sources": sources,
    }  # fmt: skip


@settings(max_examples=300)
@given(valid_explanations(), st.sampled_from(["student", "staff"]))
def test_valid_explanations_never_show_internal_names_or_long_decimals(explanation, viewer):
    result = explain(explanation, viewer, engagement=Engagement())
    text = result.to_text()
    assert not INTERNAL.search(text), INTERNAL.search(text)
    assert not re.search(r"\d\.\d\d", text), text
    assert len(result.sources) == len(SOURCES)
    assert [s.name for s in result.sources] == [DEFAULT_DISPLAY_NAMES[s] for s in SOURCES]
    if viewer == "staff":
        assert not re.search(r"\b(you|your)\b", text, re.I), text
    else:
        assert "the student" not in text
    if explanation["score"] is not None:
        shown = re.search(r"engagement score (less than 0.1|[\d.,]+) out of 100", result.headline)
        assert shown, result.headline
        assert abs(float(shown.group(1).replace("less than ", "")) - explanation["score"]) <= 1


@given(valid_explanations())
def test_every_source_that_does_not_count_is_explained_in_a_note(explanation):
    result = explain(explanation)
    notes = " ".join(result.notes)
    for source, line_ in zip(explanation["sources"], result.sources, strict=True):
        if source["source"] != "attendance" and source["weight"] and source["status"] not in ("scored",):
            named = DEFAULT_DISPLAY_NAMES[source["source"]].lower() in notes.lower()
            assert named or (source["status"] == "group_too_small" and "so only attendance counts" in notes), (line_, notes)
        if source["capped_days"] and source["source"] != "attendance":
            assert f"your {DEFAULT_DISPLAY_NAMES[source['source']]} figure was capped" in notes


@given(st.floats(allow_nan=False, allow_infinity=False), st.none() | st.floats(0, 100), st.none() | st.floats(0, 100))
def test_any_finite_figure_has_at_most_one_decimal_and_stays_in_its_range(value, low, high):
    text = bounded(value, low, high)
    assert not re.search(r"\.\d\d", text) and "e" not in text.replace("less than", "")
    if text != "less than 0.1":
        shown = float(text.replace(",", ""))
        if low is not None and high is not None and low <= value < high and low == int(low) and high == int(high):
            assert low <= shown < high
        assert abs(shown - value) <= max(1.0, abs(value) * 1e-9)


def test_what_a_record_lacks_comes_from_its_row_and_the_record_wins():
    assert explain(V1, fill={"band": "good", "score": 10.0}).headline.startswith("Good — engagement score 94 out of 100")
    assert explain(json.dumps(V1), fill={"band": "low"}).band == "low"
    assert explain(None, fill={"band": "low", "score": 30.0}).headline == "Low — engagement score 30 out of 100 (Low is 20 to 39)."
    assert explain(V2, fill={"band": "low"}).band == "good"
    assert explain({"score": 30.0}, fill={"days_since_last_activity": None}).last_activity == ""


def test_the_term_view_is_one_sentence_beside_the_seven_day_band():
    from leap.explain import explain

    record = {
        "version": 2, "band": "good", "score": 70.0, "band_by_score": "good",
        "bands": {"high": 80, "good": 60, "partial": 40, "low": 20, "margin": 2.0},
        "reference_group": {"key": "cohort:X/Y1:full_time", "label": "X/Y1 full-time students", "size": 30, "level": "cohort"},
        "term": {"start": "2026-10-05", "through": "2026-11-28", "days": 55, "active_days": 38, "group_active_days": 45.0, "score": 64.26, "band": "good"},
    }  # fmt: skip
    student = explain(record, "student")
    assert student.term == "This term (since 5 Oct 2026): active on 38 of 55 days; your course's typical student 45. Term score 64 out of 100 (Good)."
    assert student.term in student.to_text()
    staff = explain(record, "staff")
    assert "typical student in the group 45" in staff.term
    assert explain({**record, "term": None}, "student").term == ""
    # Nonsense in the term (more active days than days) is left out, not shown.
    assert explain({**record, "term": {**record["term"], "active_days": 90}}, "student").term == ""
