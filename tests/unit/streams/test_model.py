from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import model
from streams.day import ATTENDANCE, LECTURE_SECONDS, VLE
from streams.model import (
    APPLIED,
    DUPLICATE,
    InvalidEvent,
    StudentState,
    apply_event,
    contribution,
    days_since_last_activity,
    effect_of,
    local_day,
    prune,
)
from streams.scoring import SOURCE_STATUSES, Baseline, band_of, baseline, changes_scores, evaluate, near_boundary, next_band
from leap.policy import BAND_ORDER, RELATIVE_SOURCES, Engagement

POLICY = Engagement(min_cohort_size=1)  # tests of other rules use groups of a few students; the minimum has tests of its own
LONDON = ZoneInfo("Europe/London")
TODAY = date(2026, 11, 20).toordinal()


def add(state, day, source="vle", n=1, quantity=None, status=None, prefix="e"):
    code, amount = effect_of(source, quantity, status)
    for i in range(n):
        apply_event(state, day, f"{prefix}-{source}-{day}-{i}-{len(state.days)}", code, amount)


def ev(state, base, today=TODAY, policy=POLICY):
    """Evaluate against ``base`` as the student's narrowest group."""
    return evaluate(state, today, {} if base is None else {state.groups[0]: base}, policy)


def uniform_baseline(value=1.0, day=TODAY):
    return Baseline("c", day, tuple(value for _ in RELATIVE_SOURCES), tuple(True for _ in RELATIVE_SOURCES), 10)


# ---------------------------------------------------------------- days and time zones


