"""The alert consumer's pure core: a decoded batch and a snapshot of PostgreSQL in, writes and decisions out.

``consumers.consumer`` is the shell: it decodes Kafka messages into a ``Batch``, reads a
``Snapshot`` (the roster entries, exemptions, open episodes and postponed drops of the
batch's students, which of its band changes are stored already, source volumes and
arrivals, the engine's partition ends), calls ``plan`` and writes the ``Plan`` through
``consumers.store`` in one transaction. Nothing here does I/O, reads a clock or keeps
state between calls: the same batch and snapshot always give the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from consumers import rules
from leap.calendar import Calendar
from consumers.outages import outages
from consumers.rules import Decision, Exemption, Route, Student
from leap.policy import SOURCES, Alerts
from leap.vocabulary import partition_for

EPOCH = date(1970, 1, 1)
NOT_ON_ROSTER = "not_on_roster"


def to_date(days_since_epoch: int) -> date:
    """The engine's day numbers (days since 1970-01-01) as dates."""
    return EPOCH + timedelta(days=days_since_epoch)


@dataclass
class Batch:
    """One batch's decoded messages (plain data, in offset order)."""

    roster: list[tuple[str, dict | None]] = field(default_factory=list)  # None: removed from the roster
    states: dict[str, dict] = field(default_factory=dict)  # latest per student
    summaries: list[dict] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)
    volumes: dict[tuple[str, date], int] = field(default_factory=dict)  # events per (source, local day)
    arrivals: dict[str, float] = field(default_factory=dict)  # source -> latest publish time (Unix seconds)
    activity_ends: dict[int, int] = field(default_factory=dict)  # leap.activity partition -> next offset seen
    dead: list[dict] = field(default_factory=list)
    rejections: list[tuple[str, str]] = field(default_factory=list)  # (rejecter, reason) read from the dead-letter topic

    def students(self) -> set[str]:
        """Every student a decision of this batch may concern."""
        return {c["student_id"] for c in self.changes} | set(self.states) | {s["student_id"] for s in self.summaries} | {sid for sid, _ in self.roster}


@dataclass(frozen=True)
class Snapshot:
    """What PostgreSQL (and the shell's memory) held before the batch, for the batch's students."""

    roster: Mapping[str, Student] = field(default_factory=dict)
    exemptions: Mapping[str, tuple[Exemption, ...]] = field(default_factory=dict)
    episodes: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (student, kind) -> open episode
    postponed: Mapping[str, rules.Postponed] = field(default_factory=dict)  # student -> their latest postponed drop
    stored_changes: frozenset[str] = frozenset()  # the batch's change ids already stored
    volumes: Mapping[tuple[str, date], int] = field(default_factory=dict)
    last_arrivals: Mapping[str, float] = field(default_factory=dict)
    activity_ends: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Setting:
    """What stays the same between batches, and the instant decisions are taken at."""

    rules: Alerts
    calendar: Calendar
    partitions: int
    now: datetime  # timezone-aware, in the university's zone


@dataclass(frozen=True)
class Alerting:
    """One decision to record, with its recipient, facts and the metric labels it counts under."""

    student_id: str
    decision: Decision
    day: date
    route: Route
    facts: Mapping[str, Any]
    metric: tuple[str, str, str]  # leap_alerts_total{kind, outcome, reason}

    @property
    def counted_if_new(self) -> bool:
        """Raised and held alerts count only when the write created them (an episode is alerted once)."""
        return self.decision.action in ("raise", "hold")


@dataclass
class Plan:
    """Everything one batch writes, and the metric increments it causes."""

    roster: list[dict] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    states: list[dict] = field(default_factory=list)
    summaries: list[dict] = field(default_factory=list)
    band_changes: list[tuple[dict, date]] = field(default_factory=list)
    volumes: dict[tuple[str, date], int] = field(default_factory=dict)
    arrivals: dict[str, float] = field(default_factory=dict)
    alerts: list[Alerting] = field(default_factory=list)
    duplicates: int = 0  # band changes already stored


# ------------------------------------------------------------------ small pure helpers


def day_of(explanation: Mapping | None) -> date | None:
    """The local day a score is as of: ``as_of_day`` (explanation v2), else the end of its window."""
    if not isinstance(explanation, Mapping):
        return None
    for pick in (lambda e: e["as_of_day"], lambda e: e["window"][1]):
        try:
            return date.fromisoformat(pick(explanation))
        except (KeyError, IndexError, TypeError, ValueError):
            continue
    return None


def change_day(change: Mapping, setting: Setting) -> date:
    """The day a band change is as of: from its explanation, else its ``as_of`` instant (local)."""
    return day_of(change.get("explanation")) or datetime.fromtimestamp(change["as_of"] / 1000, setting.now.tzinfo).date()


def reason_label(reason: str) -> str:
    """A reason's first word, as a metric label."""
    return reason.split(":")[0].split(" ")[0] if reason else "none"


