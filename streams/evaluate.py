"""Checking the bands against outcomes: do low scores pick out the students who then fail?

An institution runs ``leap evaluate`` on a past term's exports and its students' outcomes
(pass, fail, withdrawn...) before trusting its weights and cut-points. For each week of
the term it reports, as of the end of the week's last day:

- the bad-outcome rate in each band;
- the ratio of the Low/Very low rate to the High/Good rate (how much likelier a bad
  outcome is for a student the bands flag);
- the AUC of the score, of the term-to-date score and of each source's score alone.

The AUC here is the probability that a student with a bad outcome has a *lower* score than
one without (ties count half): the area under the ROC curve of ``-score`` as a predictor of
a bad outcome. 0.5 is chance; 1.0 separates them perfectly; below 0.5 the score points the
wrong way. The *term-to-date* score of a day is the model's term view (the score of the
student's whole term so far against their reference group's; docs/engagement-model.md);
without one (a replay not following a term) the mean of the student's daily scores from
the term's first day, days without a score left out. A source's score is the one in the explanation's
``sources`` list; students for whom the source does not apply (null) are left out of that
source's AUC, so each AUC says how many students it is over.

A group too small to judge (fewer than ``min_students`` students, or for an AUC fewer than
``min_each`` students with either outcome) is reported as such, not as a number.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from leap.policy import SOURCES

BAD_OUTCOMES = ("fail", "withdrawn")
MIN_STUDENTS = 10
MIN_EACH = 5
BANDS = ("high", "good", "partial", "low", "very_low", "no_data")
FLAGGED = ("low", "very_low")
TRUSTED = ("high", "good")
SCORES = ("score", "term_to_date", *SOURCES)  # what an AUC is computed of


class OutcomesError(ValueError):
    """An outcomes file that cannot be read (the message names the file and line)."""


@dataclass(frozen=True)
class Outcomes:
    """Each student's outcome: whether it is bad, and how many students had each value."""

    bad: dict[str, bool]
    values: Counter[str]


def parse_outcomes(lines: Iterable[str], *, name: str, bad: Collection[str] = BAD_OUTCOMES) -> Outcomes:
    """An outcomes CSV (columns ``student_id`` and ``outcome``; others ignored) read from its lines.

    Values are compared case-insensitively; those in ``bad`` count as a bad outcome, any
    other as not. Raises ``OutcomesError`` naming the line on a missing column or value,
    or a student given two different outcomes.
    """
    bad_values = {b.strip().lower() for b in bad}
    reader = csv.reader(lines)
    header = [cell.strip().lstrip("\ufeff").lower() for cell in next(reader, [])]
    if "student_id" not in header or "outcome" not in header:
        raise OutcomesError(f"{name}:1: the header needs student_id and outcome columns, not {', '.join(header) or 'nothing'}")
    sid, out = header.index("student_id"), header.index("outcome")
    outcomes: dict[str, str] = {}
    for fields in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in fields):
            continue
        if len(fields) != len(header):
            raise OutcomesError(f"{name}:{line}: {len(fields)} fields where the header has {len(header)}")
        student, value = fields[sid].strip(), fields[out].strip().lower()
        if not student or not value:
            raise OutcomesError(f"{name}:{line}: {'student_id' if not student else 'outcome'} is empty")
        if outcomes.get(student, value) != value:
            raise OutcomesError(f"{name}:{line}: student {student} has two outcomes, {outcomes[student]} and {value}")
        outcomes[student] = value
    return Outcomes({s: v in bad_values for s, v in outcomes.items()}, Counter(outcomes.values()))


def load_outcomes(path: Path, bad: Collection[str] = BAD_OUTCOMES) -> Outcomes:
    """``parse_outcomes`` of a file."""
    with path.open(newline="", encoding="utf-8-sig") as stream:
        return parse_outcomes(stream, name=str(path), bad=bad)


def parse_weeks(text: str) -> list[int]:
    """Weeks as ``2-12``, ``5`` or ``1,3,5-7`` (week 1 is the term's first seven days)."""
    weeks: set[int] = set()
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi if dash else lo)
        except ValueError:
            raise ValueError(f"weeks {text!r}: expected numbers like 2-12, 5 or 1,3,5-7") from None
        if first < 1 or last < first:
            raise ValueError(f"weeks {text!r}: weeks start at 1 and a range goes upwards")
        weeks.update(range(first, last + 1))
    return sorted(weeks)


def week_end(term_start: date, week: int) -> date:
    """The last day of a term week: week k is days term_start + 7(k-1) .. term_start + 7k - 1."""
    return term_start + timedelta(days=7 * week - 1)


