"""The engine's decisions, with plain dicts for tables and lists for topics (no Faust, no Kafka)."""

from __future__ import annotations

import copy
from collections.abc import Callable
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.simulate import simulate
from schemas.codec import default_codec
from streams import state_codec
from streams.clock import tick_records
from streams.cohorts import CohortCore
from leap.vocabulary import partition_for
from streams.batch import Message, PartitionClock, partition_key
from streams.engine import TICK_BACKLOG, Engine
from streams.records import EPOCH_ORDINAL
from streams.model import StudentState, apply_event, effect_of
from streams.scoring import near_boundary
from leap.policy import RELATIVE_SOURCES, Engagement
from producers.exports import read_events
from producers.roster import load_roster_file
from streams.replay import replay

LONDON = ZoneInfo("Europe/London")
POLICY = Engagement(min_cohort_size=1)  # tests of other rules use groups of a few students; the minimum has tests of its own
N = 4
TOPICS = {"activity": "a", "roster": "r", "clock": "c", "contributions": "k"}
CODEC = default_codec()
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=LONDON)
NOW_MS = int(NOW.timestamp() * 1000)


class Pipeline:
    """Routes the engine's and cohort agent's outputs back to them, as Kafka would."""

    def __init__(self, wall_ms: int = NOW_MS) -> None:
        self.wall = wall_ms
        self.engine = Engine(POLICY, LONDON, N, CODEC, TOPICS, wall_ms=lambda: self.wall)
        self.cohorts = CohortCore(CODEC)
        self.students: dict[bytes, StudentState] = {}
        self.clocks: dict[int, PartitionClock] = {}
        self.members: dict = {}
        self.frozen: dict = {}
        self.offsets = 0
        self.band_changes: list[dict] = []
        self.states: dict[str, dict] = {}
        self.summaries: list[dict] = []
        self.dead: list[dict] = []
        self.counts: dict[str, int] = {}
        self.highwaters: dict[int, int] | None = None  # what the consumer saw, for every batch not given its own

    def msg(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> Message:
        self.offsets += 1
        return Message(topic, partition, self.offsets, key, value, self.wall)

    def event(self, record: dict, partition: int | None = None) -> Message:
        key = record["student_id"].encode()
        full = {"course": None, "object_ref": None, "quantity": None, "attendance_status": None, "source_ref": "t", "amends": None, **record}
        return self.msg("a", partition_for(key, N) if partition is None else partition, key, CODEC.encode("activity_event", full))

    def roster(self, entry: dict) -> Message:
        key = entry["student_id"].encode()
        return self.msg("r", partition_for(key, N), key, CODEC.encode("roster_entry", entry))

    def run(self, batch: list[Message], highwaters: dict[int, int] | None = None) -> None:
        out = self.engine.handle(batch, self.students, self.clocks, self.highwaters if highwaters is None else highwaters)
        for key in out.deletes:
            self.students.pop(key, None)
        self.band_changes += [r for _, r in out.band_changes]
        self.states.update({r["student_id"]: r for _, r in out.states})
        self.summaries += [r for _, r in out.summaries]
        self.dead += out.dead_letters
        for name, n in out.counts.items():
            self.counts[name] = self.counts.get(name, 0) + n
        for key, record in out.contributions:
            self.cohort(self.msg("k", partition_for(key, N), key, CODEC.encode("cohort_message", record)))

    def cohort(self, message: Message) -> None:
        out = self.cohorts.handle(message, self.members, self.frozen)
        for record in out.broadcasts:
            encoded = CODEC.encode("clock_message", record)
            self.run([self.msg("c", p, None, encoded) for p in range(N)])

    def tick(self, at_ms: int, highwaters: dict[int, int] | None = None) -> None:
        clock, cohort = tick_records(at_ms)
        self.run([self.msg("c", p, None, CODEC.encode("clock_message", clock)) for p in range(N)], highwaters)
        for p in range(N):
            self.cohort(self.msg("k", p, None, CODEC.encode("cohort_message", cohort)))


def vle(student: str, when: datetime, n: int = 0) -> dict:
    return {"event_id": f"{student}-{when.isoformat()}-{n}", "student_id": student, "source": "vle", "action": "viewed", "event_time": int(when.timestamp() * 1000)}


# ---------------------------------------------------------------- rejections


def test_bad_messages_go_to_the_dead_letter_topic_with_position_and_reason():
    p = Pipeline()
    good = vle("s1", NOW)
    wrong_partition = (partition_for(b"s1", N) + 1) % N
    p.run(
        [
            p.msg("a", 0, b"s1", b"garbage"),
            p.event(good, partition=wrong_partition),
            p.event({**vle("s1", NOW + timedelta(hours=2)), "event_id": "future"}),
            p.event({**vle("s1", NOW), "event_id": "att", "source": "attendance"}),
            p.msg("a", partition_for(b"s2", N), b"s2", p.event(good).value),  # key is not the student
        ]
    )
    reasons = [d["reason"] for d in p.dead]
    assert len(reasons) == 5
    assert "not an Avro single-object" in reasons[0]
    assert "produce with the murmur2 partitioner" in reasons[1]
    assert "in the future" in reasons[2]
    assert "attendance event with status None" in reasons[3]
    assert "is not the event's student id" in reasons[4]
    assert all(d["source"] == "engine" and d["location"] == "a" and ":" in d["position"] for d in p.dead)
    assert p.counts["rejected"] == 5 and "applied" not in p.counts


def test_events_older_than_the_retention_are_rejected_once_the_clock_is_known():
    p = Pipeline()
    p.tick(NOW_MS)
    old = NOW - timedelta(days=POLICY.retention_days)
    p.run([p.event(vle("s1", old)), p.event(vle("s1", old + timedelta(days=1)))])
    assert len(p.dead) == 1 and "older than the 42-day retention" in p.dead[0]["reason"]
    assert p.counts["applied"] == 1 and p.counts["late"] == 1


# ---------------------------------------------------------------- idempotence and ids


def test_redelivered_batch_changes_nothing_and_recomputed_changes_keep_their_ids():
    p = Pipeline()
    p.tick(NOW_MS)
    batch = [p.event(vle("s1", NOW - timedelta(hours=h), h)) for h in range(5)]
    before = copy.deepcopy(p.students)
    p.run(batch)
    first_changes = [c["change_id"] for c in p.band_changes]
    assert first_changes and p.counts["applied"] == 5
    # Crash before the state was written: the batch is redelivered onto the old state.
    replayed = Pipeline()
    replayed.students, replayed.clocks = before, copy.deepcopy(p.clocks)
    replayed.run(batch)
    assert [c["change_id"] for c in replayed.band_changes] == first_changes
    # Crash after the state was written: redelivery is recognised as duplicates.
    p.run(batch)
    assert p.counts["duplicate"] == 5 and len(p.band_changes) == len(first_changes)


# ---------------------------------------------------------------- time


def active_until(days_ago: int) -> Pipeline:
    """Four students equally active every day from ten days ago until ``days_ago``, ticked each day."""
    p = Pipeline()
    p.tick(NOW_MS - 10 * 86_400_000)
    for d in range(10, days_ago - 1, -1):
        day = NOW - timedelta(days=d)
        p.run([p.event(vle(s, day, n)) for s in ("a", "b", "c", "quiet") for n in range(3)])
        p.tick(int((day + timedelta(hours=1)).timestamp() * 1000))
    return p


def test_a_tick_past_midnight_rolls_over_summarises_and_moves_bands_without_events():
    p = active_until(1)
    assert p.states["quiet"]["band"] == "high"
    bands = []
    for d in range(0, 9):
        later = NOW + timedelta(days=d)
        p.wall = int(later.timestamp() * 1000)
        for s in ("a", "b", "c"):
            p.run([p.event(vle(s, later, d))])
        p.tick(int(later.timestamp() * 1000))
        bands.append(p.states["quiet"]["band"])
    assert bands[-1] == "very_low"
    order = ["very_low", "low", "partial", "good", "high"]
    assert all(order.index(x) >= order.index(y) for x, y in zip(bands, bands[1:])), bands
    causes = {c["cause"] for c in p.band_changes if c["student_id"] == "quiet" and c["previous_band"] not in (None, "no_data")}
    assert causes <= {"day_rollover", "cohort_baseline"} and causes
    quiet_summaries = [s for s in p.summaries if s["student_id"] == "quiet"]
    assert len({s["day"] for s in quiet_summaries}) >= 15
    assert p.states["quiet"]["days_since_last_activity"] == 9


def test_a_tick_days_after_the_last_summarises_every_day_in_between():
    # A worker back after four days away: no gap in the history, and each day's summary is
    # that day's score (falling as the seven-day window empties), not the last day's.
    p = active_until(5)
    before = len(p.summaries)
    p.tick(NOW_MS)
    days = sorted((s["day"], s["score"]) for s in p.summaries[before:] if s["student_id"] == "quiet")
    last = (NOW - timedelta(days=5)).date().toordinal() - EPOCH_ORDINAL
    assert [d for d, _ in days] == list(range(last, last + 5))
    scores = [score for _, score in days]
    assert None not in scores and scores[0] > scores[-1] and all(a >= b for a, b in zip(scores, scores[1:])), scores


def test_a_tick_waits_while_the_partitions_activity_backlog_is_long():
    p = Pipeline()
    start = NOW - timedelta(days=3)
    p.tick(int(start.timestamp() * 1000))
    p.run([p.event(vle("s1", start, 0))])
    part = partition_for(b"s1", N)
    read = p.clocks[part].input_offset
    p.tick(int(NOW.timestamp() * 1000), highwaters={part: read + 1 + TICK_BACKLOG + 1})
    assert p.clocks[part].day == start.date().toordinal() and p.counts["ticks_deferred"] == 1
    assert not [s for s in p.summaries if s["student_id"] == "s1"]
    # Caught up (or nearly): the next tick moves the clock and the days are summarised.
    p.tick(int(NOW.timestamp() * 1000) + 5000, highwaters={part: read + 1 + TICK_BACKLOG})
    assert p.clocks[part].day == NOW.date().toordinal()
    assert len([s for s in p.summaries if s["student_id"] == "s1"]) == 3


def test_contributions_wait_until_the_partition_has_a_day():
    # A worker that starts on a backlog may read a partition's roster entries before any event
    # or tick has set its day, and defers the first tick behind the backlog: that tick looked
    # up the term of day 0 and was dead-lettered (make bench's two workers). Nothing is sent
    # until the partition has a day.
    from leap.calendar import Calendar, Period

    p = Pipeline()
    p.engine.calendar = Calendar((Period("Autumn", NOW.date() - timedelta(days=40), NOW.date() + timedelta(days=20)),))
    entry = {"student_id": "s1", "programme": "BSC-CS", "year_of_study": 2, "mode_of_study": "part_time", "personal_tutor_id": None, "department": "CSEE", "status": "active"}
    part = partition_for(b"s1", N)
    p.run([p.roster(entry)], highwaters={part: TICK_BACKLOG * 10})
    p.tick(NOW_MS, highwaters={part: TICK_BACKLOG * 10})
    assert p.counts["ticks_deferred"] >= 1 and not p.dead
    p.run([p.event(vle("s1", NOW - timedelta(hours=1)))], highwaters={})
    p.tick(NOW_MS + 1000, highwaters={})  # caught up
    assert b"cohort:BSC-CS/Y2:part_time\x00s1" in p.members and not p.dead


def test_cohort_baseline_waits_for_every_member_to_report_the_day():
    core = CohortCore(CODEC)
    members, frozen = {}, {}

    def contribution(student, day, partition=0):
        record = {"kind": "contribution", "cohort": "C", "student_id": student, "day": day, "measures": [1.0, 0, 0, 0, 0], "at": 0}
        return core.handle(Message("k", partition, 0, b"C", CODEC.encode("cohort_message", record), 0), members, frozen)

    tick = Message("k", 0, 0, None, CODEC.encode("cohort_message", tick_records(0)[1]), 0)
    contribution("x", 10)
    contribution("y", 10)
    assert len(core.handle(tick, members, frozen).broadcasts) == 1
    contribution("x", 11)
    assert core.handle(tick, members, frozen).broadcasts == []  # y has not reported day 11
    contribution("y", 11)
    out = core.handle(tick, members, frozen)
    assert [b["day"] for b in out.broadcasts] == [11]
    assert core.handle(tick, members, frozen).broadcasts == []  # unchanged: not sent again


def test_after_a_rebalance_the_cohort_core_freezes_from_the_table_not_its_memory():
    # Members' values are kept in memory between rebalances; another worker that held the
    # partition meanwhile wrote the table, so reset_indexes must make the core read it again.
    core = CohortCore(CODEC)
    members, frozen = {}, {}
    record = {"kind": "contribution", "cohort": "C", "student_id": "x", "day": 10, "measures": [1.0, 0, 0, 0, 0], "at": 0}
    core.handle(Message("k", 0, 0, b"C", CODEC.encode("cohort_message", record), 0), members, frozen)
    tick = Message("k", 0, 1, None, CODEC.encode("cohort_message", tick_records(0)[1]), 0)
    assert [b["medians"][0] for b in core.handle(tick, members, frozen).broadcasts] == [1.0]
    # The other worker's writes: x's next day and a new member y.
    members[b"C\x00x"] = [0, 11, [3.0, 0, 0, 0, 0]]
    members[b"C\x00y"] = [0, 11, [5.0, 0, 0, 0, 0]]
    assert core.handle(tick, members, frozen).broadcasts == []  # still its own view
    core.reset_indexes()
    (broadcast,) = core.handle(tick, members, frozen).broadcasts
    assert (broadcast["day"], broadcast["members"], broadcast["medians"][0]) == (11, 2, 4.0)


def test_cohort_messages_of_one_member_written_before_v2_count_with_those_of_many():
    core = CohortCore(CODEC)
    members, frozen = {}, {}
    old = {"kind": "contribution", "cohort": "C", "student_id": "x", "day": 10, "measures": [1.0, 0, 0, 0, 0], "at": 0}
    new = {"kind": "contribution", "cohort": "C", "student_id": None, "day": 0, "measures": [], "at": 0,
           "members": [{"student_id": "y", "day": 10, "measures": [3.0, 0, 0, 0, 0]}, {"student_id": "z", "day": 10, "measures": [5.0, 0, 0, 0, 0]}]}  # fmt: skip
    core.handle(Message("k", 0, 0, b"C", CODEC.encode("cohort_message", old, version=1), 0), members, frozen)
    core.handle(Message("k", 0, 1, b"C", CODEC.encode("cohort_message", new), 0), members, frozen)
    assert set(members) == {b"C\x00x", b"C\x00y", b"C\x00z"}
    tick = Message("k", 0, 2, None, CODEC.encode("cohort_message", tick_records(0)[1]), 0)
    (broadcast,) = core.handle(tick, members, frozen).broadcasts
    assert broadcast["members"] == 3 and broadcast["medians"][0] == 3.0


def test_a_rollover_sends_one_contribution_message_per_group_not_per_student():
    p = Pipeline()
    p.tick(NOW_MS - 2 * 86_400_000)
    p.run([p.event(vle(f"s{i}", NOW - timedelta(days=2), i)) for i in range(30)])
    sent: list = []
    original = p.cohort
    p.cohort = lambda message: (sent.append(CODEC.decode(message.value)), original(message))  # type: ignore[method-assign]
    p.tick(NOW_MS)
    contributions = [m for m in sent if m["kind"] == "contribution"]
    students = {e["student_id"] for m in contributions for e in m["members"]}
    assert students == {f"s{i}" for i in range(30)}
    # Two groups (the students' cohort and the institution), each at most once per partition.
    assert len(contributions) <= 2 * N
    assert all(m["student_id"] is None for m in contributions)


# ---------------------------------------------------------------- roster


def test_roster_change_moves_a_student_between_cohort_baselines():
    p = Pipeline()
    p.tick(NOW_MS)
    p.run([p.event(vle("s1", NOW - timedelta(days=2)))])
    p.tick(NOW_MS + 1000)
    assert set(p.members) == {b"cohort:unassigned\x00s1", b"institution\x00s1"}
    entry = {"student_id": "s1", "programme": "BSC-CS", "year_of_study": 2, "mode_of_study": "part_time", "personal_tutor_id": None, "department": "CSEE", "status": "active"}
    p.run([p.roster(entry)])
    p.tick(NOW_MS + 2000)
    assert set(p.members) == {
        b"cohort:BSC-CS/Y2:part_time\x00s1", b"programme:BSC-CS:part_time\x00s1", b"department:CSEE:part_time\x00s1",
        b"institution:part_time\x00s1", b"institution\x00s1",
    }  # fmt: skip
    assert p.states["s1"]["cohort"] == "BSC-CS/Y2"
    explanation = json.loads(p.states["s1"]["explanation"])
    assert explanation["window_days"] == 21
    assert explanation["reference_group"]["key"] == "cohort:BSC-CS/Y2:part_time"
    # Removed from the roster: out of every group, back with the students not on it.
    p.run([p.msg("r", partition_for(b"s1", N), b"s1", None)])
    p.tick(NOW_MS + 3000)
    assert set(p.members) == {b"cohort:unassigned\x00s1", b"institution\x00s1"}


class CountingReads(dict):
    """The students table, counting reads of single states."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reads = 0

    def get(self, key, default=None):  # type: ignore[no-untyped-def]
        self.reads += 1
        return super().get(key, default)


def test_a_baseline_re_scores_the_students_of_its_group_and_reads_no_other_state():
    p = Pipeline()
    p.students = CountingReads()
    p.tick(NOW_MS)
    entry = {"programme": "BSC-CS", "year_of_study": 2, "mode_of_study": "full_time", "personal_tutor_id": None, "department": "CSEE", "status": "active"}
    keys = [f"s{i}" for i in range(40)]
    p.run([p.roster({**entry, "student_id": k}) for k in keys[:20]])  # in the cohort; the rest not on the roster
    p.run([p.event(vle(k, NOW - timedelta(days=1))) for k in keys])
    cohort = "cohort:BSC-CS/Y2:full_time"

    def baseline(day_offset: int, members: int = 20, median: float = 5.0) -> list[Message]:
        record = {"kind": "baseline", "at": NOW_MS, "cohort": cohort, "day": NOW.date().toordinal() - 1 + day_offset,
                  "medians": [median] * len(RELATIVE_SOURCES), "used": [True] * len(RELATIVE_SOURCES), "members": members}  # fmt: skip
        return [p.msg("c", part, None, CODEC.encode("clock_message", record)) for part in range(N)]

    p.run(baseline(0))  # the first after a start reads each state once, to learn its groups
    before, evaluated = p.students.reads, p.counts["evaluated"]
    p.run(baseline(1))
    assert p.counts["evaluated"] - evaluated == 20  # the cohort's members, no one else
    assert p.students.reads - before == 20  # and only their states were read (to score them)
    # s20 joins the cohort: the next baseline re-scores it too.
    p.run([p.roster({**entry, "student_id": "s20"})])
    evaluated = p.counts["evaluated"]
    p.run(baseline(2))
    assert p.counts["evaluated"] - evaluated == 21
    # A newcomer that changes only the member count changes no score: nobody is re-scored,
    # but the count is kept for the next evaluation's explanation.
    evaluated = p.counts["evaluated"]
    p.run(baseline(2, members=21))
    assert p.counts["evaluated"] == evaluated
    assert p.clocks[partition_for(b"s0", N)].baselines[cohort].members == 21
    p.run(baseline(2, members=21, median=6.0))
    assert p.counts["evaluated"] - evaluated == 21


def _cohort_of_twenty() -> tuple[Pipeline, Callable[..., list[Message]]]:
    """A pipeline whose cohort has 20 scored members, and a maker of that cohort's baselines."""
    p = Pipeline()
    p.tick(NOW_MS)
    entry = {"programme": "BSC-CS", "year_of_study": 2, "mode_of_study": "full_time", "personal_tutor_id": None, "department": "CSEE", "status": "active"}
    keys = [f"s{i}" for i in range(20)]
    p.run([p.roster({**entry, "student_id": k}) for k in keys])
    p.run([p.event(vle(k, NOW - timedelta(days=1))) for k in keys])

    def baseline(median: float) -> list[Message]:
        record = {"kind": "baseline", "at": NOW_MS, "cohort": "cohort:BSC-CS/Y2:full_time", "day": NOW.date().toordinal(),
                  "medians": [median] * len(RELATIVE_SOURCES), "used": [True] * len(RELATIVE_SOURCES), "members": 20}  # fmt: skip
        return [p.msg("c", part, None, CODEC.encode("clock_message", record)) for part in range(N)]

    p.run(baseline(4.0))
    assert p.engine.rescores_waiting() == 0
    return p, baseline


def test_a_group_re_scored_a_few_students_per_batch_ends_as_if_scored_at_once():
    p, baseline = _cohort_of_twenty()
    at_once = copy.deepcopy(p)
    at_once.run(baseline(6.0))
    p.engine.handle(baseline(6.0), p.students, p.clocks, rescore_limit=0)  # queued, nobody scored yet
    assert p.engine.rescores_waiting() == 20
    scored = []
    while p.engine.rescores_waiting():
        out = p.engine.handle([], p.students, p.clocks, rescore_limit=7)
        scored.append(out.counts["evaluated"])
        p.states.update({r["student_id"]: r for _, r in out.states})
    assert scored == [7, 7, 6]
    assert {k: (v["score"], v["band"]) for k, v in p.states.items()} == {k: (v["score"], v["band"]) for k, v in at_once.states.items()}


def test_a_student_waiting_to_be_re_scored_is_scored_once_when_their_own_event_comes_first():
    p, baseline = _cohort_of_twenty()
    p.engine.handle(baseline(6.0), p.students, p.clocks, rescore_limit=0)
    out = p.engine.handle([p.event(vle("s19", NOW))], p.students, p.clocks, rescore_limit=0)
    assert out.counts["evaluated"] == 1  # s19, with the new baseline, and no longer waiting
    assert p.engine.rescores_waiting() == 19
    out = p.engine.handle([], p.students, p.clocks, rescore_limit=100)
    assert out.counts["evaluated"] == 19 and b"s19" not in out.writes


def test_a_reset_forgets_the_waiting_re_scores_since_it_re_scores_everyone():
    p, baseline = _cohort_of_twenty()
    p.engine.handle(baseline(6.0), p.students, p.clocks, rescore_limit=0)
    p.engine.reset_indexes()
    assert p.engine.rescores_waiting() == 0
    out = p.engine.handle([p.msg("c", part, None, CODEC.encode("clock_message", tick_records(NOW_MS + 1)[0])) for part in range(N)], p.students, p.clocks)
    assert out.counts["evaluated"] >= 20


# ---------------------------------------------------------------- same answer as the replay


def _read_university(
    tmp_path, seed: int, highwaters: dict[int, int] | None = None, restarts: tuple[int, ...] = ()
) -> tuple[Pipeline, list, dict]:
    """A simulated university through the pipeline in batches of 500, then caught up; with
    ``highwaters``, read as a backlog (every partition far behind) until then. ``restarts``:
    the batches before which the engine is replaced by a new one (a new process: whatever it
    held in memory is gone; -1: just before catching up)."""
    simulate(tmp_path, students=60, days=35, seed=seed, end=NOW, tz=LONDON)
    roster = load_roster_file(tmp_path / "roster.csv")
    events = [e for e in read_events([tmp_path / "events.jsonl"]) if e is not None]
    p = Pipeline()
    p.highwaters = highwaters
    p.run([p.roster({**entry}) for entry in roster.values()])
    for i, start in enumerate(range(0, len(events), 500)):
        if i in restarts:
            p.engine = Engine(POLICY, LONDON, N, CODEC, TOPICS, wall_ms=lambda: p.wall)
        p.run([p.event(e) for e in events[start : start + 500]])
        p.tick(min(NOW_MS, events[min(start + 499, len(events) - 1)]["event_time"]))
    if -1 in restarts:
        p.engine = Engine(POLICY, LONDON, N, CODEC, TOPICS, wall_ms=lambda: p.wall)
    p.highwaters = None  # caught up
    p.tick(NOW_MS)
    p.tick(NOW_MS + 1)
    return p, events, roster


def _assert_equals_replay(p: Pipeline, events: list, roster: dict) -> None:
    expected, _ = replay(iter(events), roster, NOW.date(), POLICY, LONDON)
    assert len(expected) == 60
    for result in expected:
        got = p.states[result.student_id]
        assert got["score"] == pytest.approx(result.score, abs=1e-9) if result.score is not None else got["score"] is None
        if result.score is not None and not near_boundary(result.score, POLICY):
            assert got["band"] == result.band, result.student_id


@pytest.mark.parametrize("seed", [1, 2])
def test_the_engine_converges_to_the_replay_on_a_simulated_university(tmp_path, seed):
    _assert_equals_replay(*_read_university(tmp_path, seed))


BACKLOG = {part: 10**9 for part in range(N)}


def test_a_backlog_defers_evaluations_to_day_rollovers_and_still_converges_to_the_replay(tmp_path):
    _assert_equals_replay(*_read_university(tmp_path, 3, highwaters=BACKLOG))


def test_a_backlog_costs_fewer_evaluations_than_reading_caught_up(tmp_path):
    backlog, _, _ = _read_university(tmp_path / "backlog", 4, highwaters=BACKLOG)
    live, _, _ = _read_university(tmp_path / "live", 4)
    # Students are evaluated at day ends, not after every batch that touched them.
    assert backlog.counts["evaluated"] < live.counts["evaluated"] / 2


def test_evaluations_deferred_by_a_process_that_died_are_done_by_the_next_once_caught_up(tmp_path):
    # Replaced mid-backlog, and again just before catching up (no day rollover follows).
    _assert_equals_replay(*_read_university(tmp_path, 3, highwaters=BACKLOG, restarts=(40, -1)))


# ---------------------------------------------------------------- state codec and partition keys


@settings(max_examples=40)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.text(min_size=1, max_size=8), st.sampled_from(["vle", "attendance", "lecture_capture"])), max_size=30),
    st.sampled_from([None, "high", "no_data"]),
    st.one_of(st.none(), st.floats(0, 100)),
)
def test_state_codec_round_trips(events, band, score):
    state = StudentState("P/Y1")
    for offset, ident, source in events:
        code, amount = effect_of(source, 3.5, "late")
        apply_event(state, 739_000 - offset, ident, code, amount)
    state.band, state.score, state.change_seq, state.part_time = band, score, 7, True
    state.contribution = (739_000, (1.0, 2.0, 3.0, 4.0, 5.0))
    state.published = b"12345678"
    decoded = state_codec.loads(state_codec.dumps(state))
    for name in StudentState.__slots__:
        if name not in ("_days", "_cold"):  # the days are compared below, whether packed or not
            assert getattr(decoded, name) == getattr(state, name)
    assert {d: (tuple(v.totals), list(v.ids), list(v.codes), list(v.amounts)) for d, v in decoded.days.items()} == {
        d: (tuple(v.totals), list(v.ids), list(v.codes), list(v.amounts)) for d, v in state.days.items()
    }