def merged_volumes(before: Mapping[tuple[str, date], int], added: Mapping[tuple[str, date], int]) -> dict[tuple[str, date], int]:
    """Volumes with a batch's counts added."""
    merged = dict(before)
    for key, n in added.items():
        merged[key] = merged.get(key, 0) + n
    return merged


def merged_arrivals(before: Mapping[str, float], added: Mapping[str, float]) -> dict[str, float]:
    """Each source's latest arrival."""
    merged = dict(before)
    for source, at in added.items():
        merged[source] = max(at, merged.get(source, at))
    return merged


def without_students(batch: Batch, erased: set[str]) -> tuple[Batch, dict[str, set[str]]]:
    """The batch without anything about erased students, and which of them to tombstone again per topic.

    An erased student's state or roster entry published after the erasure (the engine still
    holding their recent activity, a roster file loaded again) is dropped, and its key is
    returned under ``student-state`` or ``roster`` so the shell publishes a tombstone after it:
    the topic's latest value for the student stays null. Activity volumes and arrivals are
    aggregates and stay.
    """
    if not erased:
        return batch, {}
    again = {
        "student-state": {sid for sid in batch.states if sid in erased},
        "roster": {sid for sid, entry in batch.roster if sid in erased and entry is not None},
    }
    kept = replace(
        batch,
        roster=[(sid, entry) for sid, entry in batch.roster if sid not in erased],
        states={sid: s for sid, s in batch.states.items() if sid not in erased},
        summaries=[s for s in batch.summaries if s["student_id"] not in erased],
        changes=[c for c in batch.changes if c["student_id"] not in erased],
    )
    return kept, {topic: ids for topic, ids in again.items() if ids}


def roster_after(before: Mapping[str, Student], entries: Iterable[tuple[str, dict | None]], today: date) -> dict[str, Student]:
    """The roster facts once a batch's entries are applied (in order; removals keep the row)."""
    roster = dict(before)
    for student_id, entry in entries:
        known = roster.get(student_id)
        # Stored once, when first listed (rows from before the column was added have none).
        enrolled = known.enrolled if known is not None else today
        if entry is None:
            if known is not None:
                roster[student_id] = Student(student_id, NOT_ON_ROSTER, known.personal_tutor, known.department, known.enrolled)
            continue
        roster[student_id] = Student(student_id, entry.get("status") or "active", entry.get("personal_tutor_id"), entry.get("department"), enrolled)
    return roster


def behind(student_id: str, input_offset: int | None, activity_ends: Mapping[int, int], partitions: int, tolerance: int) -> str | None:
    """Why a state of this student may predate activity already published, or None.

    The engine stamps each state with how far into the student's activity partition it
    had read; more than ``tolerance`` messages short of the partition's end means the
    state was computed half-way through a backlog.
    """
    if input_offset is None:
        return None  # an engine that does not say: judge the state as it is
    partition = partition_for(student_id.encode(), partitions)
    end = activity_ends.get(partition)
    if end is None:
        return None
    unread = end - 1 - input_offset
    if unread > tolerance:
        return f"the engine had {unread:,} activity messages of partition {partition} still to read"
    return None


def current_outages(volumes: Mapping[tuple[str, date], int], last_arrivals: Mapping[str, float], setting: Setting) -> dict[str, int]:
    """``leap_source_outage`` for every known source now: 1 out, 0 not (sources never seen included)."""
    found = outages(volumes, last_arrivals, setting.now.date(), setting.now, setting.calendar, setting.rules.outage_guard)
    return {source: int(source in found) for source in sorted({*SOURCES, *found, *last_arrivals, *(s for s, _ in volumes)})}


# ------------------------------------------------------------------ the batch


class _Decider:
    """The decisions of one batch, with the episodes it opens and closes as it goes."""

    def __init__(self, snap: Snapshot, setting: Setting, roster: Mapping[str, Student], volumes, arrivals) -> None:  # type: ignore[no-untyped-def]
        self.snap, self.setting, self.roster = snap, setting, roster
        self.volumes, self.arrivals = volumes, arrivals
        self.episodes = dict(snap.episodes)
        self.postponed = dict(snap.postponed)
        self.outages_by_day: dict[date, dict[str, str]] = {}
        self.alerts: list[Alerting] = []

    def context(self, student_id: str, kind: str, day: date, input_offset: int | None) -> rules.Context:
        if day not in self.outages_by_day:
            s = self.setting
            self.outages_by_day[day] = outages(self.volumes, self.arrivals, day, s.now, s.calendar, s.rules.outage_guard)
        why_behind = behind(student_id, input_offset, self.snap.activity_ends, self.setting.partitions, self.setting.rules.engine_lag_tolerance)
        return rules.Context(
            self.roster.get(student_id), self.snap.exemptions.get(student_id, ()), self.setting.calendar,
            self.outages_by_day[day], self.episodes.get((student_id, kind)), why_behind,
        )  # fmt: skip

    def record(self, student_id: str, decision: Decision, day: date, facts: Mapping[str, Any]) -> None:
        if decision.action == "none":
            return
        kind = decision.kind
        if decision.action == "close":
            self.episodes.pop((student_id, kind), None)
            metric = (kind, "closed", "recovered")
        elif decision.action == "suppress":
            metric = (kind, "suppressed", reason_label(decision.reason))
            if rules.postpones(decision):
                self.postponed[student_id] = rules.Postponed(decision.episode, day)
        elif decision.action == "resolve":
            self.postponed.pop(student_id, None)
            metric = (kind, "resolved", "superseded" if "is open" in decision.reason else "recovered")
        else:
            self.episodes[(student_id, kind)] = decision.episode
            if kind == rules.DROP:
                self.postponed.pop(student_id, None)  # the open episode supersedes any postponed drop
            why = "none" if not decision.held_for else ("engine_behind" if rules.ENGINE in decision.held_for else "source_outage")
            metric = (kind, "raised" if decision.action == "raise" else "held", why)
        route = rules.route(self.roster.get(student_id), self.setting.rules)
        self.alerts.append(Alerting(student_id, decision, day, route, facts, metric))


