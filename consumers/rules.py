"""The alert policy: pure decisions over plain data, the same in the consumer and in tests.

Two kinds of alert (numbers from the ``[alerts]`` section of the institution policy):
- ``drop``: a band change into one of ``drop_into`` (Low, Very low) from a higher band;
- ``no_engagement``: ``no_engagement_days`` days with no activity in any source, counting
  only teaching days on which the student was not exempt (so holidays and placements do
  not add up to an alert on the first day back). A rostered student never active at all
  is counted from the later of the start of the current term and their enrolment.

An *episode* starts when a condition first holds and ends when the student recovers (back
to ``rearm_at`` or better for drops; any activity for silence). There is at most one alert
per student, kind and episode, so the same trigger seen twice is one alert, and a student
still Low after an alert is not alerted again until they have recovered.

Suppressed (not raised, recorded with the reason): non-teaching days, the student's
exemptions, a roster status other than active. A drop suppressed in a break or an exemption
is revisited at the end of the first day on which it would not be: still in a ``drop_into``
band, it is alerted then (its episode is the suppressed change's); recovered, it is not. A
fall scored on that first day back (at its midnight the window holds the break's days) is
postponed to the end of that day the same way (``first-day-back``).
Held (recorded, not sent): when a source the
student's score depends on looks broken (``consumers.outages``: its volume on its last
complete day far below usual, or nothing arriving from it for too long), or when the state was computed before the engine had read
the activity already published (``behind``: a backlog); a held alert is released or
dropped once the source has recovered (or the engine caught up) and the student has been
re-scored.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from leap.calendar import Calendar
from leap.explain import band_name
from leap.policy import BAND_ORDER, Alerts
from leap.vocabulary import EVENT_NAMESPACE

DROP, NO_ENGAGEMENT = "drop", "no_engagement"
# Held for the engine: the state was computed before the engine had read the activity
# already published (a backlog after a load, an outage or a restart).
ENGINE = "engine"


@dataclass(frozen=True)
class Student:
    """What the roster says about a student, as far as alerts care."""

    student_id: str
    status: str = "active"
    personal_tutor: str | None = None
    department: str | None = None
    enrolled: date | None = None  # the day the roster first listed them


@dataclass(frozen=True)
class Exemption:
    """A date range in which the student's alerts are suppressed."""

    starts: date
    ends: date
    reason: str

    def covers(self, day: date) -> bool:
        """Whether ``day`` is inside the exemption (both ends included)."""
        return self.starts <= day <= self.ends


@dataclass(frozen=True)
class Context:
    """Everything a decision depends on besides the trigger itself."""

    student: Student | None
    exemptions: tuple[Exemption, ...]
    calendar: Calendar
    outages: Mapping[str, str]  # source -> why it looks broken
    open_episode: str | None  # the student's open episode of this kind, if any
    behind: str | None = None  # why the state may not reflect the data published yet


@dataclass(frozen=True)
class Decision:
    """What to do: ``raise``, ``hold``, ``suppress`` an alert, ``close`` an episode, ``resolve`` a suppressed drop, or nothing."""

    action: str
    kind: str
    episode: str = ""
    reason: str = ""
    held_for: tuple[str, ...] = ()


NOTHING = Decision("none", "")
# Suppressions that only postpone a drop alert: revisited once the day is one to alert on.
POSTPONING = ("non-teaching:", "exemption:", "first-day-back:")
NEVER_ACTIVE = "never-active:"


@dataclass(frozen=True)
class Postponed:
    """A drop suppressed in a break or an exemption, waiting for its revisit."""

    episode: str
    day: date  # the local day the suppressed change was as of


@dataclass(frozen=True)
class Route:
    """Who receives an alert and in which role."""

    recipient: str
    role: str  # personal_tutor, department or default


