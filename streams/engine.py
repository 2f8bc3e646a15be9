"""The stream engine's logic, without Faust: what each message does to state, and what to send.

``streams.app`` feeds it batches of raw Kafka messages and does the I/O it returns, so the
whole decision path is testable with plain dicts. The model itself is ``streams.model``.

Time. Each partition has a clock: the latest tick on ``leap.clock`` or accepted event time,
whichever is later. When it passes local midnight the partition rolls over: every student's
window moves, end-of-day summaries go out and bands can move without any new event.

Reference-group baselines. Medians need every member of a group, and members live on every
partition. So each student's measures over complete days (their "contribution") go, keyed
by each of their reference groups, to ``leap.cohort-contributions``; the cohort agent
(``streams.cohorts``) freezes a group's medians for a day once every member has reported
for that day, and sends them to every partition on ``leap.clock``, where the group's
students are re-scored (unless only its member count moved: ``scoring.changes_scores``). Late events
that change complete days change a contribution, and so the medians, the same way.
Contributions go out on ticks, for the students whose measures changed since, so a burst of
events costs one message per student, not one per event.

Re-scoring a group is spread over batches. A group's students wait in a queue, and a batch
scores at most the number of them the shell asks for (``handle``'s ``rescore_limit``; the
oldest first, and at once any a batch evaluates anyway): a group of thousands, scored in one
batch, would hold every event behind it for seconds, and while new students join (a roster
load, the start of term) the institution-wide group's medians move with every tick.

Evaluation during a backlog. A partition more than ``TICK_BACKLOG`` messages behind (a
restart, a bulk import, catch-up after an outage) has its students' evaluations deferred:
they are evaluated at the partition's day rollovers (as of the day that ends, as the replay
does) and once it has caught up, not after every batch. A student with events in every batch
would otherwise be scored, explained and published once per batch for results nobody reads
before the next; deferred, a backlog costs about half as much per event (make bench). The
deferred set lives in memory: after a restart or a rebalance every student of a partition is
evaluated once when it is caught up, so nothing deferred is lost with a process.

Exactly-once effect under at-least-once delivery. A redelivered or republished event is
recognised by its id (``streams.model``) and changes nothing. Band-change ids are derived
from the student and their change count, so a change recomputed after a crash has the id
it had before and the consumer stores it once.
"""

from __future__ import annotations

import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo


from schemas.codec import Codec, CodecError
from streams import records
from streams.batch import Message, Outbox, PartitionClock, rejected
from streams.model import (
    APPLIED,
    InvalidEvent,
    StudentState,
    apply_event,
    apply_roster,
    archive,
    contribution,
    days_since_last_activity,
    effect_of,
    event_day,
    local_day,
    prune,
    set_term,
    window_length,
)
from streams.scoring import Baseline, changes_scores, evaluate, next_band, reference_baseline, term_view
from leap.calendar import Calendar
from leap.log import get_logger
from leap.vocabulary import partition_for
from leap.policy import Engagement

log = get_logger("leap.engine")

# A tick moves a partition's clock only when at most this many of its activity messages are
# still unread: within a backlog (a restart, a bulk import) the events' own times move it.
TICK_BACKLOG = 1000
# Members' contributions in one cohort message: about 60 bytes each, so a message stays far
# below Kafka's 1 MB default however large the group.
CONTRIBUTIONS_PER_MESSAGE = 2000


@dataclass(slots=True)
class _Touch:
    cause: str
    trigger_event_id: str | None = None
    trigger_time: int | None = None


_CAUSE_RANK = {"other": 0, "cohort_baseline": 1, "day_rollover": 2, "late_event": 3, "activity": 4, "correction": 5}


