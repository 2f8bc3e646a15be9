"""The alert policy as pure decisions: drops, silence, suppression, holds, re-arming, routing."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from leap.calendar import Calendar, Period
from leap.explain import band_name
from consumers.rules import (
    DROP,
    NO_ENGAGEMENT,
    Context,
    Exemption,
    Student,
    alert_id,
    on_band_change,
    on_state,
    postpones,
    review_held,
    route,
    silent_days,
)
from leap.policy import BAND_ORDER, Alerts

RULES = Alerts(department_fallback={"History": "history-office"})
TERM = Calendar((Period("Autumn", date(2026, 10, 5), date(2026, 12, 11)),), (Period("Reading week", date(2026, 11, 9), date(2026, 11, 13)),))
TEACHING_DAY = date(2026, 11, 18)
ACTIVE = Student("s1", "active", "tutor-1", "History")
EXPLAINED = {"sources": [{"source": "vle", "score": 30.0}, {"source": "attendance", "score": 10.0}, {"source": "library", "score": None}]}


def ctx(**kw) -> Context:
    base = {"student": ACTIVE, "exemptions": (), "calendar": TERM, "outages": {}, "open_episode": None}
    return Context(**{**base, **kw})


def change(previous, new, change_id="c-1", score=15.0, explanation=EXPLAINED):
    return {"change_id": change_id, "previous_band": previous, "new_band": new, "score": score, "explanation": explanation}


def state(days_since, explanation=EXPLAINED, band="low"):
    return {"days_since_last_activity": days_since, "explanation": explanation, "band": band}


# ----------------------------------------------------------------- drops


@given(st.sampled_from([None, *BAND_ORDER]), st.sampled_from(BAND_ORDER))
def test_a_drop_alert_is_raised_exactly_for_a_fall_into_low_or_very_low(previous, new):
    decision = on_band_change(change(previous, new), TEACHING_DAY, ctx(), RULES)
    fell = previous is not None and BAND_ORDER.index(previous) > BAND_ORDER.index(new)
    if fell and new in ("low", "very_low"):
        assert (decision.action, decision.kind, decision.episode) == ("raise", DROP, "c-1")
        # Staff and the student read the reason: the bands' names in words, never the engine's keys.
        assert f"from {band_name(previous)} to {band_name(new)}" in decision.reason
        assert "_" not in decision.reason and "15 out of 100" in decision.reason
    else:
        assert decision.action == "none"


def test_no_data_or_a_first_band_is_not_a_drop():
    assert on_band_change(change("no_data", "very_low"), TEACHING_DAY, ctx(), RULES).action == "none"
    assert on_band_change(change(None, "very_low"), TEACHING_DAY, ctx(), RULES).action == "none"


def test_one_open_alert_per_kind_until_the_student_recovers():
    open_ctx = ctx(open_episode="c-1")
    # Low -> Very low while the episode is open: no second alert.
    assert on_band_change(change("low", "very_low", "c-2"), TEACHING_DAY, open_ctx, RULES).action == "none"
    # Back to Low is not a recovery; Partial is.
    assert on_band_change(change("very_low", "low", "c-3"), TEACHING_DAY, open_ctx, RULES).action == "none"
    closed = on_band_change(change("low", "partial", "c-4"), TEACHING_DAY, open_ctx, RULES)
    assert (closed.action, closed.episode) == ("close", "c-1")
    # Re-armed: the next fall is a new episode.
    again = on_band_change(change("partial", "low", "c-5"), TEACHING_DAY, ctx(), RULES)
    assert (again.action, again.episode) == ("raise", "c-5")


def test_drops_are_suppressed_in_breaks_out_of_term_in_exemptions_and_for_inactive_students():
    fall = change("good", "low")
    assert on_band_change(fall, date(2026, 11, 10), ctx(), RULES).reason == "non-teaching: Reading week"
    assert on_band_change(fall, date(2026, 12, 20), ctx(), RULES).reason == "non-teaching: outside term"
    exempt = ctx(exemptions=(Exemption(date(2026, 11, 16), date(2026, 11, 20), "placement"),))
    assert on_band_change(fall, TEACHING_DAY, exempt, RULES).reason == "exemption: placement"
    assert on_band_change(fall, date(2026, 11, 23), exempt, RULES).action == "raise"
    withdrawn = ctx(student=Student("s1", "withdrawn", "tutor-1"))
    decision = on_band_change(fall, TEACHING_DAY, withdrawn, RULES)
    assert (decision.action, decision.reason) == ("suppress", "status withdrawn")


def test_a_drop_is_held_only_for_outages_of_sources_the_score_depends_on():
    fall = change("good", "low")
    held = on_band_change(fall, TEACHING_DAY, ctx(outages={"vle": "0 events", "logins": "0 events"}), RULES)
    assert (held.action, held.held_for) == ("hold", ("vle",))
    # library is not applicable to this student: its outage cannot have caused the drop.
    assert on_band_change(fall, TEACHING_DAY, ctx(outages={"library": "0 events"}), RULES).action == "raise"
    # Without an explanation, any outage could have.
    assert on_band_change(change("good", "low", explanation=None), TEACHING_DAY, ctx(outages={"library": "x"}), RULES).action == "hold"


def test_a_fall_scored_on_the_first_day_back_waits_for_that_days_end():
    fall = change("good", "low")
    # The reading week ends on Friday 13 November; this calendar teaches every day of the week.
    back = on_band_change(fall, date(2026, 11, 14), ctx(), RULES)
    assert (back.action, back.kind, back.episode) == ("suppress", DROP, "c-1")
    assert back.reason.startswith("first-day-back: after Reading week") and postpones(back)
    assert on_band_change(fall, date(2026, 11, 15), ctx(), RULES).action == "raise"
    exempt = ctx(exemptions=(Exemption(date(2026, 11, 16), date(2026, 11, 20), "placement"),))
    assert on_band_change(fall, date(2026, 11, 21), exempt, RULES).reason.startswith("first-day-back: after placement")
    # Mon-Fri teaching: Monday is a first day back too, Tuesday is not.
    weekdays = ctx(calendar=Calendar(TERM.terms, TERM.breaks, frozenset(range(5))))
    assert on_band_change(fall, date(2026, 11, 23), weekdays, RULES).action == "suppress"
    assert on_band_change(fall, date(2026, 11, 24), weekdays, RULES).action == "raise"
    # An open episode still means no second alert, and a recovery still closes it.
    assert on_band_change(change("low", "very_low", "c-2"), date(2026, 11, 14), ctx(open_episode="c-1"), RULES).action == "none"


def test_suppression_wins_over_holding():
    decision = on_band_change(change("good", "low"), date(2026, 11, 10), ctx(outages={"vle": "x"}), RULES)
    assert decision.action == "suppress"


# ----------------------------------------------------------------- silence


def test_fourteen_teaching_days_of_silence_raise_one_alert_keyed_by_the_last_active_day():
    day = date(2026, 12, 1)
    assert on_state(state(13), day, ctx(), RULES).action == "none"
    decision = on_state(state(14), day, ctx(), RULES)
    assert (decision.action, decision.kind, decision.episode) == ("raise", NO_ENGAGEMENT, "2026-11-17")
    # The next day the same silence is the same (open) episode.
    assert on_state(state(15), day + timedelta(days=1), ctx(open_episode="2026-11-17"), RULES).action == "none"


def test_silence_over_a_break_or_an_exemption_does_not_count():
    # Last active 6 Nov; by 20 Nov that is 14 days, 5 of them reading week.
    assert on_state(state(14), date(2026, 11, 20), ctx(), RULES).action == "none"
    assert on_state(state(19), date(2026, 11, 25), ctx(), RULES).action == "raise"
    exempt = ctx(exemptions=(Exemption(date(2026, 11, 23), date(2026, 11, 27), "authorised_absence"),))
    # Last active 6 Nov: by 29 Nov, 23 days less the break and the exemption is 13; by 30 Nov, 14.
    assert silent_days(date(2026, 11, 6), date(2026, 11, 29), exempt) == 13
    assert on_state(state(23), date(2026, 11, 29), exempt, RULES).action == "none"
    assert on_state(state(24), date(2026, 11, 30), exempt, RULES).action == "raise"
    # Long silent already, and now exempt: recorded as suppressed, not raised.
    assert on_state(state(35), date(2026, 11, 24), exempt, RULES).reason == "exemption: authorised_absence"


def test_activity_closes_the_silence_episode():
    decision = on_state(state(0), date(2026, 12, 2), ctx(open_episode="2026-11-17"), RULES)
    assert (decision.action, decision.episode) == ("close", "2026-11-17")


def test_a_student_never_active_is_counted_from_the_later_of_the_term_start_and_enrolment():
    # Term from 5 Oct (every day teaches but reading week 9-13 Nov): 14 counted days end on 18 Oct.
    assert on_state(state(None), date(2026, 10, 17), ctx(), RULES).action == "none"
    decision = on_state(state(None), date(2026, 10, 18), ctx(), RULES)
    assert (decision.action, decision.kind, decision.episode) == ("raise", NO_ENGAGEMENT, "never-active:2026-10-05")
    # Enrolled on 1 Nov: 1-8 Nov, then 14-19 Nov after reading week.
    late = ctx(student=Student("s1", "active", "tutor-1", "History", enrolled=date(2026, 11, 1)))
    assert on_state(state(None), date(2026, 11, 18), late, RULES).action == "none"
    assert on_state(state(None), date(2026, 11, 19), late, RULES).episode == "never-active:2026-11-01"
    # Enrolled before the term: the term's start counts.
    early = ctx(student=Student("s1", "active", "tutor-1", enrolled=date(2026, 9, 1)))
    assert on_state(state(None), date(2026, 10, 18), early, RULES).episode == "never-active:2026-10-05"


def test_a_never_active_student_is_alerted_once_and_the_episode_closes_when_they_become_active():
    open_ctx = ctx(open_episode="never-active:2026-10-05")
    assert on_state(state(None), date(2026, 11, 30), open_ctx, RULES).action == "none"
    closed = on_state(state(0), date(2026, 12, 1), open_ctx, RULES)
    assert (closed.action, closed.episode) == ("close", "never-active:2026-10-05")


def test_nobody_off_the_roster_or_outside_term_is_alerted_for_never_being_active():
    assert on_state(state(None), date(2026, 12, 2), ctx(student=None), RULES).action == "none"
    assert on_state(state(None), date(2026, 12, 20), ctx(), RULES).action == "none"
    # Without terms, the enrolment day starts the count.
    anyday = ctx(calendar=Calendar(), student=Student("s1", enrolled=date(2030, 1, 1)))
    assert on_state(state(None), date(2030, 1, 13), anyday, RULES).action == "none"
    assert on_state(state(None), date(2030, 1, 14), anyday, RULES).action == "raise"
    assert on_state(state(None), date(2030, 1, 14), ctx(calendar=Calendar(), student=Student("s1")), RULES).action == "none"


def test_a_held_never_active_alert_is_released_while_they_are_still_never_active():
    assert review_held(NO_ENGAGEMENT, date(2026, 10, 18), ["vle"], state(None), date(2026, 10, 19), ctx(), RULES) == "release"
    assert review_held(NO_ENGAGEMENT, date(2026, 10, 18), ["vle"], state(0), date(2026, 10, 19), ctx(), RULES) == "drop"


@given(st.integers(0, 60), st.dates(date(2026, 10, 5), date(2026, 12, 11)))
def test_silence_alert_iff_enough_counted_days(days_since, day):
    decision = on_state(state(days_since), day, ctx(), RULES)
    counted = silent_days(day - timedelta(days=days_since), day, ctx())
    if counted < RULES.no_engagement_days:
        assert decision.action == "none"
    elif TERM.non_teaching(day) is not None:
        assert decision.action == "suppress"
    else:
        assert decision.action == "raise"


# ----------------------------------------------------------------- held alerts


def test_a_held_alert_waits_for_the_source_and_a_later_score_then_is_released_or_dropped():
    held_day = date(2026, 11, 18)
    out = ctx(outages={"vle": "x"})
    assert review_held(DROP, held_day, ["vle"], {"band": "low"}, held_day + timedelta(days=1), out, RULES) == "keep"
    assert review_held(DROP, held_day, ["vle"], {"band": "low"}, held_day, ctx(), RULES) == "keep"
    assert review_held(DROP, held_day, ["vle"], {"band": "low"}, held_day + timedelta(days=1), ctx(), RULES) == "release"
    assert review_held(DROP, held_day, ["vle"], {"band": "good"}, held_day + timedelta(days=1), ctx(), RULES) == "drop"
    silent = {"days_since_last_activity": 20}
    assert review_held(NO_ENGAGEMENT, held_day, ["vle"], silent, date(2026, 11, 30), ctx(), RULES) == "release"
    assert review_held(NO_ENGAGEMENT, held_day, ["vle"], {"days_since_last_activity": 0}, date(2026, 11, 30), ctx(), RULES) == "drop"
    assert review_held(DROP, held_day, ["vle"], None, None, ctx(), RULES) == "keep"


# ----------------------------------------------------------------- routing and ids


def test_alerts_go_to_the_tutor_else_the_department_else_the_default():
    assert route(ACTIVE, RULES).recipient == "tutor-1"
    assert route(Student("s", personal_tutor=None, department="History"), RULES).recipient == "history-office"
    assert route(Student("s", personal_tutor=None, department="Law"), RULES).role == "default"
    assert route(None, RULES).recipient == RULES.default_recipient


def test_alert_ids_are_deterministic_per_episode():
    assert alert_id("s1", DROP, "c-1") == alert_id("s1", DROP, "c-1") != alert_id("s1", DROP, "c-2")
    assert alert_id("s1", DROP, "c-1") != alert_id("s1", NO_ENGAGEMENT, "c-1")


# ----------------------------------------------------------------- the engine's watermark


def test_alerts_from_a_state_computed_mid_backlog_are_held_for_the_engine():
    behind = ctx(behind="the engine had 40,000 activity messages still to read")
    decision = on_band_change(change("good", "low"), TEACHING_DAY, behind, RULES)
    assert (decision.action, decision.held_for) == ("hold", ("engine",))
    assert on_state(state(20), date(2026, 12, 2), behind, RULES).held_for == ("engine",)
    # Suppression still comes first: nothing is held that would not be sent anyway.
    assert on_band_change(change("good", "low"), date(2026, 11, 10), behind, RULES).action == "suppress"


def test_an_engine_hold_is_decided_as_soon_as_the_current_state_has_caught_up():
    day = date(2026, 12, 2)
    assert review_held(DROP, day, ["engine"], {"band": "low"}, day, ctx(behind="still reading"), RULES) == "keep"
    assert review_held(DROP, day, ["engine"], {"band": "low"}, day, ctx(), RULES) == "release"
    assert review_held(DROP, day, ["engine"], {"band": "high"}, day, ctx(), RULES) == "drop"
    assert review_held(NO_ENGAGEMENT, day, ["engine"], {"days_since_last_activity": 1}, day, ctx(), RULES) == "drop"