def test_local_day_follows_the_university_zone_across_dst():
    # 23:30 UTC on 28 June is 00:30 on 29 June in London (BST), but still 28 June in December's GMT terms.
    summer = datetime(2026, 6, 28, 23, 30, tzinfo=ZoneInfo("UTC"))
    winter = datetime(2026, 12, 28, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert local_day(int(summer.timestamp() * 1000), LONDON) == date(2026, 6, 29).toordinal()
    assert local_day(int(winter.timestamp() * 1000), LONDON) == date(2026, 12, 28).toordinal()


def test_day_start_is_local_midnight_even_on_the_short_and_long_days():
    spring = date(2026, 3, 29).toordinal()  # clocks go forward: a 23-hour day
    autumn = date(2026, 10, 25).toordinal()  # clocks go back: a 25-hour day
    assert model.day_start_ms(spring + 1, LONDON) - model.day_start_ms(spring, LONDON) == 23 * 3600_000
    assert model.day_start_ms(autumn + 1, LONDON) - model.day_start_ms(autumn, LONDON) == 25 * 3600_000
    for day in (spring, autumn):
        start = model.day_start_ms(day, LONDON)
        assert local_day(start, LONDON) == day and local_day(start - 1, LONDON) == day - 1


# ---------------------------------------------------------------- effects and idempotence


def test_effects_of_each_source():
    assert effect_of("vle", None, None) == (VLE, 1)
    assert effect_of("lecture_capture", 12.5, None) == (LECTURE_SECONDS, 750)
    assert effect_of("attendance", None, "present") == (ATTENDANCE, 2)
    assert effect_of("attendance", None, "late") == (ATTENDANCE, 2)
    assert effect_of("attendance", None, "absent") == (ATTENDANCE, 1)
    assert effect_of("attendance", None, "authorised_absence") == (ATTENDANCE, 0)


@pytest.mark.parametrize(
    ("source", "quantity", "status", "reason"),
    [
        ("lecture_capture", None, None, "needs minutes watched as a finite number"),
        ("lecture_capture", -1.0, None, "needs minutes watched as a finite number"),
        ("lecture_capture", float("nan"), None, "needs minutes watched as a finite number"),
        ("lecture_capture", float("inf"), None, "needs minutes watched as a finite number"),
        ("lecture_capture", 1e300, None, "more than a day"),
        ("lecture_capture", True, None, "needs minutes watched as a finite number"),
        ("attendance", None, None, "attendance event with status None"),
        ("attendance", None, "asleep", "status 'asleep'"),
        ("other", None, None, "unknown source"),
    ],
)
def test_events_the_model_cannot_apply(source, quantity, status, reason):
    with pytest.raises(InvalidEvent, match=reason):
        effect_of(source, quantity, status)


def test_the_same_event_twice_counts_once():
    state = StudentState()
    assert apply_event(state, TODAY, "x", VLE, 1) == APPLIED
    assert apply_event(state, TODAY, "x", VLE, 1) == DUPLICATE
    assert state.days[TODAY].totals[VLE] == 1


def test_attendance_marks_count_as_attended_and_expected():
    state = StudentState()
    for i, status in enumerate(["present", "late", "absent", "authorised_absence"]):
        code, amount = effect_of("attendance", None, status)
        apply_event(state, TODAY, f"a{i}", code, amount)
    totals = state.days[TODAY].totals
    assert (totals[model.ATTENDED], totals[model.EXPECTED]) == (2, 3)


def test_a_correction_replaces_the_original_whichever_arrives_first():
    absent = effect_of("attendance", None, "absent")
    present = effect_of("attendance", None, "present")
    in_order, reversed_ = StudentState(), StudentState()
    apply_event(in_order, TODAY, "orig", *absent)
    apply_event(in_order, TODAY, "fix", *present, amends="orig")
    assert apply_event(reversed_, TODAY, "fix", *present, amends="orig") == APPLIED
    assert apply_event(reversed_, TODAY, "orig", *absent) == DUPLICATE
    for state in (in_order, reversed_):
        totals = state.days[TODAY].totals
        assert (totals[model.ATTENDED], totals[model.EXPECTED]) == (1, 1)
    # The correction redelivered changes nothing.
    assert apply_event(in_order, TODAY, "fix", *present, amends="orig") == DUPLICATE


def test_a_correction_finds_the_original_on_another_day():
    state = StudentState()
    apply_event(state, TODAY - 3, "orig", *effect_of("attendance", None, "absent"))
    apply_event(state, TODAY, "fix", *effect_of("attendance", None, "present"), amends="orig")
    assert state.days[TODAY - 3].totals[model.EXPECTED] == 0
    assert state.days[TODAY].totals[model.ATTENDED] == 1


ops = st.lists(
    st.tuples(st.integers(0, 30), st.integers(0, 9), st.sampled_from(["vle", "logins", "attendance"])), max_size=40
)


@given(ops, st.randoms(use_true_random=False))
def test_totals_do_not_depend_on_arrival_order_or_redelivery(events, rnd):
    def build(sequence):
        state = StudentState()
        for day_offset, ident, source in sequence:
            code, amount = effect_of(source, None, "present" if source == "attendance" else None)
            apply_event(state, TODAY - day_offset, f"{source}-{day_offset}-{ident}", code, amount)
        return {d: tuple(day.totals) for d, day in state.days.items()}

    shuffled = list(events) + list(events)  # everything delivered twice
    rnd.shuffle(shuffled)
    assert build(events) == build(shuffled)


# ---------------------------------------------------------------- windows, caps, pruning


def test_window_is_the_last_seven_complete_days_when_today_does_not_help():
    state = StudentState()
    add(state, TODAY - 7, n=7)  # first complete day of the window
    add(state, TODAY - 8, n=100)  # one day too old
    result = ev(state, uniform_baseline())
    vle = next(s for s in result.sources if s.source == "vle")
    assert vle.measure == 1.0 and vle.score == 100.0
    assert (result.window_start, result.window_end, result.window_kind) == (TODAY - 7, TODAY - 1, "complete_days")


def test_todays_activity_counts_at_once_when_it_raises_the_score():
    state = StudentState()
    add(state, TODAY - 7, n=3)
    add(state, TODAY, n=7)  # today beats the day that would leave the window
    result = ev(state, uniform_baseline())
    assert (result.window_start, result.window_end, result.window_kind) == (TODAY - 6, TODAY, "including_today")
    assert next(s for s in result.sources if s.source == "vle").measure == 1.0


def test_part_time_students_are_judged_over_21_days():
    state = StudentState()
    state.part_time = True
    add(state, TODAY - 21, n=21)
    add(state, TODAY - 22, n=50)
    result = ev(state, uniform_baseline())
    assert next(s for s in result.sources if s.source == "vle").measure == 1.0
    assert (result.window_start, result.window_end) == (TODAY - 21, TODAY - 1)


def test_daily_caps_stop_a_scraper_buying_a_band():
    state = StudentState()
    add(state, TODAY, n=POLICY.daily_caps.vle + 500)
    add(state, TODAY, source="lecture_capture", quantity=POLICY.daily_caps.lecture_capture_minutes * 3)
    result = ev(state, uniform_baseline())
    by_source = {s.source: s for s in result.sources}
    assert by_source["vle"].measure == POLICY.daily_caps.vle / 7
    assert by_source["lecture_capture"].measure == pytest.approx(POLICY.daily_caps.lecture_capture_minutes / 7)


def test_prune_keeps_exactly_the_retention():
    state = StudentState()
    for offset in range(0, 60):
        add(state, TODAY - offset)
    prune(state, TODAY, POLICY)
    assert min(state.days) == TODAY - POLICY.retention_days + 1
    assert len(state.days) == POLICY.retention_days


# ---------------------------------------------------------------- scores


def test_score_is_relative_to_the_cohort_median_and_capped():
    state = StudentState()
    add(state, TODAY, n=7)  # 1 a day
    half = Baseline("c", TODAY, (2.0, 0, 0, 0, 0), (True, False, False, False, False), 5)
    result = ev(state, half)
    assert result.score == 50.0
    double = Baseline("c", TODAY, (0.5, 0, 0, 0, 0), (True, False, False, False, False), 5)
    assert ev(state, double).score == 100.0


def test_sources_nobody_used_drop_out_and_weights_renormalise():
    state = StudentState()
    add(state, TODAY, n=7)
    add(state, TODAY, source="attendance", status="absent", n=4)
    add(state, TODAY, source="attendance", status="present", n=4, prefix="p")
    base = Baseline("c", TODAY, (1.0, 0, 0, 0, 0), (True, False, False, False, False), 5)
    result = ev(state, base)
    # attendance 50 (weight 3), vle 100 (weight 2): (150 + 200) / 5 = 70
    assert result.score == pytest.approx(70.0)
    not_applicable = [s.source for s in result.sources if s.score is None]
    assert sorted(not_applicable) == ["coursework", "lecture_capture", "library", "logins"]


def test_median_zero_source_can_raise_a_score_but_never_lower_it():
    base = Baseline("c", TODAY, (1.0, 0.0, 0, 0, 0), (True, True, False, False, False), 5)
    user, non_user = StudentState(), StudentState()
    add(user, TODAY, n=7)
    add(non_user, TODAY, n=7)
    add(user, TODAY, source="coursework")
    assert next(s for s in ev(user, base).sources if s.source == "coursework").score == 100.0
    assert next(s for s in ev(non_user, base).sources if s.source == "coursework").score is None
    assert ev(non_user, base).score == 100.0


def test_no_applicable_source_is_no_data():
    state = StudentState()
    result = ev(state, None)
    assert result.score is None
    assert next_band("good", result.score, POLICY) == "no_data"
    assert all(s.status in SOURCE_STATUSES and s.status != "scored" for s in result.sources)


def test_empty_cohort_baseline_has_no_used_source():
    empty = baseline("c", TODAY, [])
    assert empty.members == 0 and not any(empty.used)
    state = StudentState()
    add(state, TODAY, n=3)
    assert ev(state, empty).score is None


_SOURCES = st.sampled_from(["vle", "logins", "lecture_capture", "library", "coursework"])
_MEDIANS = st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0]), min_size=len(RELATIVE_SOURCES), max_size=len(RELATIVE_SOURCES)).map(tuple)
_USED = st.lists(st.booleans(), min_size=len(RELATIVE_SOURCES), max_size=len(RELATIVE_SOURCES)).map(tuple)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 20), _SOURCES, st.integers(1, 4)), max_size=12),
    st.tuples(st.integers(TODAY - 2, TODAY), _MEDIANS, _USED, st.integers(0, 12)),
    st.tuples(st.integers(TODAY - 2, TODAY), _MEDIANS, _USED, st.integers(0, 12)),
)
def test_a_baseline_that_does_not_change_scores_changes_no_score(activity, old, new):
    # What the engine relies on to skip re-scoring a group's students: whenever
    # changes_scores says no, every student scores exactly as before, with their narrowest
    # group's baseline or, below the minimum size, the wider one.
    policy = Engagement(min_cohort_size=5)
    before, after = Baseline("c", *old), Baseline("c", *new)
    wider = Baseline("institution", TODAY - 1, (1.0,) * len(RELATIVE_SOURCES), (True,) * len(RELATIVE_SOURCES), 50)
    state = StudentState()
    state.groups = ("c", "institution")
    for back, source, n in activity:
        add(state, TODAY - back, source=source, n=n, quantity=30.0 if source == "lecture_capture" else None, prefix=f"{back}")
    scores = [evaluate(state, TODAY, {"c": b, "institution": wider}, policy).score for b in (before, after)]
    if not changes_scores(before, after, policy.min_cohort_size):
        assert scores[0] == scores[1]
    assert changes_scores(None, after, policy.min_cohort_size)
    assert not changes_scores(before, before, policy.min_cohort_size)


