"""The consumer's pure core, a batch at a time: writes, decisions and metrics without any service."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from leap.calendar import Calendar, Period
from consumers.core import Batch, Setting, Snapshot, current_outages, day_of, plan, review
from consumers.rules import DROP, NO_ENGAGEMENT, Exemption, Postponed, Student
from leap.policy import SOURCES, Alerts

LONDON = ZoneInfo("Europe/London")
EPOCH = date(1970, 1, 1)
RULES = Alerts()
# Mon-Fri teaching; Christmas break between the terms.
CAL = Calendar(
    (Period("Autumn", date(2026, 10, 5), date(2026, 12, 11)), Period("Spring", date(2027, 1, 11), date(2027, 3, 19))),
    (Period("Reading week", date(2026, 11, 9), date(2026, 11, 13)),),
    frozenset(range(5)),
)
WED = date(2026, 11, 25)
ALICE = Student("alice", "active", "tutor-1", "History", date(2026, 9, 1))
SOURCED = {"version": 2, "as_of_day": None, "sources": [{"source": "vle", "score": 10.0}, {"source": "attendance", "score": 20.0}]}


def setting(day: date = WED, hour: int = 12) -> Setting:
    return Setting(RULES, CAL, 4, datetime(day.year, day.month, day.day, hour, tzinfo=LONDON))


def snapshot(**kw) -> Snapshot:
    return Snapshot(**{"roster": {"alice": ALICE}, **kw})


def change(day: date, previous="good", new="low", change_id="11111111-1111-1111-1111-111111111111", **kw) -> dict:
    explanation = {**SOURCED, "as_of_day": day.isoformat(), "window": [(day - timedelta(days=7)).isoformat(), (day - timedelta(days=1)).isoformat()]}
    return {"change_id": change_id, "student_id": "alice", "previous_band": previous, "new_band": new, "score": 15.0, "as_of": 0,
            "days_since_last_activity": 3, "explanation": explanation, "cohort": "c", "cause": "rollover", "input_offset": kw.get("input_offset")}  # fmt: skip


def state(day: date, days_since: int | None, band="very_low") -> dict:
    return {"student_id": "alice", "cohort": "c", "score": 5.0, "band": band, "days_since_last_activity": days_since, "day": (day - EPOCH).days,
            "explanation": SOURCED, "updated_at": 0}  # fmt: skip


def summary(day: date, band: str, days_since: int | None = 1) -> dict:
    return {"student_id": "alice", "cohort": "c", "day": (day - EPOCH).days, "score": 10.0, "band": band, "days_since_last_activity": days_since}


def actions(p) -> list[tuple[str, str, str]]:
    return [(a.decision.action, a.decision.kind, a.decision.episode) for a in p.alerts]


def test_a_drop_is_stored_and_raised_for_the_tutor_on_the_day_the_score_is_as_of():
    p = plan(Batch(changes=[change(WED)]), snapshot(), setting())
    assert actions(p) == [("raise", DROP, "11111111-1111-1111-1111-111111111111")]
    assert p.band_changes == [(change(WED), WED)]  # as_of_day, not the window's end
    alert = p.alerts[0]
    assert alert.day == WED and alert.route.recipient == "tutor-1" and alert.metric == (DROP, "raised", "none")
    assert alert.facts["trigger_change_id"] == change(WED)["change_id"]


def test_a_duplicate_band_change_is_neither_stored_nor_decided_again():
    twice = Batch(changes=[change(WED), change(WED)])
    p = plan(twice, snapshot(), setting())
    assert len(p.band_changes) == 1 and p.duplicates == 1 and len(p.alerts) == 1
    p = plan(Batch(changes=[change(WED)]), snapshot(stored_changes=frozenset({change(WED)["change_id"]})), setting())
    assert p.band_changes == [] and p.duplicates == 1 and p.alerts == []


def test_a_second_fall_in_the_same_batch_is_the_open_episode():
    p = plan(Batch(changes=[change(WED), change(WED, "low", "very_low", "22222222-2222-2222-2222-222222222222")]), snapshot(), setting())
    assert [a[0] for a in actions(p)] == ["raise"]


def test_an_exempt_drop_is_suppressed_and_postponed():
    exempt = snapshot(exemptions={"alice": (Exemption(WED, WED, "placement"),)})
    p = plan(Batch(changes=[change(WED)]), exempt, setting())
    assert actions(p) == [("suppress", DROP, change(WED)["change_id"])]
    assert p.alerts[0].metric == (DROP, "suppressed", "exemption")


def test_a_state_computed_mid_backlog_holds_its_alert_for_the_engine():
    from leap.vocabulary import partition_for

    partition = partition_for(b"alice", 4)
    p = plan(Batch(changes=[change(WED, input_offset=10)]), snapshot(activity_ends={partition: 5000}), setting())
    assert actions(p)[0][0] == "hold" and p.alerts[0].decision.held_for == ("engine",)
    assert p.alerts[0].metric == (DROP, "held", "engine_behind")
    # The batch's own activity counts too: it is what the engine had still to read.
    p = plan(Batch(changes=[change(WED, input_offset=4990)]), snapshot(activity_ends={partition: 5000}), setting())
    assert actions(p)[0][0] == "raise"


def test_a_source_outage_holds_the_alerts_that_depend_on_it():
    tuesday = WED - timedelta(days=1)
    volumes = {("vle", tuesday - timedelta(weeks=k)): 1000 for k in range(1, 5)}
    volumes[("vle", tuesday)] = 10
    p = plan(Batch(changes=[change(WED)]), snapshot(volumes=volumes), setting())
    assert actions(p)[0][0] == "hold" and p.alerts[0].decision.held_for == ("vle",)
    # The batch's own volumes complete the day: no outage.
    p = plan(Batch(changes=[change(WED)], volumes={("vle", tuesday): 990}), snapshot(volumes=volumes), setting())
    assert actions(p)[0][0] == "raise"
    assert p.volumes == {("vle", tuesday): 990}


def test_a_feed_quiet_since_this_morning_holds_todays_alerts():
    quiet = {"vle": datetime(2026, 11, 25, 9, tzinfo=LONDON).timestamp()}
    p = plan(Batch(changes=[change(WED)]), snapshot(last_arrivals=quiet), setting(hour=13))
    assert actions(p)[0][0] == "hold"
    p = plan(Batch(changes=[change(WED)], arrivals={"vle": datetime(2026, 11, 25, 12, 59, tzinfo=LONDON).timestamp()}), snapshot(last_arrivals=quiet), setting(hour=13))
    assert actions(p)[0][0] == "raise" and p.arrivals["vle"] > quiet["vle"]


def test_recovery_closes_an_open_episode():
    back = change(WED, "low", "partial", "33333333-3333-3333-3333-333333333333")
    p = plan(Batch(changes=[back]), snapshot(episodes={("alice", DROP): "c-1"}), setting())
    assert actions(p) == [("close", DROP, "c-1")] and p.alerts[0].metric == (DROP, "closed", "recovered")
    active = plan(Batch(states={"alice": state(WED, 0)}), snapshot(episodes={("alice", NO_ENGAGEMENT): "2026-11-01"}), setting())
    assert actions(active) == [("close", NO_ENGAGEMENT, "2026-11-01")]


def test_roster_entries_and_removals_are_written_and_decide_with_the_batch():
    withdrawn = {"student_id": "alice", "status": "withdrawn", "personal_tutor_id": "tutor-2", "department": "History"}
    p = plan(Batch(roster=[("alice", withdrawn)], changes=[change(WED)]), snapshot(), setting())
    assert p.roster == [withdrawn] and actions(p)[0][0] == "suppress" and "withdrawn" in p.alerts[0].decision.reason
    p = plan(Batch(roster=[("bob", {"student_id": "bob"}), ("bob", None)]), snapshot(), setting())
    assert p.roster == [] and p.removed == ["bob"]


# ----------------------------------------------------------------- silence over a break


def test_a_student_who_stops_before_christmas_is_alerted_on_the_fourteenth_teaching_day_of_january():
    last = date(2026, 12, 4)  # a Friday, one week before the break; 7-11 Dec are 5 teaching days
    # 9 more teaching days from 11 Jan: Mon 11 .. Thu 21 Jan.
    for day in (date(2026, 12, 14), date(2027, 1, 4), date(2027, 1, 20)):
        p = plan(Batch(states={"alice": state(day, (day - last).days)}), snapshot(), setting(day))
        assert all(a.decision.action != "raise" for a in p.alerts), day
    jan21 = date(2027, 1, 21)
    p = plan(Batch(states={"alice": state(jan21, (jan21 - last).days)}), snapshot(), setting(jan21))
    assert actions(p) == [("raise", NO_ENGAGEMENT, last.isoformat())]


def test_a_student_never_active_is_alerted_once_fourteen_teaching_days_into_the_term():
    newcomer = snapshot(roster={"alice": Student("alice", "active", "tutor-1", enrolled=date(2027, 1, 4))})
    jan28 = date(2027, 1, 28)  # 11 Jan .. 28 Jan: 14 weekdays
    assert plan(Batch(states={"alice": state(jan28 - timedelta(days=1), None)}), newcomer, setting(jan28)).alerts == []
    p = plan(Batch(states={"alice": state(jan28, None)}), newcomer, setting(jan28))
    assert actions(p) == [("raise", NO_ENGAGEMENT, "never-active:2027-01-11")]


def test_a_newly_rostered_student_counts_from_the_day_they_were_first_stored():
    day = date(2026, 11, 25)
    entry = {"student_id": "alice", "status": "active", "personal_tutor_id": "t"}
    p = plan(Batch(roster=[("alice", entry)], states={"alice": state(day, None)}), Snapshot(), setting(day))
    assert p.alerts == []  # enrolled today


def test_a_drop_in_the_break_is_alerted_at_the_end_of_the_first_teaching_day_if_still_low():
    saturday = date(2026, 12, 19)
    p = plan(Batch(changes=[change(saturday)]), snapshot(), setting(saturday))
    assert actions(p)[0][0] == "suppress" and "non-teaching" in p.alerts[0].decision.reason
    episode = change(saturday)["change_id"]
    postponed = snapshot(postponed={"alice": Postponed(episode, saturday)})
    # Still in the break: nothing; the first teaching day's end, still low: the suppressed change's episode.
    assert plan(Batch(summaries=[summary(date(2027, 1, 8), "low")]), postponed, setting(date(2027, 1, 9))).alerts == []
    p = plan(Batch(summaries=[summary(date(2027, 1, 11), "low")]), postponed, setting(date(2027, 1, 12)))
    assert actions(p) == [("raise", DROP, episode)] and p.alerts[0].day == date(2027, 1, 11)
    # Recovered meanwhile: resolved, no alert.
    p = plan(Batch(summaries=[summary(date(2027, 1, 11), "partial")]), postponed, setting(date(2027, 1, 12)))
    assert actions(p) == [("resolve", DROP, episode)]
    # Still low, but active on the first day back (the average still holds the break): no alert.
    p = plan(Batch(summaries=[summary(date(2027, 1, 11), "low", days_since=0)]), postponed, setting(date(2027, 1, 12)))
    assert actions(p) == [("resolve", DROP, episode)] and "first day back" in p.alerts[0].decision.reason


def test_a_fall_at_the_first_midnight_after_the_break_is_decided_by_the_end_of_that_day():
    monday, tuesday = date(2027, 1, 11), date(2027, 1, 12)
    p = plan(Batch(changes=[change(monday)]), snapshot(), setting(monday, hour=0))
    assert actions(p) == [("suppress", DROP, change(monday)["change_id"])] and "first-day-back" in p.alerts[0].decision.reason
    waiting = snapshot(postponed={"alice": Postponed(change(monday)["change_id"], monday)})
    # Came back that day: no alert. Did not: alerted with the fall's own episode.
    assert actions(plan(Batch(summaries=[summary(monday, "low", days_since=0)]), waiting, setting(tuesday)))[0][0] == "resolve"
    p = plan(Batch(summaries=[summary(monday, "low", days_since=1)]), waiting, setting(tuesday))
    assert actions(p) == [("raise", DROP, change(monday)["change_id"])] and p.alerts[0].day == monday


def test_a_drop_in_the_break_and_its_revisit_in_one_batch():
    friday, monday = date(2027, 1, 8), date(2027, 1, 11)
    batch = Batch(changes=[change(friday)], summaries=[summary(friday, "low"), summary(monday, "very_low")])
    p = plan(batch, snapshot(), setting(date(2027, 1, 12)))
    assert [a[0] for a in actions(p)] == ["suppress", "raise"] and p.alerts[1].day == monday


def test_the_end_of_the_day_before_a_postponed_drop_is_not_its_revisit():
    # The engine summarises Friday and scores Saturday in one rollover; the consumer may read
    # Friday's summary (still Partial) with or after Saturday's fall. Friday is a teaching
    # day, but the fall had not happened yet: the drop waits for Monday's end.
    friday, saturday, monday = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 23)
    p = plan(Batch(changes=[change(saturday, "partial")], summaries=[summary(friday, "partial")]), snapshot(), setting(saturday))
    assert actions(p) == [("suppress", DROP, change(saturday)["change_id"])]
    waiting = snapshot(postponed={"alice": Postponed(change(saturday)["change_id"], saturday)})
    assert plan(Batch(summaries=[summary(friday, "partial")]), waiting, setting(monday)).alerts == []
    p = plan(Batch(summaries=[summary(monday, "low")]), waiting, setting(monday + timedelta(days=1)))
    assert actions(p) == [("raise", DROP, change(saturday)["change_id"])]


def test_a_drop_postponed_by_an_exemption_is_alerted_when_it_has_ended():
    exempt = snapshot(exemptions={"alice": (Exemption(date(2026, 11, 16), WED, "authorised_absence"),)}, postponed={"alice": Postponed("c-9", date(2026, 11, 18))})
    assert plan(Batch(summaries=[summary(WED, "low")]), exempt, setting()).alerts == []
    thursday = WED + timedelta(days=1)
    assert actions(plan(Batch(summaries=[summary(thursday, "low")]), exempt, setting(thursday))) == [("raise", DROP, "c-9")]


def test_a_postponed_drop_is_superseded_by_an_open_drop_alert():
    p = plan(Batch(summaries=[summary(WED, "low")]), snapshot(postponed={"alice": Postponed("c-9", WED)}, episodes={("alice", DROP): "c-1"}), setting())
    assert actions(p) == [("resolve", DROP, "c-9")] and p.alerts[0].metric == (DROP, "resolved", "superseded")


# ----------------------------------------------------------------- held alerts and gauges


def held(kind=DROP, day=WED, band="low", current_day=WED + timedelta(days=1), held_for=("vle",)) -> dict:
    return {"alert_id": "a-1", "student_id": "alice", "kind": kind, "day": day, "held_for": list(held_for), "current_band": band,
            "current_days_since": 1, "current_day": current_day, "current_offset": None}  # fmt: skip


def test_held_alerts_are_released_or_dropped_once_the_source_is_back():
    later = setting(WED + timedelta(days=1))
    assert [f.fate for f in review([held(), held(band="good")], snapshot(), later)] == ["release", "drop"]
    assert review([held(current_day=WED)], snapshot(), later)[0].fate == "keep"
    exempt = snapshot(exemptions={"alice": (Exemption(WED, WED + timedelta(days=3), "placement"),)})
    fate = review([held()], exempt, later)[0]
    assert fate.fate == "drop" and "placement" in fate.because


def test_every_source_has_an_outage_flag_from_the_start():
    flags = current_outages({}, {}, setting())
    assert set(flags) == set(SOURCES) and not any(flags.values())
    quiet = {"logins": datetime(2026, 11, 24, 12, tzinfo=LONDON).timestamp()}
    assert current_outages({}, quiet, setting())["logins"] == 1


def test_the_day_a_score_is_as_of_reads_v2_and_older_explanations():
    assert day_of({"as_of_day": "2026-11-29", "window": ["2026-11-22", "2026-11-28"]}) == date(2026, 11, 29)
    assert day_of({"window": ["2026-11-22", "2026-11-28"]}) == date(2026, 11, 28)
    assert day_of({"as_of_day": None, "window": []}) is None and day_of(None) is None and day_of("x") is None


BANDS = ["very_low", "low", "partial", "good", "high"]


@given(
    st.lists(
        st.tuples(st.sampled_from(["alice", "bob"]), st.sampled_from(BANDS), st.sampled_from(BANDS), st.integers(0, 5), st.dates(date(2026, 11, 16), date(2026, 12, 4))),
        max_size=25,
    )
)
def test_a_batch_stores_each_change_once_and_keeps_one_open_drop_alert_per_student(rows):
    changes = []
    for student, previous, new, n, day in rows:
        c = change(day, previous, new, f"{n:08d}-0000-0000-0000-000000000000")
        changes.append({**c, "student_id": student})
    p = plan(Batch(changes=changes), snapshot(), setting(date(2026, 12, 5)))
    ids = [c["change_id"] for c, _ in p.band_changes]
    assert len(ids) == len(set(ids)) and len(ids) + p.duplicates == len(changes)
    for student in ("alice", "bob"):
        open_now = 0
        for a in p.alerts:
            if a.student_id != student:
                continue
            if a.decision.action in ("raise", "hold"):
                open_now += 1
            elif a.decision.action == "close":
                open_now -= 1
            assert open_now in (0, 1)