def alert_id(student_id: str, kind: str, episode: str) -> str:
    """The alert's deterministic id: the same episode always has the same id."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"alert:{student_id}:{kind}:{episode}"))


def _rank(band: str | None) -> int:
    return BAND_ORDER.index(band) if band in BAND_ORDER else -1


def day_off(day: date, ctx: Context) -> tuple[str, str] | None:
    """Why ``day`` does not count for this student: ``("non-teaching", period)`` or
    ``("exemption", reason)``; None on a teaching day outside their exemptions."""
    why = ctx.calendar.non_teaching(day)
    if why is not None:
        return "non-teaching", why
    return next((("exemption", e.reason) for e in ctx.exemptions if e.covers(day)), None)


def suppression(day: date, ctx: Context) -> str | None:
    """Why an alert on ``day`` must not be raised at all, or None."""
    if ctx.student is not None and ctx.student.status != "active":
        return f"status {ctx.student.status}"
    off = day_off(day, ctx)
    return None if off is None else f"{off[0]}: {off[1]}"


def applicable_sources(explanation: Mapping | None) -> tuple[str, ...]:
    """The sources a score depends on (those with a score in its explanation); empty when unknown, which callers treat as every source."""
    if not explanation:
        return ()
    return tuple(s["source"] for s in explanation.get("sources", ()) if s.get("score") is not None)


def _held_for(explanation: Mapping | None, ctx: Context) -> tuple[str, ...]:
    depends = applicable_sources(explanation)
    return tuple(sorted(s for s in ctx.outages if not depends or s in depends))


def _decide(kind: str, episode: str, day: date, reason: str, explanation: Mapping | None, ctx: Context) -> Decision:
    if ctx.open_episode is not None:
        return NOTHING  # one open alert per student and kind
    why_not = suppression(day, ctx)
    if why_not is not None:
        return Decision("suppress", kind, episode, why_not)
    if ctx.behind is not None:
        return Decision("hold", kind, episode, reason, (ENGINE,))
    held = _held_for(explanation, ctx)
    if held:
        return Decision("hold", kind, episode, reason, held)
    return Decision("raise", kind, episode, reason)


def on_band_change(change: Mapping, day: date, ctx: Context, rules: Alerts) -> Decision:
    """The drop rule for one band change (``day`` is the local day the score is as of).

    A fall scored on the first day back after days not taught (a weekend, a break) or an
    exemption is postponed to the end of that day, like a fall inside them: at midnight the
    seven days just left behind are those of the break, and the student has not yet had the
    day to show activity.
    """
    previous, new = change.get("previous_band"), change["new_band"]
    if ctx.open_episode is not None and _rank(new) >= _rank(rules.rearm_at):
        return Decision("close", DROP, ctx.open_episode, f"recovered to {band_name(new)}")
    if new in rules.drop_into and previous in BAND_ORDER and _rank(previous) > _rank(new):
        # Staff and the student read this reason: the bands' own names, never the engine's keys.
        fell = f"Band fell from {band_name(previous)} to {band_name(new)}"
        reason = f"{fell} (score {change['score']:.0f} out of 100)" if change.get("score") is not None else fell
        decision = _decide(DROP, change["change_id"], day, reason, change.get("explanation"), ctx)
        off = day_off(day - timedelta(days=1), ctx) if decision.action in ("raise", "hold") else None
        if off is not None:  # the first day back
            return Decision("suppress", DROP, change["change_id"], f"first-day-back: after {off[1]}; revisited at the end of {day.isoformat()}")
        return decision
    return NOTHING


def silent_days(last_activity: date, day: date, ctx: Context) -> int:
    """Days of silence that count: teaching days after ``last_activity`` up to ``day``, not exempt."""
    count = 0
    d = last_activity + timedelta(days=1)
    while d <= day:
        if day_off(d, ctx) is None:
            count += 1
        d += timedelta(days=1)
    return count


def postpones(decision: Decision) -> bool:
    """Whether a decision suppressed a drop only for now (a break, an exemption): revisit it later."""
    return decision.action == "suppress" and decision.kind == DROP and decision.reason.startswith(POSTPONING)


def on_summary(summary: Mapping, day: date, pending: Postponed | None, ctx: Context, rules: Alerts) -> Decision:
    """A postponed drop (``pending``), revisited with the student's band at the end of ``day``.

    On the first day that is one to alert on (teaching, not exempt, student active) the
    drop is alerted if the student is still in a ``drop_into`` band and was not active that
    day, and resolved without an alert if they recovered meanwhile or came back that day. The end of the day, not its first state: the student
    has the whole day back to show activity. A summary of a day before the drop's is not a
    revisit: the engine sends the end of the day before with the change (a day's rollover
    summarises it, then scores the new day), and the consumer reads the two topics in no
    fixed order, so the band before the fall can arrive after the fall.
    """
    if pending is None or day < pending.day:
        return NOTHING
    if ctx.open_episode is not None:
        return Decision("resolve", DROP, pending.episode, f"another drop alert ({ctx.open_episode}) is open")
    if suppression(day, ctx) is not None:
        return NOTHING  # still not a day to alert on: keep waiting
    band = summary.get("band")
    if band not in rules.drop_into:
        return Decision("resolve", DROP, pending.episode, f"{band_name(band)} at the end of {day.isoformat()}, the first day back")
    if summary.get("days_since_last_activity") == 0:
        # Back and active on the first day: the seven-day average still holds the break's
        # empty days, and a holiday is a normal low period, not an alarm. If they stop
        # again, the no-engagement rule sees it.
        return Decision("resolve", DROP, pending.episode, f"active on {day.isoformat()}, the first day back: the fall came from the break")
    reason = f"Band fell to {band_name(band)} during a break or exemption, and is still {band_name(band)} at the end of {day.isoformat()}"
    return _decide(DROP, pending.episode, day, reason, None, ctx)


def never_active_since(day: date, ctx: Context) -> date | None:
    """From when a never-active student's silence counts: the later of the term's start and their enrolment."""
    if ctx.student is None:
        return None
    term = ctx.calendar.term_start(day)
    if ctx.calendar.terms and term is None:
        return None  # outside every term nothing counts
    starts = [d for d in (term, ctx.student.enrolled) if d is not None]
    return max(starts) if starts else None


def _never_active(state: Mapping, day: date, ctx: Context, rules: Alerts) -> Decision:
    if ctx.open_episode is not None:
        return NOTHING
    since = never_active_since(day, ctx)
    if since is None:
        return NOTHING
    silence = silent_days(since - timedelta(days=1), day, ctx)
    if silence < rules.no_engagement_days:
        return NOTHING
    reason = f"no activity in any source ever recorded: {silence} teaching days since {since.isoformat()}"
    return _decide(NO_ENGAGEMENT, f"{NEVER_ACTIVE}{since.isoformat()}", day, reason, state.get("explanation"), ctx)


def on_state(state: Mapping, day: date, ctx: Context, rules: Alerts) -> Decision:
    """The no-engagement rule for a student's current state.

    A rostered student with no activity ever recorded is counted from the later of the
    start of the current term and their enrolment (``never_active_since``); one alert per
    such episode, closed once they are active.
    """
    days_since = state.get("days_since_last_activity")
    if days_since is None:
        return _never_active(state, day, ctx, rules)
    last_activity = day - timedelta(days=days_since)
    episode = last_activity.isoformat()
    if ctx.open_episode is not None and ctx.open_episode.startswith(NEVER_ACTIVE):
        return Decision("close", NO_ENGAGEMENT, ctx.open_episode, f"first active on {episode}")
    if ctx.open_episode is not None and ctx.open_episode < episode:
        return Decision("close", NO_ENGAGEMENT, ctx.open_episode, f"active again on {episode}")
    if ctx.open_episode is not None:
        return NOTHING
    silence = silent_days(last_activity, day, ctx)
    if silence < rules.no_engagement_days:
        return NOTHING
    reason = f"no activity in any source for {silence} teaching days (last on {episode})"
    return _decide(NO_ENGAGEMENT, episode, day, reason, state.get("explanation"), ctx)


def review_held(kind: str, alert_day: date, held_for: Iterable[str], state: Mapping | None, state_day: date | None, ctx: Context, rules: Alerts) -> str:
    """A held alert's fate: ``keep`` (still unsure), ``release`` or ``drop``.

    It is decided once no source it was held for is still out and the student has been
    re-scored on a later day than the alert's (for a hold on the engine: once the student's
    current state has caught up), from that state: released if the condition still holds,
    dropped if the outage or the backlog explained it.
    """
    if ctx.behind is not None or any(source in ctx.outages for source in held_for) or state is None or state_day is None:
        return "keep"
    if state_day <= alert_day and ENGINE not in held_for:
        return "keep"  # a source outage: wait for a re-scoring on a later day
    if kind == DROP:
        return "release" if state.get("band") in rules.drop_into else "drop"
    days_since = state.get("days_since_last_activity")
    if days_since is None:
        since = never_active_since(state_day, ctx)
        silence = 0 if since is None else silent_days(since - timedelta(days=1), state_day, ctx)
    else:
        silence = silent_days(state_day - timedelta(days=days_since), state_day, ctx)
    return "release" if silence >= rules.no_engagement_days else "drop"


def route(student: Student | None, rules: Alerts) -> Route:
    """The personal tutor; else the department's fallback recipient; else the default one."""
    if student is not None and student.personal_tutor:
        return Route(student.personal_tutor, "personal_tutor")
    if student is not None and student.department and student.department in rules.department_fallback:
        return Route(rules.department_fallback[student.department], "department")
    return Route(rules.default_recipient, "default")