def test_state_codec_refuses_what_is_not_a_state():
    with pytest.raises(state_codec.StateFormatError):
        state_codec.loads(b"\x02" + b"\x00" * 40)
    with pytest.raises(state_codec.StateFormatError):
        state_codec.loads(b"short")


def test_partition_keys_land_on_their_partition():
    for partitions in (1, 3, 8, 12):
        for p in range(partitions):
            assert partition_for(partition_key(p, partitions), partitions) == p


def test_partition_clock_round_trips():
    clock = PartitionClock(5, 739_000, {}, 1234)
    assert PartitionClock.loads(clock.dumps()) == clock
    # A clock written before the watermark existed reads as "nothing read yet".
    assert PartitionClock.loads(b'{"now": 5, "day": 7, "baselines": {}}').input_offset == -1


def test_states_and_band_changes_carry_how_far_into_the_activity_partition_the_engine_had_read():
    p = Pipeline()
    p.tick(NOW_MS)
    s1 = [p.event(vle("s1", NOW - timedelta(hours=h), h)) for h in range(3)]
    neighbour = next(f"n{i}" for i in range(100) if partition_for(f"n{i}".encode(), N) == partition_for(b"s1", N))
    other = p.event(vle(neighbour, NOW - timedelta(hours=9), 9))  # s1's partition, a later offset
    p.run(s1 + [other])
    assert p.states["s1"]["input_offset"] == other.offset
    assert p.band_changes[-1]["input_offset"] == other.offset
    part = partition_for(b"s1", N)
    assert p.clocks[part].input_offset == other.offset


