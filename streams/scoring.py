"""Scoring: a student's days against their reference group, a score, a band and its explanation.

Pure functions over ``streams.model``'s state, the same in the stream (``streams.engine``)
and the replay (``streams.replay``). docs/engagement-model.md explains the rules in words;
every number comes from the institution policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from statistics import median

from leap.policy import BAND_ORDER, NO_DATA, RELATIVE_SOURCES, Engagement
from leap.vocabulary import group_label, group_level
from streams.day import ATTENDED, EXPECTED, RELATIVE_INDEX, TOTALS
from streams.model import TERM_ACTIVE_SHARE, TERM_MEASURES, StudentState, per_day, window_totals, last_active_day, term_totals, window_length

_BAND_RANK = {band: rank for rank, band in enumerate(BAND_ORDER)}


@dataclass(frozen=True, slots=True)
class Baseline:
    """A group's medians for one day, from its active members' contributions."""

    cohort: str  # the group's key (leap.vocabulary); named cohort in the wire format
    day: int
    medians: tuple[float, ...]
    used: tuple[bool, ...]
    members: int


def baseline(cohort: str, day: int, contributions: list[tuple[float, ...]]) -> Baseline:
    """Group medians per relative source, and whether anyone used each source at all."""
    if not contributions:
        zeros = tuple(0.0 for _ in RELATIVE_SOURCES)
        return Baseline(cohort, day, zeros, tuple(False for _ in RELATIVE_SOURCES), 0)
    columns = list(zip(*contributions))
    return Baseline(
        cohort,
        day,
        tuple(float(median(col)) for col in columns),
        tuple(any(v > 0 for v in col) for col in columns),
        len(contributions),
    )


def reference_baseline(groups: tuple[str, ...], baselines: Mapping[str, Baseline], min_size: int) -> Baseline | None:
    """The narrowest of a student's groups whose baseline has at least ``min_size`` members.

    No figure from a smaller group is ever used, so no comparison can single anyone out.
    """
    for group in groups:
        found = baselines.get(group)
        if found is not None and found.members >= min_size:
            return found
    return None


def changes_scores(old: Baseline | None, new: Baseline, min_size: int) -> bool:
    """Whether students compared with ``new``'s group may score differently than with ``old``.

    Only its day, medians, the sources used and which side of ``min_size`` it is on enter a
    score; a new member count alone changes only the group size an explanation quotes, and
    that is brought up to date at the student's next evaluation (their next event or day
    rollover). A group whose every newcomer changes only its count (new students in the
    institution-wide group, say) would otherwise have all its members re-scored each time.
    """
    if old is None:
        return True
    same = old.day == new.day and old.medians == new.medians and old.used == new.used
    return not same or (old.members >= min_size) != (new.members >= min_size)


@dataclass(frozen=True, slots=True)
class SourceScore:
    """One source's part in a score: what a student is told about it."""

    source: str
    measure: float  # per day over the window (attendance: attended sessions)
    reference: float | None  # group median per day (attendance: expected sessions)
    score: float | None  # None: not applicable
    weight: float
    status: str  # see SOURCE_STATUSES
    capped_days: int = 0


