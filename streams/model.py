"""The engagement model: pure functions over one student's days. No Kafka, no Faust, no clock.

The same functions run in the stream (``streams.engine``) and in the offline replay
(``streams.replay``), so their answers can be compared. docs/engagement-model.md explains
the model in words; every number comes from the institution policy.

State kept per student is a dict of local calendar days (proleptic ordinals) to ``Day``:
integer totals per source, and the 64-bit hashes of the event ids applied to that day with
each one's effect, so a redelivered or republished event is recognised and a correction can
undo exactly what the original did. Totals are integers (lecture capture in seconds), so
they do not depend on the order events arrive in.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from statistics import median
from zoneinfo import ZoneInfo

from leap.policy import BAND_ORDER, NO_DATA, RELATIVE_SOURCES, SOURCES, Engagement
from leap.vocabulary import cohort_of, group_label, group_level, reference_groups

# Positions in Day.totals.
VLE, COURSEWORK, LECTURE_SECONDS, LOGINS, LIBRARY, ATTENDED, EXPECTED = range(7)
TOTALS = 7
RELATIVE_INDEX = {"vle": VLE, "coursework": COURSEWORK, "lecture_capture": LECTURE_SECONDS, "logins": LOGINS, "library": LIBRARY}
# Effect codes stored per event: the source's totals index, or these.
ATTENDANCE = 5
VOID = 255  # amended by a correction: remembered, counts for nothing
# Attendance amounts: what the register mark adds to (attended, expected).
ATTENDANCE_MARKS = {"present": 2, "late": 2, "absent": 1, "authorised_absence": 0}
_MARK_EFFECT = {2: (1, 1), 1: (0, 1), 0: (0, 0)}
_BAND_RANK = {band: rank for rank, band in enumerate(BAND_ORDER)}


def id_hash(event_id: str) -> int:
    """The 64-bit hash an event id is remembered by (collisions: ~1 in 10^15 per student-day)."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "little")


def local_day(event_time_ms: int, tz: ZoneInfo) -> int:
    """The university-local calendar day of an instant, as a proleptic ordinal (DST-correct)."""
    return datetime.fromtimestamp(event_time_ms / 1000, tz).date().toordinal()


# Instants outside these years are not activity but a broken clock or a unit mistake
# (seconds or microseconds for milliseconds).
EARLIEST_EVENT_MS = 946_684_800_000  # 2000-01-01
LATEST_EVENT_MS = 4_102_444_800_000  # 2100-01-01
# One event cannot stand for more than a day of lecture capture.
MAX_MINUTES = 24 * 60


def event_day(event_time_ms: object, tz: ZoneInfo) -> int:
    """The local day of an event's time; ``InvalidEvent`` if it is not a plausible instant."""
    if isinstance(event_time_ms, bool) or not isinstance(event_time_ms, int):
        raise InvalidEvent(f"event time {event_time_ms!r} is not whole milliseconds")
    if not EARLIEST_EVENT_MS <= event_time_ms < LATEST_EVENT_MS:
        raise InvalidEvent(f"event time {event_time_ms} ms is outside 2000-2099 (seconds or microseconds instead of milliseconds?)")
    return local_day(event_time_ms, tz)


def day_start_ms(day: int, tz: ZoneInfo) -> int:
    """The first millisecond of a local day."""
    d = date.fromordinal(day)
    return int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp() * 1000)


class InvalidEvent(ValueError):
    """An event the model cannot apply; the message is the dead-letter reason."""


def effect_of(source: str, quantity: float | None, attendance_status: str | None) -> tuple[int, int]:
    """What an event adds: (effect code, amount). Raises ``InvalidEvent`` with the reason."""
    if source in ("vle", "coursework", "logins", "library"):
        return RELATIVE_INDEX[source], 1
    if source == "lecture_capture":
        if isinstance(quantity, bool) or not isinstance(quantity, (int, float)) or not math.isfinite(quantity) or quantity < 0:
            raise InvalidEvent(f"lecture_capture event needs minutes watched as a finite number >= 0, not {quantity!r}")
        if quantity > MAX_MINUTES:
            raise InvalidEvent(f"lecture_capture event of {quantity:g} minutes: more than a day ({MAX_MINUTES}) in one event")
        return LECTURE_SECONDS, round(quantity * 60)
    if source == "attendance":
        if attendance_status not in ATTENDANCE_MARKS:
            raise InvalidEvent(f"attendance event with status {attendance_status!r:.40}: expected one of {', '.join(ATTENDANCE_MARKS)}")
        return ATTENDANCE, ATTENDANCE_MARKS[attendance_status]
    raise InvalidEvent(f"unknown source {source!r}"[:200])