def auc(bad_scores: Sequence[float], good_scores: Sequence[float]) -> float:
    """P(a bad-outcome score < a good-outcome score), ties counting half (Mann-Whitney U).

    Raises ``ValueError`` when either group is empty.
    """
    if not bad_scores or not good_scores:
        raise ValueError("an AUC needs students with each outcome")
    pooled = sorted([(s, 0) for s in bad_scores] + [(s, 1) for s in good_scores])
    good_rank_sum = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j < len(pooled) and pooled[j][0] == pooled[i][0]:
            j += 1
        mid_rank = (i + 1 + j) / 2  # ranks i+1..j share their mean
        good_rank_sum += mid_rank * sum(1 for _, g in pooled[i:j] if g)
        i = j
    n_good = len(good_scores)
    u_good = good_rank_sum - n_good * (n_good + 1) / 2  # pairs where good > bad, ties half
    return u_good / (len(bad_scores) * n_good)


@dataclass(frozen=True)
class Judged:
    """A rate, ratio or AUC over ``students`` students (``bad`` of them with a bad outcome), or why there is none."""

    value: float | None
    students: int
    bad: int
    note: str | None = None

    def as_json(self) -> dict:
        """As plain data (value rounded to 4 places)."""
        value = None if self.value is None else round(self.value, 4)
        # A group too small to judge is too small to describe: no outcome count for it.
        return {"value": value, "students": self.students, "bad": None if self.value is None else self.bad, "note": self.note}


def judge_rate(outcomes: Sequence[bool], min_students: int = MIN_STUDENTS) -> Judged:
    """The share of bad outcomes in a group, unless the group is too small to judge."""
    n, n_bad = len(outcomes), sum(outcomes)
    if n < min_students:
        return Judged(None, n, n_bad, f"too small to judge (fewer than {min_students} students)")
    return Judged(n_bad / n, n, n_bad)


def judge_ratio(flagged: Judged, trusted: Judged) -> Judged:
    """How many times likelier a bad outcome is in Low/Very low than in High/Good."""
    students, bad = flagged.students + trusted.students, flagged.bad + trusted.bad
    if flagged.value is None or trusted.value is None:
        return Judged(None, students, bad, "too small to judge (Low/Very low or High/Good too small)")
    if trusted.value == 0:
        return Judged(None, students, bad, "no bad outcome in High/Good: unbounded")
    return Judged(flagged.value / trusted.value, students, bad)


def judge_auc(pairs: Sequence[tuple[float, bool]], min_students: int = MIN_STUDENTS, min_each: int = MIN_EACH) -> Judged:
    """The AUC of ``(score, is_bad)`` pairs (see module docstring), unless too few to judge."""
    bad = [s for s, b in pairs if b]
    good = [s for s, b in pairs if not b]
    if len(pairs) < min_students or len(bad) < min_each or len(good) < min_each:
        return Judged(
            None, len(pairs), len(bad), f"too small to judge (needs {min_students} students, {min_each} with each outcome)"
        )
    return Judged(auc(bad, good), len(pairs), len(bad))


# ---------------------------------------------------------------- following a term


@dataclass(frozen=True)
class Snapshot:
    """A student as of the end of a week: band, score, term-to-date score, each source's score."""

    band: str
    score: float | None
    term_to_date: float | None
    sources: Mapping[str, float | None]

    def value(self, name: str) -> float | None:
        """The score an AUC is computed of: ``score``, ``term_to_date`` or a source's name."""
        if name == "score":
            return self.score
        if name == "term_to_date":
            return self.term_to_date
        return self.sources.get(name)


def source_scores(explanation: Mapping) -> dict[str, float | None]:
    """Each source's score from an explanation (any version); null where it does not apply."""
    scores: dict[str, float | None] = {}
    for entry in explanation.get("sources") or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("source"), str):
            score = entry.get("score")
            scores[entry["source"]] = float(score) if isinstance(score, (int, float)) else None
    return scores