# Why a source scored what it did; the explanation renderer (leap.explain) puts each in words.
SOURCE_STATUSES = (
    "scored", "no_sessions", "no_baseline", "group_too_small", "nobody_used", "group_did_not_use", "used_when_group_did_not",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A student's score on a day, with its explanation."""

    score: float | None
    sources: tuple[SourceScore, ...]
    window_start: int
    window_end: int
    baseline_day: int | None
    days_since_last_activity: int | None
    as_of: int = 0
    window_kind: str = "complete_days"  # or "including_today"
    reference: Baseline | None = None
    last_active: int | None = None
    term: TermView | None = None

    def explanation(self, cohort: str, band: str | None, policy: Engagement) -> dict:
        """The explanation as plain data, format 2 (for people, the Avro record and the portal)."""
        b = policy.bands
        ref = self.reference
        return {
            "version": 2,
            "cohort": cohort,
            "as_of_day": _iso(self.as_of),
            "window": [_iso(self.window_start), _iso(self.window_end)],
            "window_kind": self.window_kind,
            "window_days": self.window_end - self.window_start + 1,
            "reference_group": None if ref is None else {"key": ref.cohort, "label": group_label(ref.cohort), "size": ref.members, "level": group_level(ref.cohort)},
            "baseline_day": _iso(self.baseline_day) if self.baseline_day else None,
            "score": None if self.score is None else round(self.score, 4),
            "band": band or NO_DATA,
            "band_by_score": NO_DATA if self.score is None else band_of(self.score, policy),
            "bands": {"high": b.high, "good": b.good, "partial": b.partial, "low": b.low, "margin": policy.hysteresis_margin},
            "days_since_last_activity": self.days_since_last_activity,
            "last_active_day": _iso(self.last_active) if self.last_active else None,
            "term": None if self.term is None else self.term.as_dict(policy),
            "sources": [
                {
                    "source": s.source,
                    "measure": round(s.measure, 4),
                    "reference": None if s.reference is None else round(s.reference, 4),
                    "score": None if s.score is None else round(s.score, 4),
                    "weight": s.weight,
                    "status": s.status,
                    "capped_days": s.capped_days,
                }
                for s in self.sources
            ],
        }


def _iso(day: int) -> str:
    return date.fromordinal(day).isoformat()


def _score_window(state: StudentState, first: int, last: int, length: int, base: Baseline | None, policy: Engagement, why_no_base: str) -> tuple[float | None, tuple[SourceScore, ...]]:
    sums, capped = window_totals(state, first, last, policy)
    medians = None if base is None else (base.medians[: len(RELATIVE_SOURCES)], base.used[: len(RELATIVE_SOURCES)])
    return _score_sums(sums, capped, length, medians, policy, why_no_base)


def _score_sums(
    sums: list[int], capped: list[int], length: int, medians: tuple[tuple[float, ...], tuple[bool, ...]] | None, policy: Engagement, why_no_base: str
) -> tuple[float | None, tuple[SourceScore, ...]]:
    """Score totals over ``length`` days against a group's medians (and whether each source was used)."""
    measures = per_day(sums, length)
    weights = policy.weights
    parts: list[SourceScore] = []
    expected = sums[EXPECTED]
    if expected:
        parts.append(SourceScore("attendance", sums[ATTENDED], expected, 100.0 * sums[ATTENDED] / expected, weights.attendance, "scored"))
    else:
        parts.append(SourceScore("attendance", 0, 0, None, weights.attendance, "no_sessions"))
    for i, source in enumerate(RELATIVE_SOURCES):
        weight = getattr(weights, source)
        measure = measures[i]
        days_capped = capped[RELATIVE_INDEX[source]]
        if medians is None:
            parts.append(SourceScore(source, measure, None, None, weight, why_no_base, days_capped))
            continue
        ref, used = medians[0][i], medians[1][i]
        if not used:
            parts.append(SourceScore(source, measure, ref, None, weight, "nobody_used", days_capped))
        elif ref > 0:
            parts.append(SourceScore(source, measure, ref, min(100.0, 100.0 * measure / ref), weight, "scored", days_capped))
        elif measure > 0:
            parts.append(SourceScore(source, measure, ref, 100.0, weight, "used_when_group_did_not", days_capped))
        else:
            parts.append(SourceScore(source, measure, ref, None, weight, "group_did_not_use", days_capped))
    weighted = [(p.score, p.weight) for p in parts if p.score is not None and p.weight > 0]
    total_weight = sum(w for _, w in weighted)
    score = sum(s * w for s, w in weighted) / total_weight if total_weight else None
    return score, tuple(parts)


@dataclass(frozen=True, slots=True)
class TermView:
    """Term-to-date engagement beside the seven-day band: a trend, not only the last week."""

    start: int
    days: int  # complete days of the term so far
    active_days: int
    group_active_days: float | None  # the reference group's median, in days
    score: float | None
    sources: tuple[SourceScore, ...]

    def as_dict(self, policy: Engagement) -> dict:
        """The term view as plain data, for the explanation."""
        return {
            "start": _iso(self.start),
            "through": _iso(self.start + self.days - 1),
            "days": self.days,
            "active_days": self.active_days,
            "group_active_days": None if self.group_active_days is None else round(self.group_active_days, 1),
            "score": None if self.score is None else round(self.score, 4),
            "band": NO_DATA if self.score is None else band_of(self.score, policy),
            "sources": [
                {"source": s.source, "measure": round(s.measure, 4), "reference": None if s.reference is None else round(s.reference, 4), "score": None if s.score is None else round(s.score, 4), "status": s.status}
                for s in self.sources
            ],
        }


def term_view(state: StudentState, today: int, base: Baseline | None, policy: Engagement, why_no_base: str) -> TermView | None:
    """The student's term so far (complete days) against the same reference group's term figures."""
    totals = term_totals(state, today, policy)
    if totals is None:
        return None
    sums, active, days = totals
    group = None
    if base is not None and len(base.medians) > TERM_ACTIVE_SHARE:
        group = (base.medians[TERM_MEASURES], base.used[TERM_MEASURES])
    why = why_no_base if base is None else "no_baseline"
    score, parts = _score_sums(sums, [0] * TOTALS, days, group, policy, why)
    group_active = base.medians[TERM_ACTIVE_SHARE] * days if group is not None else None
    return TermView(state.term_start, days, active, group_active, score, parts)


def evaluate(state: StudentState, today: int, baselines: Mapping[str, Baseline], policy: Engagement) -> Evaluation:
    """Score a student on ``today`` against the narrowest of their groups that is big enough.

    The window is the last N complete days, the same days the group's baseline is made of,
    so a student whose days are all alike scores the same at every hour and across every
    midnight. Today's activity counts as soon as it happens, but only when it helps: the
    score is the better of the last N complete days and the last N-1 complete days plus
    today so far. A quiet morning therefore never lowers a band; the day counts against a
    student only once it is over.
    """
    length = window_length(state, policy)
    base = reference_baseline(state.groups, baselines, policy.min_cohort_size)
    why = "no_baseline" if not any(g in baselines for g in state.groups) else "group_too_small"
    complete = _score_window(state, today - length, today - 1, length, base, policy, why)
    with_today = _score_window(state, today - length + 1, today, length, base, policy, why)
    if with_today[0] is not None and (complete[0] is None or with_today[0] > complete[0]):
        (score, parts), first, kind = with_today, today - length + 1, "including_today"
    else:
        (score, parts), first, kind = complete, today - length, "complete_days"
    last_active = last_active_day(state, today)
    return Evaluation(
        score, parts, first, first + length - 1, base.day if base else None,
        None if last_active is None else today - last_active, today, kind, base, last_active,
        term_view(state, today, base, policy, why),
    )  # fmt: skip


def band_of(score: float, policy: Engagement) -> str:
    """The band a score falls in, without hysteresis."""
    b = policy.bands
    if score >= b.high:
        return "high"
    if score >= b.good:
        return "good"
    if score >= b.partial:
        return "partial"
    if score >= b.low:
        return "low"
    return "very_low"


def next_band(previous: str | None, score: float | None, policy: Engagement) -> str:
    """The band after a new score: it moves only when the score passes a boundary by the margin."""
    if score is None:
        return NO_DATA
    if previous is None or previous == NO_DATA:
        return band_of(score, policy)
    margin = policy.hysteresis_margin
    up = band_of(score - margin, policy)
    if _BAND_RANK[up] > _BAND_RANK[previous]:
        return up
    down = band_of(score + margin, policy)
    if _BAND_RANK[down] < _BAND_RANK[previous]:
        return down
    return previous


def near_boundary(score: float, policy: Engagement) -> bool:
    """Whether a score is within the hysteresis margin of a band boundary (its band is path-dependent)."""
    b = policy.bands
    return any(abs(score - bound) <= policy.hysteresis_margin for bound in (b.high, b.good, b.partial, b.low))