def test_baseline_is_the_median_of_contributions():
    contribs = [(1.0, 0.0, 2.0, 0.0, 0.0), (3.0, 0.0, 4.0, 0.0, 1.0), (10.0, 0.0, 0.0, 0.0, 0.0)]
    base = baseline("c", TODAY, contribs)
    assert base.medians == (3.0, 0.0, 2.0, 0.0, 0.0)
    assert base.used == (True, False, True, False, True)


def test_contribution_uses_complete_days_only():
    state = StudentState()
    add(state, TODAY, n=70)  # today: not complete, not in the baseline
    add(state, TODAY - 1, n=7)
    add(state, TODAY - 8, n=70)  # outside the 7 complete days
    assert contribution(state, TODAY, POLICY)[0] == 1.0


def test_days_since_last_activity_uses_one_definition_of_activity():
    state = StudentState()
    add(state, TODAY - 9)
    add(state, TODAY - 2, source="attendance", status="absent")  # absence is not activity
    add(state, TODAY - 1, source="attendance", status="authorised_absence")
    assert days_since_last_activity(state, TODAY) == 9
    add(state, TODAY - 4, source="lecture_capture", quantity=0.5)
    assert days_since_last_activity(state, TODAY) == 4
    assert days_since_last_activity(StudentState(), TODAY) is None