def test_a_batch_s_outputs_are_encoded_for_their_topics_in_sending_order():
    p = Pipeline()
    p.tick(NOW_MS - 86_400_000)
    out = p.engine.handle([p.event(vle("s1", NOW - timedelta(days=1))), p.msg("a", 0, b"s1", b"not avro")], p.students, p.clocks)
    sent = list(out.encoded(CODEC))
    topics = [topic for topic, _, _ in sent]
    assert topics == sorted(topics, key=["band-changes", "student-state", "daily-summaries", "contributions", "dead-letter"].index)
    assert {"band-changes", "student-state", "dead-letter"} <= set(topics)
    schemas = {"band-changes": "band_change", "student-state": "student_state", "daily-summaries": "daily_summary", "contributions": "cohort_message", "dead-letter": "dead_letter"}
    for topic, key, value in sent:
        record = CODEC.decode(value, expect=schemas[topic])
        if topic == "dead-letter":
            assert key == b"engine"
        elif topic in ("band-changes", "student-state"):
            assert key == record["student_id"].encode()
    assert len(sent) == len(out.band_changes) + len(out.states) + len(out.summaries) + len(out.contributions) + len(out.dead_letters)


def test_a_student_forgotten_and_seen_again_in_one_batch_keeps_the_new_event():
    p = Pipeline()
    long_ago = NOW - timedelta(days=POLICY.retention_days + 3)
    neighbour = next(f"s{i}" for i in range(2, 200) if partition_for(f"s{i}".encode(), N) == partition_for(b"s1", N))
    p.run([p.event(vle("s1", long_ago)), p.event(vle(neighbour, long_ago))])
    # One batch: the neighbour's event moves the partition's clock past the retention, so s1
    # (nothing kept, not on the roster) is forgotten; then s1 is active again.
    p.run([p.event(vle(neighbour, NOW)), p.event(vle("s1", NOW, 1))])
    assert b"s1" in p.students and list(p.students[b"s1"].days) == [NOW.date().toordinal()]
