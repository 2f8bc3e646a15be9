"""Offline replay: every student's band, score and explanation as of the end of a day.

It uses the model's own functions (``streams.model``) on the same events, with no services,
so its answer is what the stream must converge to. Bands are followed day by day through
the retained history with the same hysteresis, so a band that depends on its path is
the one a nightly run would have shown.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from streams.model import (
    APPLIED,
    DUPLICATE,
    InvalidEvent,
    StudentState,
    apply_event,
    apply_roster,
    contribution,
    effect_of,
    event_day,
    set_term,
)
from streams.scoring import Baseline, baseline, evaluate, next_band
from leap.calendar import Calendar
from leap.policy import Engagement


@dataclass(frozen=True)
class ReplayResult:
    """One student's result as of the replay day."""

    student_id: str
    cohort: str
    score: float | None
    band: str
    days_since_last_activity: int | None
    explanation: dict

    def as_json(self) -> dict:
        """The result as one JSON object."""
        return {
            "student_id": self.student_id,
            "cohort": self.cohort,
            "score": self.score,
            "band": self.band,
            "days_since_last_activity": self.days_since_last_activity,
            "explanation": self.explanation,
        }


@dataclass
class ReplayCounts:
    """What the replay did with the events it read."""

    read: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    outside: int = 0  # after the as-of day, or older than the retention
    reasons: Counter[str] = field(default_factory=Counter)  # rejections by reason
    # (source, applied | duplicate | outside | rejected): what became of each source's events.
    by_source: Counter[tuple[str, str]] = field(default_factory=Counter)


def eligible(state: StudentState) -> bool:
    """Whether a student counts in their cohort's baseline (enrolment status active)."""
    return state.active


def cohort_baselines(states: Mapping[str, StudentState], day: int, policy: Engagement) -> dict[str, Baseline]:
    """Every reference group's baseline for ``day`` from its active members' complete days."""
    members: dict[str, list[tuple[float, ...]]] = defaultdict(list)
    oldest = day - policy.retention_days + 1
    for state in states.values():
        # As in the stream: a student not on the roster exists from their first event and
        # is forgotten once none of their days is retained.
        if not state.rostered and not any(oldest <= d <= day for d in state.days):
            continue
        if eligible(state):
            measures = contribution(state, day, policy)
            for group in state.groups:
                members[group].append(measures)
    return {group: baseline(group, day, contribs) for group, contribs in members.items()}


def replay(
    events: Iterable[dict | None],
    roster: Mapping[str, Mapping[str, object]],
    as_of: date | datetime,
    policy: Engagement,
    tz: ZoneInfo,
    *,
    start: date | None = None,
    observe: Callable[[date, list[ReplayResult]], None] | None = None,
    calendar: Calendar | None = None,
) -> tuple[list[ReplayResult], ReplayCounts]:
    """Every student's result as of ``as_of`` (see module docstring).

    ``as_of`` is a day (its end) or an aware instant (what the stream shows at that moment:
    events up to the instant). Bands are followed day by day from ``start`` (default: the
    oldest retained day); ``observe(day, results)`` is called with every day's end-of-day
    results (for the last day, the results as of ``as_of``), so a caller can follow scores
    through a term without replaying it once per day. With a ``calendar``, results carry the
    term-to-date view, as the stream's do.
    """
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            raise ValueError("as_of instant needs a time zone")
        until_ms = int(as_of.timestamp() * 1000)
        today = as_of.astimezone(tz).date().toordinal()
    else:
        today = as_of.toordinal()
        until_ms = None
    # Events older than the retention before the first day followed (or the term's start)
    # count for nothing.
    term = calendar.latest_term(date.fromordinal(today)) if calendar is not None else None
    keep_from = min(start.toordinal() if start is not None else today, today, term.starts.toordinal() if term else today)
    oldest = keep_from - policy.retention_days + 1
    first_followed = start.toordinal() if start is not None else oldest
    counts = ReplayCounts()
    states: dict[str, StudentState] = {}
    for student, entry in roster.items():
        apply_roster(states.setdefault(student, StudentState()), entry)
    for event in events:
        counts.read += 1
        if event is None:
            counts.rejected += 1
            counts.by_source[("unreadable", "rejected")] += 1
            continue
        try:
            outcome = _apply(event, states, roster, today, oldest, until_ms, tz)
        except Exception as exc:  # noqa: BLE001 - the same rule as the stream: no record stops it
            outcome = f"{type(exc).__name__}: {exc}" if not isinstance(exc, InvalidEvent) else str(exc)
        if outcome == APPLIED:
            counts.applied += 1
        elif outcome == DUPLICATE:
            counts.duplicates += 1
        elif outcome == _OUTSIDE:
            counts.outside += 1
        else:
            counts.rejected += 1
            counts.reasons[outcome[:200]] += 1
        kind = outcome if outcome in (APPLIED, DUPLICATE, _OUTSIDE) else "rejected"
        counts.by_source[(str(event.get("source")), kind)] += 1

    # Follow each student's band through the days, as end-of-day evaluations.
    first_day = min((d for s in states.values() for d in s.days), default=today)
    results: list[ReplayResult] = []
    for day in range(max(first_day, first_followed), today + 1):
        term = calendar.latest_term(date.fromordinal(day)) if calendar is not None else None
        for state in states.values():
            set_term(state, term.starts.toordinal() if term is not None else 0)
        baselines = cohort_baselines(states, day, policy)
        results = []
        for student, state in sorted(states.items()):
            result = evaluate(state, day, baselines, policy)
            state.band = next_band(state.band, result.score, policy)
            state.score = result.score
            results.append(
                ReplayResult(student, state.cohort, state.score, state.band or "no_data", result.days_since_last_activity, result.explanation(state.cohort, state.band, policy))
            )
        if observe is not None:
            observe(date.fromordinal(day), results)
    return results, counts


_OUTSIDE = "outside"


def _apply(event: Mapping, states: dict[str, StudentState], roster: Mapping, today: int, oldest: int, until_ms: int | None, tz: ZoneInfo) -> str:
    """One event into the students' states, by the engine's rules: APPLIED, DUPLICATE, _OUTSIDE, or raises."""
    if not isinstance(event.get("student_id"), str) or not isinstance(event.get("event_id"), str) or not event["student_id"] or not event["event_id"]:
        raise InvalidEvent("event without a text student_id and event_id")
    day = event_day(event["event_time"], tz)
    if day > today or day < oldest or (until_ms is not None and event["event_time"] > until_ms):
        return _OUTSIDE
    code, amount = effect_of(event["source"], event["quantity"], event["attendance_status"])
    student = event["student_id"]
    state = states.get(student)
    if state is None:
        state = states[student] = StudentState()
        apply_roster(state, roster.get(student))
    return apply_event(state, day, event["event_id"], code, amount, event.get("amends"))


def write_results(results: Iterable[ReplayResult], path: Path | None) -> None:
    """Results as JSON lines, to a file or standard output."""
    lines = (json.dumps(r.as_json()) + "\n" for r in results)
    if path is None:
        import sys

        sys.stdout.writelines(lines)
    else:
        with path.open("w") as out:
            out.writelines(lines)