# ---------------------------------------------------------------- bands and hysteresis


@pytest.mark.parametrize(
    ("score", "band"),
    [(100, "high"), (80, "high"), (79.99, "good"), (60, "good"), (59.9, "partial"), (40, "partial"), (39.9, "low"), (20, "low"), (19.99, "very_low"), (0, "very_low")],
)
def test_band_boundaries(score, band):
    assert band_of(score, POLICY) == band


@pytest.mark.parametrize(
    ("previous", "score", "band"),
    [
        ("good", 58.5, "good"),  # below 60 but within the margin: no flap
        ("good", 57.9, "partial"),
        ("partial", 61.9, "partial"),
        ("partial", 62.0, "good"),
        ("good", 17.0, "very_low"),  # a big drop moves several bands at once
        ("very_low", 90.0, "high"),
        (None, 59.0, "partial"),  # first band: no hysteresis
        ("no_data", 81.0, "high"),
    ],
)
def test_hysteresis(previous, score, band):
    assert next_band(previous, score, POLICY) == band


@given(st.sampled_from(BAND_ORDER), st.floats(0, 100))
def test_band_is_path_independent_away_from_boundaries(previous, score):
    if not near_boundary(score, POLICY):
        assert next_band(previous, score, POLICY) == band_of(score, POLICY)


@given(st.lists(st.floats(0, 100), min_size=1, max_size=50))
def test_hysteresis_band_is_always_within_the_margin_of_the_score(scores):
    band = None
    for score in scores:
        band = next_band(band, score, POLICY)
        assert band in (band_of(score, POLICY), band_of(score - POLICY.hysteresis_margin, POLICY), band_of(min(100, score + POLICY.hysteresis_margin), POLICY))


@settings(max_examples=50)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 30)), max_size=60), st.floats(0.1, 20))
def test_score_is_between_0_and_100(activity, median_value):
    state = StudentState()
    for offset, n in activity:
        add(state, TODAY - offset, n=n)
    result = ev(state, uniform_baseline(median_value))
    assert result.score is None or 0 <= result.score <= 100


amending_ops = st.lists(
    st.tuples(st.integers(0, 12), st.integers(0, 6), st.sampled_from(["vle", "logins", "attendance"]), st.none() | st.integers(0, 6)),
    max_size=30,
)


@given(amending_ops, amending_ops)
def test_a_state_read_back_from_storage_takes_further_events_as_the_one_kept_in_memory(before, after):
    # A day read back keeps its events as stored bytes until one changes (streams.day.Day): duplicates
    # and corrections must find events in those bytes, and the bytes written back must be right.
    from streams import state_codec

    def apply(state, sequence):
        verdicts = []
        for day_offset, ident, source, amends in sequence:
            code, amount = effect_of(source, None, "present" if source == "attendance" else None)
            original = None if amends is None or amends == ident else f"{source}-{amends}"
            verdicts.append(apply_event(state, TODAY - day_offset, f"{source}-{ident}", code, amount, original))
        return verdicts

    kept = StudentState()
    apply(kept, before)
    read = state_codec.loads(state_codec.dumps(kept))
    assert state_codec.dumps(read) == state_codec.dumps(kept)  # written back untouched
    assert apply(read, after) == apply(kept, after)
    assert state_codec.dumps(read) == state_codec.dumps(kept)
    assert state_codec.loads(state_codec.dumps(read)).days.keys() == kept.days.keys()


def test_a_stored_day_finds_an_id_only_where_an_id_starts():
    import struct

    from streams.day import Day

    a, b = 0x1111111122222222, 0x3333333344444444
    day = Day.restored([0] * model.TOTALS, bytes(5) + struct.pack("=QQ", a, b) + bytes(2) + bytes(16), 5)
    straddling = struct.unpack("=Q", struct.pack("=QQ", a, b)[4:12])[0]  # half of a, half of b
    assert day.holds(struct.pack("=Q", a), a) and day.holds(struct.pack("=Q", b), b)
    assert not day.holds(struct.pack("=Q", straddling), straddling)
    assert day.find(b) == 1 and day.find(straddling) == -1