class Day:
    """One local day of one student: totals, and the events that made them."""

    __slots__ = ("totals", "ids", "codes", "amounts")

    def __init__(self) -> None:
        self.totals = [0] * TOTALS
        self.ids = array("Q")
        self.codes = array("B")
        self.amounts = array("q")

    def find(self, hashed: int) -> int:
        """Index of an event hash, or -1."""
        i = bisect_left(self.ids, hashed)
        return i if i < len(self.ids) and self.ids[i] == hashed else -1

    def _add(self, code: int, amount: int, sign: int) -> None:
        if code == ATTENDANCE:
            attended, expected = _MARK_EFFECT[amount]
            self.totals[ATTENDED] += sign * attended
            self.totals[EXPECTED] += sign * expected
        elif code != VOID:
            self.totals[code] += sign * amount

    def insert(self, hashed: int, code: int, amount: int) -> None:
        """Remember an event and add its effect (caller checked it is new)."""
        i = bisect_left(self.ids, hashed)
        self.ids.insert(i, hashed)
        self.codes.insert(i, code)
        self.amounts.insert(i, amount)
        self._add(code, amount, 1)

    def void(self, index: int) -> None:
        """Undo the effect of the event at ``index``; keep its id so it is never applied again."""
        self._add(self.codes[index], self.amounts[index], -1)
        self.codes[index] = VOID
        self.amounts[index] = 0

    @property
    def active(self) -> bool:
        """Whether anything on this day is activity (one definition for band and inactivity)."""
        t = self.totals
        return bool(t[VLE] or t[COURSEWORK] or t[LECTURE_SECONDS] or t[LOGINS] or t[LIBRARY] or t[ATTENDED])


class StudentState:
    """Everything the engine keeps about one student."""

    __slots__ = (
        "cohort", "groups", "part_time", "active", "rostered", "days", "last_active_pruned",
        "term_start", "term_sums", "term_active",
        "score", "band", "change_seq", "contribution", "published",
    )  # fmt: skip

    def __init__(self, cohort: str = "unassigned", groups: tuple[str, ...] = ("institution",)) -> None:
        self.cohort = cohort
        # The reference groups this student may be compared with, narrowest first (leap.vocabulary).
        self.groups = groups
        self.part_time = False
        self.active = True  # enrolment status active (roster); inactive students are not in baselines
        self.rostered = False
        self.days: dict[int, Day] = {}
        # The last active day among days already forgotten (0: none), so silence is measured
        # beyond the retention: a student who stopped before a holiday is still known to have.
        self.last_active_pruned = 0
        # The term-to-date view: the term's first day (0: none), and the capped totals and
        # active days of that term's days already forgotten (the retention is shorter than
        # a term).
        self.term_start = 0
        self.term_sums = [0] * TOTALS
        self.term_active = 0
        self.score: float | None = None
        self.band: str | None = None
        self.change_seq = 0
        # The last baseline contribution sent, as (day, measures), to send only changes.
        self.contribution: tuple[int, tuple[float, ...]] | None = None
        # Digest of the last published current state, to publish only changes.
        self.published: bytes = b""


def apply_roster(state: StudentState, entry: Mapping[str, object] | None) -> None:
    """Set a student's cohort, mode of study and status from their roster entry (or its absence)."""
    state.cohort = cohort_of(entry)
    state.groups = reference_groups(entry)
    state.rostered = entry is not None
    state.part_time = entry is not None and entry["mode_of_study"] == "part_time"
    state.active = entry is None or entry["status"] == "active"


APPLIED, DUPLICATE = "applied", "duplicate"


def apply_event(state: StudentState, day: int, event_id: str, code: int, amount: int, amends: str | None = None) -> str:
    """Apply one event to a student's ``day``: ``APPLIED``, or ``DUPLICATE`` if seen before.

    A correction (``amends`` = an earlier event id) voids the original wherever it is, then
    applies its own effect. If the original has not arrived yet it is remembered as void on
    the correction's day, so it counts for nothing when it comes (corrections carry the
    original's event time).
    """
    if amends is not None and amends == event_id:
        raise InvalidEvent(f"event {event_id[:80]} amends itself")
    hashed = id_hash(event_id)
    # An event id counts once per student whatever day it claims: a re-sent record with a
    # corrected timestamp is still the same record.
    for other in state.days.values():
        if other.find(hashed) >= 0:
            return DUPLICATE
    target = state.days.get(day)
    if target is None:
        target = state.days[day] = Day()
    if amends is not None:
        original = id_hash(amends)
        for other in state.days.values():
            index = other.find(original)
            if index >= 0:
                if other.codes[index] != VOID:
                    other.void(index)
                break
        else:
            target.insert(original, VOID, 0)
    target.insert(hashed, code, amount)
    return APPLIED


def prune(state: StudentState, today: int, policy: Engagement) -> None:
    """Forget days older than the retention (late events for them are rejected anyway)."""
    oldest = today - policy.retention_days + 1
    cap = _caps(policy)
    for day in sorted(d for d in state.days if d < oldest):
        kept = state.days.pop(day)
        if kept.active and day > state.last_active_pruned:
            state.last_active_pruned = day
        if state.term_start and day >= state.term_start:
            _add_capped(state.term_sums, kept.totals, cap)
            state.term_active += kept.active


