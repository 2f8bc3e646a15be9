"""The engagement model's state: one student's days and what events do to them. No Kafka, no Faust, no clock.

How those days are scored against a reference group is ``streams.scoring``.

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
from collections.abc import Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from leap.policy import RELATIVE_SOURCES, Engagement
from streams.day import ATTENDANCE, ATTENDANCE_MARKS, ATTENDED, EXPECTED, LECTURE_SECONDS, PACKED_ID, RELATIVE_INDEX, TOTALS, VOID, ColdDays, Day
from leap.vocabulary import INSTITUTION, UNASSIGNED, UNASSIGNED_GROUP, cohort_of, reference_groups



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


class StudentState:
    """Everything the engine keeps about one student."""

    __slots__ = (
        "cohort", "groups", "part_time", "active", "rostered", "_days", "_cold", "last_active_pruned",
        "term_start", "term_sums", "term_active",
        "archived_through", "archived_sums", "archived_active", "archived_last_active", "archived_caps",
        "score", "band", "change_seq", "contribution", "published",
    )  # fmt: skip

    def __init__(self, cohort: str = UNASSIGNED, groups: tuple[str, ...] = (UNASSIGNED_GROUP, INSTITUTION)) -> None:
        self.cohort = cohort
        # The reference groups this student may be compared with, narrowest first (leap.vocabulary).
        self.groups = groups
        self.part_time = False
        self.active = True  # enrolment status active (roster); inactive students are not in baselines
        self.rostered = False
        self._days: dict[int, Day] = {}
        # Archived days read back and not yet needed (all of them before every day in _days).
        self._cold: ColdDays | None = None
        # The last active day among days already forgotten (0: none), so silence is measured
        # beyond the retention: a student who stopped before a holiday is still known to have.
        self.last_active_pruned = 0
        # The term-to-date view: the term's first day (0: none), and the capped totals and
        # active days of that term's days already forgotten (the retention is shorter than
        # a term).
        self.term_start = 0
        self.term_sums = [0] * TOTALS
        self.term_active = 0
        # Kept days up to ``archived_through`` (0: none) already summed as the term view
        # counts them (``archive``): a mid-term student keeps six weeks of days, and without
        # this every evaluation would add them all up again for the term view.
        self.archived_through = 0
        self.archived_sums = [0] * TOTALS
        self.archived_active = 0
        self.archived_last_active = 0
        # The daily caps the archive was summed with: a policy with other caps drops it.
        self.archived_caps: tuple[int, ...] = ()
        self.score: float | None = None
        self.band: str | None = None
        self.change_seq = 0
        # The last baseline contribution sent, as (day, measures), to send only changes.
        self.contribution: tuple[int, tuple[float, ...]] | None = None
        # Digest of the last published current state, to publish only changes.
        self.published: bytes = b""

    @property
    def days(self) -> dict[int, Day]:
        """Every kept day, by ordinal (archived days read back are unpacked on first use)."""
        if self._cold is not None:
            self.unpack()
        return self._days

    def unpack(self) -> None:
        """Unpack the archived days read back (``cold``) into ``days``.

        The packed days stay if their bytes turn out not to be days (``thaw`` raises), so a
        broken state fails the same way each time rather than losing them when written back.
        """
        if self._cold is not None:
            self._days.update(self._cold.thaw())
            self._cold = None

    def days_from(self, first: int) -> dict[int, Day]:
        """The kept days, or the unpacked ones when no packed day is as late as ``first``."""
        cold = self._cold
        return self._days if cold is None or first > cold.last else self.days

    @property
    def cold(self) -> ColdDays | None:
        """The archived days still packed as stored (``state_codec`` writes them back as they are)."""
        return self._cold

    @property
    def warm(self) -> dict[int, Day]:
        """The days unpacked so far: all of them once ``days`` was used, else those after ``cold``."""
        return self._days

    def restore(self, days: dict[int, Day], cold: ColdDays | None) -> None:
        """Set the days read back: ``cold`` those before every day in ``days``, archived."""
        self._days = days
        self._cold = cold


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
    packed = PACKED_ID.pack(hashed)
    # An event id counts once per student whatever day it claims: a re-sent record with a
    # corrected timestamp is still the same record.
    for other in state._days.values():
        if other.holds(packed, hashed):
            return DUPLICATE
    if state._cold is not None and state._cold.holds(packed):
        return DUPLICATE
    if day <= state.archived_through:
        drop_archive(state)
    days = state.days if amends is not None else state._days  # a correction may void an archived event
    target = days.get(day)
    if target is None:
        target = days[day] = Day()
    if amends is not None:
        original = id_hash(amends)
        for other_day, other in days.items():
            index = other.find(original)
            if index >= 0:
                if other.codes[index] != VOID:
                    if other_day <= state.archived_through:
                        drop_archive(state)
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
    _drop_archive_of_other_caps(state, cap)  # what its days take away would not match
    # The packed days are the oldest: those to forget come off their front, the rest stay packed.
    forgotten: dict[int, Day] = {}
    if state.cold is not None:
        forgotten, rest = state.cold.split(oldest)
        state.restore(state.warm, rest)
    days = state.warm
    for day in [d for d in days if d < oldest]:
        forgotten[day] = days.pop(day)
    for day in sorted(forgotten):
        kept = forgotten[day]
        if kept.active and day > state.last_active_pruned:
            state.last_active_pruned = day
        if state.term_start and day >= state.term_start:
            _add_capped(state.term_sums, kept.totals, cap)
            state.term_active += kept.active
            if day <= state.archived_through:  # counted in the archive: it moves to the forgotten days' sums
                _add_capped(state.archived_sums, kept.totals, cap, -1)
                state.archived_active -= kept.active


def set_term(state: StudentState, term_start: int) -> None:
    """Start following a new term (its first day as an ordinal; 0: none): its totals start at zero.

    Called before ``prune`` on each new day, so no day of the new term is ever forgotten
    before it was counted.
    """
    if state.term_start != term_start:
        state.term_start = term_start
        state.term_sums = [0] * TOTALS
        state.term_active = 0
        drop_archive(state)


def archive(state: StudentState, through: int, policy: Engagement) -> None:
    """Sum the kept days up to ``through`` once, as the term view and the last active day count them.

    The days stay kept (late events and corrections may still change them, which drops the
    archive: ``apply_event``); the sums only spare each evaluation adding up weeks of days
    that do not change. ``through`` only moves forward; the engine archives the days
    older than a student's window at each day's rollover.
    """
    cap = _caps(policy)
    _drop_archive_of_other_caps(state, cap)  # summed under other caps: sum again
    if through <= state.archived_through:
        return
    start = state.term_start
    days = state._days  # the days after the old archive, none of them cold
    for day in sorted(d for d in days if state.archived_through < d <= through):
        kept = days[day]
        if kept.active:
            state.archived_last_active = day
        if start and day >= start:
            _add_capped(state.archived_sums, kept.totals, cap)
            state.archived_active += kept.active
    state.archived_through = through
    state.archived_caps = cap


def drop_archive(state: StudentState) -> None:
    """Forget the archive's sums (a kept day in it changed, or the term did): evaluations add
    the days up again until the next ``archive``."""
    state.unpack()  # only archived days may stay packed
    state.archived_through = 0
    state.archived_sums = [0] * TOTALS
    state.archived_active = 0
    state.archived_last_active = 0
    state.archived_caps = ()


def _drop_archive_of_other_caps(state: StudentState, cap: tuple[int, ...]) -> None:
    # The policy's daily caps changed since the archive was summed: its sums no longer hold.
    if state.archived_through and state.archived_caps != cap:
        drop_archive(state)


def _add_capped(sums: list[int], totals: list[int], cap: tuple[int, ...], sign: int = 1) -> int:
    """Add (``sign`` -1: take away) one day's totals, capped, into ``sums``; return a bit per capped index."""
    capped = 0
    for i in range(5):
        if totals[i] > cap[i]:
            sums[i] += sign * cap[i]
            capped |= 1 << i
        else:
            sums[i] += sign * totals[i]
    sums[ATTENDED] += sign * totals[ATTENDED]
    sums[EXPECTED] += sign * totals[EXPECTED]
    return capped