@dataclass
class WeekCollector:
    """An ``observe`` callback for ``streams.replay.replay``: keeps each student's snapshot at each week's end."""

    term_start: date
    weeks: Sequence[int]
    snapshots: dict[int, dict[str, Snapshot]] = field(default_factory=dict)
    _sums: dict[str, tuple[float, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._week_of_end = {week_end(self.term_start, w): w for w in self.weeks}

    def __call__(self, day: date, results: Sequence) -> None:  # results: list[ReplayResult]
        if day < self.term_start:
            return
        for r in results:
            if r.score is not None:
                total, days = self._sums.get(r.student_id, (0.0, 0))
                self._sums[r.student_id] = (total + r.score, days + 1)
        week = self._week_of_end.get(day)
        if week is None:
            return
        snapshot = {}
        for r in results:
            total, days = self._sums.get(r.student_id, (0.0, 0))
            term = r.explanation.get("term") if isinstance(r.explanation, dict) else None
            # The model's own term view when the replay followed a term; else the mean of the
            # student's daily scores so far.
            to_date = term.get("score") if isinstance(term, dict) else (total / days if days else None)
            snapshot[r.student_id] = Snapshot(r.band, r.score, to_date, source_scores(r.explanation))
        self.snapshots[week] = snapshot


@dataclass(frozen=True)
class WeekRow:
    """One week's verdicts."""

    week: int
    day: date
    students: int
    bad: int
    bands: dict[str, Judged]
    ratio: Judged
    aucs: dict[str, Judged]

    def as_json(self) -> dict:
        """As plain data."""
        return {
            "week": self.week,
            "as_of_day": self.day.isoformat(),
            "students": self.students,
            "bad": self.bad,
            "bands": {b: j.as_json() for b, j in self.bands.items()},
            "ratio_low_to_high": self.ratio.as_json(),
            "auc": {name: j.as_json() for name, j in self.aucs.items()},
        }


def week_row(
    week: int,
    day: date,
    snapshot: Mapping[str, Snapshot],
    outcomes: Mapping[str, bool],
    *,
    min_students: int = MIN_STUDENTS,
    min_each: int = MIN_EACH,
) -> WeekRow:
    """One week's rates by band, Low/Very low to High/Good ratio and AUCs, over students with an outcome."""
    known = {s: snap for s, snap in snapshot.items() if s in outcomes}
    by_band: dict[str, list[bool]] = {b: [] for b in BANDS}
    for student, snap in known.items():
        by_band.setdefault(snap.band, []).append(outcomes[student])
    bands = {b: judge_rate(v, min_students) for b, v in by_band.items()}
    flagged = judge_rate([o for b in FLAGGED for o in by_band[b]], min_students)
    trusted = judge_rate([o for b in TRUSTED for o in by_band[b]], min_students)
    aucs = {}
    for name in SCORES:
        pairs = [(v, outcomes[s]) for s, snap in known.items() if (v := snap.value(name)) is not None]
        aucs[name] = judge_auc(pairs, min_students, min_each)
    return WeekRow(week, day, len(known), sum(outcomes[s] for s in known), bands, judge_ratio(flagged, trusted), aucs)


@dataclass(frozen=True)
class Evaluation:
    """The whole report: one row per week, and who could not be counted."""

    term_start: date
    last_day: date
    rows: list[WeekRow]
    weeks_beyond_data: list[int]
    outcome_values: Counter[str]
    bad_values: tuple[str, ...]
    outcomes_without_data: int  # students with an outcome but no result (not on the roster, no events)
    results_without_outcome: int  # students with a result but no outcome
    min_students: int
    min_each: int

    def as_json(self) -> dict:
        """As plain data (``leap evaluate --json``)."""
        return {
            "term_start": self.term_start.isoformat(),
            "last_day_with_events": self.last_day.isoformat(),
            "bad_outcomes": list(self.bad_values),
            "outcomes": dict(sorted(self.outcome_values.items())),
            "outcomes_without_data": self.outcomes_without_data,
            "students_without_outcome": self.results_without_outcome,
            "min_students": self.min_students,
            "min_each": self.min_each,
            "auc_meaning": "probability that a student with a bad outcome has a lower score than one without (0.5 is chance)",
            "weeks": [row.as_json() for row in self.rows],
            "weeks_beyond_data": self.weeks_beyond_data,
        }


def evaluation(
    collector: WeekCollector,
    outcomes: Outcomes,
    last_day: date,
    bad_values: Iterable[str],
    *,
    min_students: int = MIN_STUDENTS,
    min_each: int = MIN_EACH,
) -> Evaluation:
    """The report from a collector that has followed the term (weeks ending after ``last_day`` are beyond the data)."""
    rows = [
        week_row(w, week_end(collector.term_start, w), collector.snapshots[w], outcomes.bad, min_students=min_students, min_each=min_each)
        for w in sorted(collector.snapshots)
    ]
    beyond = [w for w in collector.weeks if week_end(collector.term_start, w) > last_day]
    seen: set[str] = set().union(*(snap.keys() for snap in collector.snapshots.values()))
    return Evaluation(
        term_start=collector.term_start,
        last_day=last_day,
        rows=rows,
        weeks_beyond_data=beyond,
        outcome_values=outcomes.values,
        bad_values=tuple(bad_values),
        outcomes_without_data=sum(1 for s in outcomes.bad if s not in seen),
        results_without_outcome=sum(1 for s in seen if s not in outcomes.bad),
        min_students=min_students,
        min_each=min_each,
    )


def cell(judged: Judged, *, percent: bool) -> str:
    """A table cell: ``12% (3/25)``, ``0.81 (n 40)``, or why there is no number."""
    if judged.value is None:
        short = "too small" if judged.note and judged.note.startswith("too small") else (judged.note or "-")
        return f"{short} (n {judged.students})" if short == "too small" else short
    if percent:
        return f"{100 * judged.value:.0f}% ({judged.bad}/{judged.students})"
    return f"{judged.value:.2f} (n {judged.students})"
