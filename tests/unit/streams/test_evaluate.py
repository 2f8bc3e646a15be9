"""Checking the bands against outcomes: AUC, outcomes files, the weekly table, and a planted university."""

import random
from collections import Counter
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap.policy import Engagement
from producers.exports import read_events
from producers.simulate import draw_outcomes, make_students, simulate
from streams.evaluate import (
    Judged,
    OutcomesError,
    Outcomes,
    Snapshot,
    WeekCollector,
    auc,
    cell,
    evaluation,
    judge_auc,
    judge_rate,
    judge_ratio,
    load_outcomes,
    parse_outcomes,
    parse_weeks,
    source_scores,
    week_end,
    week_row,
)
from producers.roster import load_roster_file
from streams.replay import replay

LONDON = ZoneInfo("Europe/London")
scores = st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=1, max_size=30)


def pairwise_auc(bad, good):
    """The definition, pair by pair (the oracle for the rank formula)."""
    wins = sum(1.0 if b < g else 0.5 if b == g else 0.0 for b in bad for g in good)
    return wins / (len(bad) * len(good))


# ---------------------------------------------------------------- AUC


@given(scores, scores)
def test_auc_is_the_share_of_pairs_where_the_bad_outcome_scores_lower(bad, good):
    assert auc(bad, good) == pytest.approx(pairwise_auc(bad, good))
    assert 0.0 <= auc(bad, good) <= 1.0


@given(scores, scores)
def test_swapping_the_groups_gives_one_minus_the_auc(bad, good):
    assert auc(good, bad) == pytest.approx(1.0 - auc(bad, good))


int_scores = st.lists(st.integers(0, 100), min_size=1, max_size=30)  # integers: ties happen, and no rounding


@given(int_scores, int_scores, st.sampled_from([lambda x: 3 * x + 7, lambda x: x**3, lambda x: 2 ** (x / 10) - 50]))
def test_auc_is_unchanged_by_a_strictly_increasing_transform(bad, good, transform):
    assert auc([transform(s) for s in bad], [transform(s) for s in good]) == pytest.approx(auc(bad, good))


@given(int_scores, int_scores)
def test_a_decreasing_transform_flips_the_auc(bad, good):
    assert auc([-s for s in bad], [-s for s in good]) == pytest.approx(1.0 - auc(bad, good))


@given(st.floats(0, 100), st.integers(1, 20), st.integers(1, 20))
def test_identical_scores_give_one_half(score, n_bad, n_good):
    assert auc([score] * n_bad, [score] * n_good) == 0.5


def test_perfect_separation_and_an_empty_group():
    assert auc([1, 2, 3], [4, 5]) == 1.0
    assert auc([4, 5], [1, 2, 3]) == 0.0
    with pytest.raises(ValueError):
        auc([], [1])


def test_judgements_say_when_a_group_is_too_small():
    assert judge_rate([True] * 3 + [False] * 7).value == pytest.approx(0.3)
    small = judge_rate([True] * 3, min_students=10)
    assert small.value is None and "too small" in small.note and small.students == 3
    few_bad = judge_auc([(float(i), i < 4) for i in range(40)], min_students=10, min_each=5)
    assert few_bad.value is None and few_bad.bad == 4
    enough = judge_auc([(float(i), i < 5) for i in range(40)], min_students=10, min_each=5)
    assert enough.value == 1.0 and (enough.students, enough.bad) == (40, 5)
    assert judge_ratio(Judged(0.5, 20, 10), Judged(0.1, 50, 5)).value == pytest.approx(5.0)
    assert "unbounded" in judge_ratio(Judged(0.5, 20, 10), Judged(0.0, 50, 0)).note
    assert judge_ratio(Judged(None, 3, 1, "too small"), Judged(0.1, 50, 5)).value is None


def test_cells_show_numbers_or_the_reason():
    assert cell(Judged(0.125, 24, 3), percent=True) == "12% (3/24)"
    assert cell(Judged(0.8123, 40, 9), percent=False) == "0.81 (n 40)"
    assert cell(Judged(None, 4, 1, "too small to judge (fewer than 10 students)"), percent=True) == "too small (n 4)"