def window_length(state: StudentState, policy: Engagement) -> int:
    """Days in the student's window: part-time students are judged over longer."""
    return policy.window_days_part_time if state.part_time else policy.window_days_full_time


def _caps(policy: Engagement) -> tuple[int, ...]:
    caps = policy.daily_caps
    return (caps.vle, caps.coursework, caps.lecture_capture_minutes * 60, caps.logins, caps.library)


def window_totals(state: StudentState, first: int, last: int, policy: Engagement) -> tuple[list[int], list[int]]:
    """Capped sums over ``first..last`` per totals index, and per index the days the cap cut."""
    cap = _caps(policy)
    sums = [0] * TOTALS
    capped = [0] * TOTALS
    days = state.days_from(first)
    for d in range(first, last + 1):
        day = days.get(d)
        if day is None:
            continue
        bits = _add_capped(sums, day.totals, cap)
        if bits:
            for i in range(5):
                capped[i] += (bits >> i) & 1
    return sums, capped


def per_day(sums: list[int], length: int) -> tuple[float, ...]:
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
    window = per_day(window_totals(state, today - length, today - 1, policy)[0], length)
    term = term_totals(state, today, policy)
    if term is None:
        return window
    sums, active, days = term
    return (*window, *per_day(sums, days), active / days)


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
    sums = list(state.term_sums)
    active = state.term_active
    if 0 < state.archived_through < today and state.archived_caps == _caps(policy):
        for i in range(TOTALS):
            sums[i] += state.archived_sums[i]
        active += state.archived_active
        first = max(start, state.archived_through + 1)
    else:
        first = max(start, min(state.days, default=start))
    days = state.days_from(first)
    kept, _ = window_totals(state, first, today - 1, policy)
    for i in range(TOTALS):
        sums[i] += kept[i]
    active += sum(1 for d in range(first, today) if (day := days.get(d)) is not None and day.active)
    return sums, active, today - start


def last_active_day(state: StudentState, today: int) -> int | None:
    """The last day up to ``today`` with any activity, remembered beyond the retention; None if never."""
    days = state._days  # the days after the archive are never cold
    through = state.archived_through
    if 0 < through <= today:
        last = next((d for d in range(today, through, -1) if (day := days.get(d)) is not None and day.active), 0)
        last = last or state.archived_last_active
    else:
        last = max((d for d, day in state.days.items() if d <= today and day.active), default=0)
    last = max(last, state.last_active_pruned if state.last_active_pruned <= today else 0)
    return last or None


def days_since_last_activity(state: StudentState, today: int) -> int | None:
    """Whole days since the last day with any activity (0: today); None if never active."""
    last = last_active_day(state, today)
    return None if last is None else today - last