def set_term(state: StudentState, term_start: int) -> None:
    """Start following a new term (its first day as an ordinal; 0: none): its totals start at zero.

    Called before ``prune`` on each new day, so no day of the new term is ever forgotten
    before it was counted.
    """
    if state.term_start != term_start:
        state.term_start = term_start
        state.term_sums = [0] * TOTALS
        state.term_active = 0


def _add_capped(sums: list[int], totals: list[int], cap: tuple[int, ...]) -> int:
    """Add one day's totals, capped, into ``sums``; return a bit per capped index."""
    capped = 0
    for i in range(5):
        if totals[i] > cap[i]:
            sums[i] += cap[i]
            capped |= 1 << i
        else:
            sums[i] += totals[i]
    sums[ATTENDED] += totals[ATTENDED]
    sums[EXPECTED] += totals[EXPECTED]
    return capped


def window_length(state: StudentState, policy: Engagement) -> int:
    """Days in the student's window: part-time students are judged over longer."""
    return policy.window_days_part_time if state.part_time else policy.window_days_full_time


def _caps(policy: Engagement) -> tuple[int, ...]:
    caps = policy.daily_caps
    return (caps.vle, caps.coursework, caps.lecture_capture_minutes * 60, caps.logins, caps.library)


def _window_totals(state: StudentState, first: int, last: int, policy: Engagement) -> tuple[list[int], list[int]]:
    """Capped sums over ``first..last`` per totals index, and per index the days the cap cut."""
    cap = _caps(policy)
    sums = [0] * TOTALS
    capped = [0] * TOTALS
    days = state.days
    for d in range(first, last + 1):
        day = days.get(d)
        if day is None:
            continue
        bits = _add_capped(sums, day.totals, cap)
        if bits:
            for i in range(5):
                capped[i] += (bits >> i) & 1
    return sums, capped


def _measures(sums: list[int], length: int) -> tuple[float, ...]:
    # Average per day, in the units people read: counts, and minutes for lecture capture.
    return tuple(
        (sums[RELATIVE_INDEX[s]] / 60 if s == "lecture_capture" else sums[RELATIVE_INDEX[s]]) / length
        for s in RELATIVE_SOURCES
    )


def contribution(state: StudentState, today: int, policy: Engagement) -> tuple[float, ...]:
    """The student's measures over the complete days before ``today`` (their own window length).

    Group baselines are medians of these: only complete days, so a baseline for a day does
    not move while that day goes on, and a student is scored on the same footing.
    """
    length = window_length(state, policy)
    window = _measures(_window_totals(state, today - length, today - 1, policy)[0], length)
    term = term_totals(state, today, policy)
    if term is None:
        return window
    sums, active, days = term
    return (*window, *_measures(sums, days), active / days)


# Positions in a contribution (and so in a baseline's medians): the window's measures, then
# the term's (when the institution has a calendar), then the term's share of active days.
TERM_MEASURES = slice(len(RELATIVE_SOURCES), 2 * len(RELATIVE_SOURCES))
TERM_ACTIVE_SHARE = 2 * len(RELATIVE_SOURCES)


def term_totals(state: StudentState, today: int, policy: Engagement) -> tuple[list[int], int, int] | None:
    """Capped totals, active days and days elapsed over the term's complete days before ``today``.

    None when no term is followed or none of its days is complete yet.
    """
    start = state.term_start
    if not start or today <= start:
        return None
    oldest_kept = min(state.days, default=start)
    sums = list(state.term_sums)
    first_kept = max(start, oldest_kept)
    kept, _ = _window_totals(state, first_kept, today - 1, policy)
    for i in range(TOTALS):
        sums[i] += kept[i]
    active = state.term_active + sum(1 for d, day in state.days.items() if first_kept <= d < today and day.active)
    return sums, active, today - start


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


def last_active_day(state: StudentState, today: int) -> int | None:
    """The last day up to ``today`` with any activity, remembered beyond the retention; None if never."""
    last = max((d for d, day in state.days.items() if d <= today and day.active), default=0)
    last = max(last, state.last_active_pruned if state.last_active_pruned <= today else 0)
    return last or None


def days_since_last_activity(state: StudentState, today: int) -> int | None:
    """Whole days since the last day with any activity (0: today); None if never active."""
    last = last_active_day(state, today)
    return None if last is None else today - last


def _score_window(state: StudentState, first: int, last: int, length: int, base: Baseline | None, policy: Engagement, why_no_base: str) -> tuple[float | None, tuple[SourceScore, ...]]:
    sums, capped = _window_totals(state, first, last, policy)
    medians = None if base is None else (base.medians[: len(RELATIVE_SOURCES)], base.used[: len(RELATIVE_SOURCES)])
    return _score_sums(sums, capped, length, medians, policy, why_no_base)


def _score_sums(
    sums: list[int], capped: list[int], length: int, medians: tuple[tuple[float, ...], tuple[bool, ...]] | None, policy: Engagement, why_no_base: str
) -> tuple[float | None, tuple[SourceScore, ...]]:
    """Score totals over ``length`` days against a group's medians (and whether each source was used)."""
    measures = _measures(sums, length)
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