# ---------------------------------------------------------------- outcomes and weeks


def test_outcomes_are_read_case_insensitively_with_extra_columns():
    got = parse_outcomes(["\ufeffStudent_ID,programme,Outcome\n", "1,X,Fail\n", "2,X,pass\n", "\n", "3,X,withdrawn\n", "1,X,fail\n"], name="o.csv")
    assert got.bad == {"1": True, "2": False, "3": True}
    assert got.values == Counter({"fail": 1, "pass": 1, "withdrawn": 1})
    assert parse_outcomes(["student_id,outcome", "1,resit"], name="o", bad=["Resit"]).bad == {"1": True}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["id,result", "1,fail"], "o.csv:1: the header needs student_id and outcome"),
        ([], "o.csv:1"),
        (["student_id,outcome", "1,pass", "2,"], "o.csv:3: outcome is empty"),
        (["student_id,outcome", ",pass"], "o.csv:2: student_id is empty"),
        (["student_id,outcome", "1,pass", "1,fail"], "o.csv:3: student 1 has two outcomes, pass and fail"),
        (["student_id,outcome", "1,pass,extra"], "o.csv:2: 3 fields where the header has 2"),
    ],
)
def test_bad_outcome_files_name_the_line(lines, message):
    with pytest.raises(OutcomesError) as caught:
        parse_outcomes(lines, name="o.csv")
    assert message in str(caught.value)


def test_weeks_and_their_last_days():
    assert parse_weeks("2-4") == [2, 3, 4]
    assert parse_weeks("1,3,5-6,3") == [1, 3, 5, 6]
    for bad in ("0-3", "4-2", "two", "1-"):
        with pytest.raises(ValueError, match="weeks"):
            parse_weeks(bad)
    assert week_end(date(2026, 9, 28), 1) == date(2026, 10, 4)
    assert week_end(date(2026, 9, 28), 2) - week_end(date(2026, 9, 28), 1) == timedelta(days=7)


# ---------------------------------------------------------------- following the term


def result(student, score, band="good", sources=None):
    explanation = {"sources": [{"source": s, "score": v} for s, v in (sources or {}).items()]}
    return SimpleNamespace(student_id=student, score=score, band=band, explanation=explanation)


def test_source_scores_read_any_explanation_version():
    v2 = {"version": 2, "sources": [{"source": "vle", "score": 80, "status": "scored"}, {"source": "attendance", "score": None}]}
    assert source_scores(v2) == {"vle": 80.0, "attendance": None}
    assert source_scores({"sources": [{"source": "vle", "note": "old"}]}) == {"vle": None}
    assert source_scores({}) == {} and source_scores({"sources": [None, "x"]}) == {}


def test_the_collector_keeps_week_ends_and_a_term_to_date_mean():
    start = date(2026, 9, 28)
    collector = WeekCollector(start, [1, 2])
    collector(start - timedelta(days=1), [result("a", 0.0)])  # before term: not counted
    for offset in range(14):
        collector(start + timedelta(days=offset), [result("a", float(offset), sources={"vle": 50}), result("b", None, "no_data")])
    assert set(collector.snapshots) == {1, 2}
    week1 = collector.snapshots[1]["a"]
    assert week1.score == 6.0 and week1.term_to_date == pytest.approx(sum(range(7)) / 7) and week1.sources == {"vle": 50.0}
    assert collector.snapshots[2]["a"].term_to_date == pytest.approx(sum(range(14)) / 14)
    assert collector.snapshots[2]["b"].term_to_date is None and collector.snapshots[2]["b"].band == "no_data"