class Engine:
    """Applies batches of activity, roster and clock messages to per-student state."""

    def __init__(
        self,
        policy: Engagement,
        tz: ZoneInfo,
        partitions: int,
        codec: Codec,
        topics: dict[str, str],
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        calendar: Calendar | None = None,
    ) -> None:
        self.policy = policy
        self.tz = tz
        self.partitions = partitions
        self.codec = codec
        self.topics = topics  # activity, roster, clock
        self.wall_ms = wall_ms
        self.calendar = calendar  # its terms give the term-to-date view; None: no term view
        self._terms: dict[int, int] = {}
        self._partition_cache: dict[bytes, int] = {}
        # In-memory indexes, rebuilt from the tables whenever the assignment changes.
        self._members: dict[int, set[bytes]] = {}
        # Partition -> student -> reference groups (their state's ``groups``), so a baseline
        # finds the students compared with its group without reading every student's state.
        self._groups: dict[int, dict[bytes, tuple[str, ...]]] = defaultdict(dict)
        self._dirty_contributions: dict[int, set[bytes]] = defaultdict(set)
        self._deferred: dict[int, dict[bytes, _Touch]] = defaultdict(dict)  # partition -> evaluations held during its backlog
        self._settled: set[int] = set()  # partitions whose every student was evaluated since the last reset
        self._rescores: OrderedDict[bytes, _Touch] = OrderedDict()  # students a new baseline concerns, oldest first
        self._highwaters: Mapping[int, int] = {}  # this batch's (see handle)

    # ---------------------------------------------------------------- partitions

    def partition_of(self, key: bytes) -> int:
        """The partition a student's key belongs to (cached)."""
        p = self._partition_cache.get(key)
        if p is None:
            p = self._partition_cache[key] = partition_for(key, self.partitions)
        return p

    def term_start(self, day: int) -> int:
        """The first day of the term a day's term-to-date view covers (0: no calendar or no term yet)."""
        start = self._terms.get(day)
        if start is None:
            term = self.calendar.latest_term(date.fromordinal(day)) if self.calendar is not None else None
            start = self._terms[day] = term.starts.toordinal() if term is not None else 0
        return start

    def reset_indexes(self) -> None:
        """Forget derived indexes (after a rebalance: partitions and their state changed hands)."""
        self._members.clear()
        self._groups.clear()
        self._dirty_contributions.clear()
        self._deferred.clear()
        self._settled.clear()
        self._rescores.clear()  # every student is evaluated once after a reset anyway

    def deferred_count(self) -> int:
        """Evaluations held back until their partitions catch up."""
        return sum(len(held) for held in self._deferred.values())

    def rescores_waiting(self) -> int:
        """Students a new baseline concerns who are not re-scored yet (module docstring)."""
        return len(self._rescores)

    def _students_in(self, partition: int, students: MutableMapping[bytes, StudentState]) -> set[bytes]:
        members = self._members.get(partition)
        if members is None:
            members = self._members[partition] = {k for k in students.keys() if self.partition_of(k) == partition}
            # After a restart or a rebalance nobody knows which contributions are current: check all.
            self._dirty_contributions[partition] |= members
        return members

    # ---------------------------------------------------------------- batch

    def handle(
        self,
        batch: Iterable[Message],
        students: MutableMapping[bytes, StudentState],
        clocks: MutableMapping[int, PartitionClock],
        highwaters: Mapping[int, int] | None = None,
        rescore_limit: int | None = None,
    ) -> Outbox:
        """Process a batch in order; return everything to send and write.

        ``highwaters`` are the activity partitions' high-water offsets as the consumer last
        saw them: a tick does not move a partition's clock while its activity backlog is
        longer than ``TICK_BACKLOG`` (the events themselves move it, day by day).
        ``rescore_limit``: at most this many of the students new baselines concern are
        re-scored in this batch besides those it evaluates anyway (None: all of them); the
        rest wait for the next batches (``rescores_waiting``).
        """
        out = Outbox()
        touched: dict[bytes, _Touch] = {}
        self._highwaters = highwaters or {}
        seen: set[int] = set()
        for msg in batch:
            seen.add(msg.partition)
            try:
                if msg.topic == self.topics["activity"]:
                    self._read_up_to(msg, clocks, out)
                    self._activity(msg, students, clocks, touched, out)
                elif msg.topic == self.topics["roster"]:
                    self._roster(msg, students, clocks, touched, out)
                elif msg.topic == self.topics["clock"]:
                    self._clock(msg, students, clocks, touched, out)
            except (CodecError, InvalidEvent) as exc:
                self._reject(msg, str(exc), out)
            except Exception as exc:  # noqa: BLE001 - no single message may stop the engine
                # A message that trips a fault in this code would otherwise be redelivered
                # and crash every restart: it goes to the dead-letter topic instead.
                log.exception("message could not be applied; dead-lettered", topic=msg.topic, position=f"{msg.partition}:{msg.offset}")
                self._reject(msg, f"could not be applied: {type(exc).__name__}: {exc}"[:500], out)
        self._take_rescores(touched, rescore_limit)
        self._evaluate_all(self._due(touched, seen, students, clocks), students, clocks, out)
        return out

    def _take_rescores(self, touched: dict[bytes, _Touch], limit: int | None) -> None:
        """Move the batch's share of waiting re-scores into ``touched``: every one it already
        evaluates (that evaluation uses the new baselines), then up to ``limit`` more, oldest first."""
        queue = self._rescores
        if not queue:
            return
        for key in [k for k in touched if k in queue]:
            self._touch(touched, key, queue.pop(key))
        for _ in range(len(queue) if limit is None else min(limit, len(queue))):
            key, touch = queue.popitem(last=False)
            self._touch(touched, key, touch)

    def _due(self, touched: dict[bytes, _Touch], seen: set[int], students, clocks) -> dict[bytes, _Touch]:
        """The evaluations to do now: those of partitions not in a backlog (with any they held
        back, and every student once after a reset); the rest are deferred (module docstring)."""
        backlogged = {p for p in seen if p in clocks and self._backlog(p, clocks[p]) > TICK_BACKLOG}
        due: dict[bytes, _Touch] = {}
        for key, touch in touched.items():
            p = self.partition_of(key)
            self._touch(self._deferred[p] if p in backlogged else due, key, touch)
        for p in seen - backlogged:
            for key, touch in self._deferred.pop(p, {}).items():
                self._touch(due, key, touch)
            if p not in self._settled and p in clocks:
                self._settled.add(p)
                for key in self._students_in(p, students):
                    self._touch(due, key, _Touch("other"))
        return due

    def _read_up_to(self, msg: Message, clocks: MutableMapping[int, PartitionClock], out: Outbox) -> None:
        clock = self._clock_for(msg.partition, clocks)
        if msg.offset > clock.input_offset:
            clock.input_offset = msg.offset
            out.clock_writes.add(msg.partition)

    def _reject(self, msg: Message, reason: str, out: Outbox) -> None:
        out.counts["rejected"] += 1
        out.dead_letters.append(rejected(msg, reason, self.wall_ms()))

    def _clock_for(self, partition: int, clocks: MutableMapping[int, PartitionClock]) -> PartitionClock:
        clock = clocks.get(partition)
        if clock is None:
            clock = clocks[partition] = PartitionClock()
        return clock

    def _touch(self, touched: dict[bytes, _Touch], key: bytes, touch: _Touch) -> None:
        current = touched.get(key)
        if current is None or _CAUSE_RANK[touch.cause] >= _CAUSE_RANK[current.cause]:
            touched[key] = touch

    # ---------------------------------------------------------------- activity

    def _activity(self, msg, students, clocks, touched, out) -> None:
        event = self.codec.decode(msg.value or b"", expect="activity_event")
        if not event["student_id"] or not event["event_id"]:
            raise InvalidEvent("event without a student id or an event id")
        key = msg.key or b""
        if key != event["student_id"].encode():
            raise InvalidEvent(f"message key {key[:40]!r} is not the event's student id")
        if self.partition_of(key) != msg.partition:
            raise InvalidEvent(
                f"student {event['student_id']} is on partition {msg.partition}, expected {self.partition_of(key)}: "
                "produce with the murmur2 partitioner (Kafka's default) keyed by student id"
            )
        when = event["event_time"]
        tolerance = self.policy.future_tolerance_minutes * 60_000
        if when > self.wall_ms() + tolerance:
            raise InvalidEvent(f"event time {when} is more than {self.policy.future_tolerance_minutes} minutes in the future")
        clock = self._clock_for(msg.partition, clocks)
        day = event_day(when, self.tz)
        if clock.day and day < clock.day - self.policy.retention_days + 1:
            raise InvalidEvent(f"event day {date.fromordinal(day)} is older than the {self.policy.retention_days}-day retention")
        code, amount = effect_of(event["source"], event["quantity"], event["attendance_status"])
        state = students.get(key)
        is_new = state is None
        if is_new:
            state = self._new_student(key, msg.partition, students, out)
        if apply_event(state, day, event["event_id"], code, amount, event.get("amends")) != APPLIED:
            out.counts["duplicate"] += 1
            return
        out.counts["applied"] += 1
        out.writes[key] = state
        if when > clock.now:
            self._advance(msg.partition, clock, when, students, touched, out)
        late = day < clock.day
        if late:
            out.counts["late"] += 1
        if late or is_new:
            self._dirty_contributions[msg.partition].add(key)
        cause = "correction" if event.get("amends") else ("late_event" if late else "activity")
        self._touch(touched, key, _Touch(cause, event["event_id"], msg.timestamp))

    def _new_student(self, key: bytes, partition: int, students, out: Outbox) -> StudentState:
        """A student first seen (or seen again after being forgotten), held from now on."""
        state = students[key] = StudentState()
        out.deletes.discard(key)  # forgotten at a rollover earlier in this batch: back now
        self._students_in(partition, students).add(key)
        self._groups[partition][key] = state.groups
        return state

    # ---------------------------------------------------------------- roster

    def _roster(self, msg, students, clocks, touched, out) -> None:
        key = msg.key or b""
        if not key:
            raise InvalidEvent("roster message without a student id key")
        entry = None if msg.value is None else self.codec.decode(msg.value, expect="roster_entry")
        if entry is not None and entry["student_id"].encode() != key:
            raise InvalidEvent("roster message key is not the entry's student id")
        state = students.get(key)
        if state is None:
            if entry is None:
                return
            state = self._new_student(key, msg.partition, students, out)
        old_groups, was_eligible = state.groups, state.active
        apply_roster(state, entry)
        self._groups[msg.partition][key] = state.groups
        if (old_groups != state.groups or was_eligible != state.active) and state.contribution is not None:
            self._withdraw(old_groups, key, out)
            state.contribution = None
        self._dirty_contributions[msg.partition].add(key)
        self._clock_for(msg.partition, clocks)
        out.writes[key] = state
        self._touch(touched, key, _Touch("other"))

    # ---------------------------------------------------------------- clock

    def _clock(self, msg, students, clocks, touched, out) -> None:
        message = self.codec.decode(msg.value or b"", expect="clock_message")
        clock = self._clock_for(msg.partition, clocks)
        if message["kind"] == "tick":
            if message["at"] > clock.now and self._backlog(msg.partition, clock) > TICK_BACKLOG:
                # Wall-clock time would jump the clock past the days still in the backlog: their
                # events would all be late and those days summarised before their activity
                # was counted. Later ticks come; contributions still go for the clock's day.
                out.counts["ticks_deferred"] += 1
            elif message["at"] > clock.now:
                self._advance(msg.partition, clock, message["at"], students, touched, out)
            self._send_contributions(msg.partition, clock, students, out)
            return
        new = Baseline(message["cohort"], message["day"], tuple(message["medians"]), tuple(message["used"]), message["members"])
        old = clock.baselines.get(new.cohort)
        if old is not None and old.day > new.day:
            return  # an older day's baseline arriving late changes nothing
        clock.baselines[new.cohort] = new
        out.clock_writes.add(msg.partition)
        size = self.policy.min_cohort_size
        if changes_scores(old, new, size):
            known = self._groups[msg.partition]
            for key in self._students_in(msg.partition, students):
                groups = known.get(key)
                if groups is None:
                    state = students.get(key)
                    if state is None:
                        continue
                    groups = known[key] = state.groups
                if new.cohort not in groups:
                    continue
                # Only students compared with this group, or with a wider one it may now replace.
                chosen = reference_baseline(groups, clock.baselines, size)
                if chosen is None or groups.index(new.cohort) <= groups.index(chosen.cohort):
                    self._rescores.setdefault(key, _Touch("cohort_baseline"))

    def _backlog(self, partition: int, clock: PartitionClock) -> int:
        """Activity messages of ``partition`` not yet read (0 when the high-water mark is unknown)."""
        high = self._highwaters.get(partition)
        return 0 if high is None else max(0, high - 1 - clock.input_offset)

    def _advance(self, partition, clock: PartitionClock, now: int, students, touched, out) -> None:
        old_day = clock.day
        new_day = local_day(now, self.tz)
        clock.now = now
        out.clock_writes.add(partition)
        if old_day and new_day > old_day:
            # Every day passed is settled and summarised, not only the last: a partition with
            # no events over a weekend, or a worker back after a day away, leaves no gap in
            # the students' history.
            for day in range(old_day, new_day):
                clock.day = day + 1
                self._rollover(partition, day, clock, students, touched, out)
        clock.day = new_day

    def _rollover(self, partition, old_day, clock, students, touched, out) -> None:
        # Settle the old day first: pending changes (and any deferred) are scored as of that day, then summarised.
        pending = self._deferred.pop(partition, {})
        for key, touch in touched.items():
            if self.partition_of(key) == partition:
                self._touch(pending, key, touch)
        saved_day = clock.day
        clock.day = old_day
        self._evaluate_all(pending, students, {partition: clock}, out)
        for key in pending:
            touched.pop(key, None)
        clock.day = saved_day
        members = self._students_in(partition, students)
        for key in list(members):
            state = students.get(key)
            if state is None:
                members.discard(key)
                continue
            if state.band is not None:
                out.summaries.append((key, self._summary(key, state, old_day, clock)))
            set_term(state, self.term_start(clock.day))
            prune(state, clock.day, self.policy)
            # The days before the student's window are now settled: summed once here rather
            # than at every evaluation (late events for them drop the sums again).
            archive(state, clock.day - window_length(state, self.policy) - 1, self.policy)
            if not state.days and not state.rostered:
                # Nothing retained and not enrolled: forget the student, as a replay would.
                if state.contribution is not None:
                    self._withdraw(state.groups, key, out)
                members.discard(key)
                self._groups[partition].pop(key, None)
                del students[key]
                out.deletes.add(key)
                out.writes.pop(key, None)
                continue
            out.writes[key] = state
            self._dirty_contributions[partition].add(key)
            self._touch(touched, key, _Touch("day_rollover"))
        out.counts["rollovers"] += 1

    def _summary(self, key: bytes, state: StudentState, day: int, clock: PartitionClock) -> dict:
        set_term(state, self.term_start(day))
        base = reference_baseline(state.groups, clock.baselines, self.policy.min_cohort_size)
        return records.summary(key, state, day, days_since_last_activity(state, day), term_view(state, day, base, self.policy, "no_baseline"))

    # ---------------------------------------------------------------- contributions

    def _withdraw(self, groups: tuple[str, ...], key: bytes, out: Outbox) -> None:
        at = self.wall_ms()
        for group in groups:
            out.contributions.append((group.encode(), {"kind": "withdraw", "cohort": group, "student_id": key.decode(), "day": 0, "measures": [], "at": at}))

    def _send_contributions(self, partition, clock, students, out) -> None:
        if not clock.day:
            # No day yet: roster entries read before any event or tick moved the partition's
            # clock (a tick deferred behind a backlog). They are sent once it has a day.
            return
        members = self._students_in(partition, students)
        dirty = self._dirty_contributions.pop(partition, set())
        changed: dict[str, list[dict]] = {}
        for key in sorted(dirty):
            state = students.get(key)
            if state is None or key not in members:
                continue
            if not state.active:
                if state.contribution is not None:
                    self._withdraw(state.groups, key, out)
                    state.contribution = None
                    out.writes[key] = state
                continue
            set_term(state, self.term_start(clock.day))
            current = (clock.day, contribution(state, clock.day, self.policy))
            if current != state.contribution:
                state.contribution = current
                out.writes[key] = state
                entry = {"student_id": key.decode(), "day": clock.day, "measures": list(current[1])}
                for group in state.groups:
                    changed.setdefault(group, []).append(entry)
        # One message per group (in chunks), not one per student and group: a day rollover
        # makes every member's measures change at once.
        at = self.wall_ms()
        for group, entries in changed.items():
            for start in range(0, len(entries), CONTRIBUTIONS_PER_MESSAGE):
                chunk = entries[start : start + CONTRIBUTIONS_PER_MESSAGE]
                out.contributions.append(
                    (group.encode(), {"kind": "contribution", "cohort": group, "student_id": None, "day": 0, "measures": [], "at": at, "members": chunk})
                )

    # ---------------------------------------------------------------- scoring

    def _evaluate_all(self, touched: dict[bytes, _Touch], students, clocks, out: Outbox) -> None:
        for key, touch in touched.items():
            state = students.get(key)
            if state is None:
                continue
            clock = clocks.get(self.partition_of(key))
            if clock is None or not clock.day:
                continue
            try:
                self._evaluate(key, state, clock, touch, out)
                out.counts["evaluated"] += 1
            except Exception:  # noqa: BLE001 - one student's fault must not stop everyone's scores
                log.exception("student could not be scored; left as they were", student=key.decode(errors="replace"))
                out.counts["evaluation_failed"] += 1

    def _evaluate(self, key: bytes, state: StudentState, clock: PartitionClock, touch: _Touch, out: Outbox) -> None:
        set_term(state, self.term_start(clock.day))
        result = evaluate(state, clock.day, clock.baselines, self.policy)
        band = next_band(state.band, result.score, self.policy)
        now = self.wall_ms()
        explained = None
        if band != state.band:
            explained = records.explanation(result, state.cohort, band, self.policy)
            change = records.band_change(key, state, band, result, clock, now, explained, touch.cause, touch.trigger_event_id, touch.trigger_time)
            out.band_changes.append((key, change))
            out.transitions[(state.band or "none", band)] += 1
            if touch.trigger_time is not None:
                out.latencies_ms.append(now - touch.trigger_time)
            state.change_seq += 1
            state.band = band
        state.score = result.score
        digest = records.published_digest(result, band, clock.day)
        if digest != state.published:
            state.published = digest
            explained = explained or records.explanation(result, state.cohort, band, self.policy)
            out.states.append((key, records.current_state(key, state, band, result, clock, now, explained)))
        out.writes[key] = state