def plan(batch: Batch, snap: Snapshot, setting: Setting) -> Plan:
    """What a batch writes and which alerts it decides (see the module docstring)."""
    latest = dict(batch.roster)  # in offset order: a student's last entry (or removal) wins
    volumes = merged_volumes(snap.volumes, batch.volumes)
    arrivals = merged_arrivals(snap.last_arrivals, batch.arrivals)
    roster = roster_after(snap.roster, batch.roster, setting.now.date())
    out = Plan(
        roster=[r for r in latest.values() if r is not None],
        removed=[sid for sid, r in latest.items() if r is None],
        states=list(batch.states.values()),
        summaries=list(batch.summaries),
        volumes=dict(batch.volumes),
        arrivals=dict(batch.arrivals),
    )
    decider = _Decider(snap, setting, roster, volumes, arrivals)
    seen = set(snap.stored_changes)
    for change in batch.changes:
        if change["change_id"] in seen:
            out.duplicates += 1
            continue
        seen.add(change["change_id"])
        day = change_day(change, setting)
        out.band_changes.append((change, day))
        ctx = decider.context(change["student_id"], rules.DROP, day, change.get("input_offset"))
        facts = {"band": change["new_band"], "score": change["score"], "days_since_last_activity": change["days_since_last_activity"], "explanation": change["explanation"], "trigger_change_id": change["change_id"]}
        decider.record(change["student_id"], rules.on_band_change(change, day, ctx, setting.rules), day, facts)
    for student, state in batch.states.items():
        day = to_date(state["day"])
        ctx = decider.context(student, rules.NO_ENGAGEMENT, day, state.get("input_offset"))
        facts = {"band": state["band"], "score": state["score"], "days_since_last_activity": state["days_since_last_activity"], "explanation": state["explanation"]}
        decider.record(student, rules.on_state(state, day, ctx, setting.rules), day, facts)
    for summary in batch.summaries:
        student, day = summary["student_id"], to_date(summary["day"])
        pending = decider.postponed.get(student)
        if pending is None:
            continue
        ctx = decider.context(student, rules.DROP, day, None)
        facts = {"band": summary["band"], "score": summary["score"], "days_since_last_activity": summary["days_since_last_activity"], "explanation": None, "trigger_change_id": pending.episode}
        decider.record(student, rules.on_summary(summary, day, pending, ctx, setting.rules), day, facts)
    out.alerts = decider.alerts
    return out


# ------------------------------------------------------------------ held alerts


@dataclass(frozen=True)
class Fate:
    """What the review decided for one held alert."""

    alert_id: str
    student_id: str
    kind: str
    fate: str  # release, drop or keep
    because: str


def review(held: Iterable[Mapping], snap: Snapshot, setting: Setting) -> list[Fate]:
    """Each held alert's fate (rows of ``store.held_alerts``): released, dropped or kept."""
    fates = []
    by_day: dict[date, dict[str, str]] = {}
    for alert in held:
        student, state_day = alert["student_id"], alert["current_day"]
        if state_day is not None and state_day not in by_day:
            by_day[state_day] = outages(snap.volumes, snap.last_arrivals, state_day, setting.now, setting.calendar, setting.rules.outage_guard)
        why_behind = behind(student, alert["current_offset"], snap.activity_ends, setting.partitions, setting.rules.engine_lag_tolerance)
        ctx = rules.Context(snap.roster.get(student), snap.exemptions.get(student, ()), setting.calendar, by_day.get(state_day, {}), None, why_behind)
        state = None if state_day is None else {"band": alert["current_band"], "days_since_last_activity": alert["current_days_since"]}
        fate = rules.review_held(alert["kind"], alert["day"], alert["held_for"], state, state_day, ctx, setting.rules)
        because = f"held for {', '.join(alert['held_for'])}; the student's current state does not call for it"
        if fate == "release" and (why_not := rules.suppression(state_day, ctx)) is not None:
            fate, because = "drop", f"held, and now suppressed ({why_not})"
        fates.append(Fate(str(alert["alert_id"]), student, alert["kind"], fate, because))
    return fates