def test_a_week_row_counts_only_students_with_an_outcome():
    snapshot = {}
    outcomes = {}
    for i in range(30):  # 10 very low (8 bad), 20 high (2 bad), scores separate them perfectly
        low = i < 10
        snapshot[str(i)] = Snapshot("very_low" if low else "high", float(i), float(i), {"vle": None if i % 2 else float(i)})
        outcomes[str(i)] = (i < 8) if low else (i >= 28)
    snapshot["stranger"] = Snapshot("high", 99.0, 99.0, {})
    row = week_row(3, date(2026, 10, 18), snapshot, outcomes, min_students=10, min_each=2)
    assert (row.students, row.bad) == (30, 10)
    assert row.bands["very_low"].value == pytest.approx(0.8) and row.bands["high"].value == pytest.approx(0.1)
    assert row.bands["partial"].value is None and row.bands["partial"].students == 0
    assert row.ratio.value == pytest.approx(8.0)
    expected = auc([float(i) for i in range(30) if outcomes[str(i)]], [float(i) for i in range(30) if not outcomes[str(i)]])
    assert row.aucs["score"].value == pytest.approx(expected)
    assert row.aucs["vle"].students == 15  # null = not applicable: left out
    assert row.aucs["attendance"].value is None and row.aucs["attendance"].students == 0
    assert row.as_json()["auc"]["score"]["students"] == 30


# ---------------------------------------------------------------- a planted university, end to end

END = datetime(2026, 11, 29, 23, 0, tzinfo=LONDON)


@pytest.fixture(scope="module")
def university(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    simulate(folder, students=400, days=42, seed=5, end=END, tz=LONDON)
    return folder


def test_simulated_outcomes_are_planted_and_seeded(university):
    people = make_students(400, random.Random(5))  # the students simulate drew first
    outcomes = load_outcomes(university / "outcomes.csv").bad
    assert set(outcomes) == {p.student_id for p in people}
    assert draw_outcomes(people, 5) == draw_outcomes(people, 5)
    quitters = [outcomes[p.student_id] for p in people if p.stops_on is not None]
    others = [outcomes[p.student_id] for p in people if p.stops_on is None and p.status != "withdrawn"]
    assert sum(quitters) / len(quitters) > 2 * sum(others) / len(others)


def test_evaluate_finds_the_planted_risk(university):
    people = {p.student_id: p for p in make_students(400, random.Random(5))}
    outcomes = load_outcomes(university / "outcomes.csv")
    start = END.date() - timedelta(days=41)
    collector = WeekCollector(start, [1, 2, 3, 4, 5, 6])
    events = read_events([university / "events.jsonl"])
    replay(events, load_roster_file(university / "roster.csv"), week_end(start, 6), Engagement(), LONDON, start=start, observe=collector)
    report = evaluation(collector, outcomes, END.date(), ["fail", "withdrawn"])
    assert [row.week for row in report.rows] == [1, 2, 3, 4, 5, 6] and report.weeks_beyond_data == []
    last = report.rows[-1]
    assert last.students == 400 and report.outcomes_without_data == 0
    flagged = [s for s, snap in collector.snapshots[6].items() if snap.band in ("low", "very_low")]
    quitters = [s for s, p in people.items() if p.stops_on is not None and p.stops_on < 30]
    assert sum(s in flagged for s in quitters) > 0.7 * len(quitters)  # those who stopped are flagged...
    assert last.ratio.value > 2.0  # ...and a bad outcome is far likelier there than in High/Good
    assert last.aucs["score"].value > 0.7 and last.aucs["term_to_date"].value > 0.65
    assert report.as_json()["weeks"][-1]["ratio_low_to_high"]["value"] == pytest.approx(last.ratio.value, abs=1e-4)


def test_weeks_after_the_data_are_not_judged():
    collector = WeekCollector(date(2026, 9, 28), [1, 2])
    collector(date(2026, 10, 4), [result("a", 50.0)])
    report = evaluation(collector, Outcomes({"a": True, "z": False}, Counter({"fail": 1, "pass": 1})), date(2026, 10, 6), ["fail"])
    assert report.weeks_beyond_data == [2] and [r.week for r in report.rows] == [1]
    assert (report.outcomes_without_data, report.results_without_outcome) == (1, 0)


def test_a_group_too_small_to_judge_gives_no_outcome_count():
    from streams.evaluate import judge_rate

    small = judge_rate([True, False, True], min_students=10)
    assert small.value is None and small.as_json()["bad"] is None and small.as_json()["students"] == 3
    big = judge_rate([True] * 3 + [False] * 9, min_students=10)
    assert big.as_json()["bad"] == 3
