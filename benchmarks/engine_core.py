"""The engine core's own cost per event: ``streams.engine.Engine`` with no Kafka and no faust.

What the worker does with a batch, minus reading and delivering it: decode every message,
update the students' state, evaluate, and encode what goes out (output records, the
students' changelog values). Messages are the simulated university's, encoded as the
producers encode them and put on the partitions Kafka would give them; the roster first,
then the events in batches as the worker takes them, each batch followed by a tick per
partition at its last event time (as the elected leader's ticks do while a backlog is read).

Live (``CoreFigures.live``), once the backlog is read: small batches in which every event is
a different student's, as events arrive at a settled worker. Nothing coalesces then: each
event costs its student's read from the store (decoding the stored value), an evaluation
with its explanation, and the encoding of the outputs and the new state. The events a
worker can apply per second this way bound the rate at which its latency stays low.

Run alone (``python -m benchmarks.engine_core --students 10000``) it prints events/s and
where the time went; run under ``py-spy record`` it is the engine's profile. ``make bench``
uses :func:`measure` for the ceiling the engine core sets on a worker.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import typer

from benchmarks.processes import viewed
from leap.calendar import load_calendar
from leap.policy import load_policy
from leap.settings import Settings
from leap.vocabulary import partition_for
from producers.exports import read_events
from producers.roster import load_roster_file
from producers.simulate import simulate
from schemas.codec import default_codec
from streams import state_codec
from streams.clock import tick_records
from streams.batch import Message, PartitionClock
from streams.engine import Engine
from streams.tables import Overlay

BATCH = 10_000  # the worker's take_events batch
LIVE_BATCH = 100  # a settled worker's batch at 1,000 events/s (0.1 s)


@dataclass
class CoreFigures:
    """What :func:`measure` found."""

    events: int
    seconds_handle: float
    seconds_encode: float
    live: CoreFigures | None = None  # one event per student per batch, once settled (module docstring)

    @property
    def events_per_s(self) -> float:
        """Events per CPU-second of the whole core (handle and encode)."""
        return self.events / (self.seconds_handle + self.seconds_encode)

    @property
    def us_per_event(self) -> dict[str, float]:
        """Microseconds per event, by part."""
        return {"handle": self.seconds_handle / self.events * 1e6, "encode": self.seconds_encode / self.events * 1e6}


def messages(work: Path, settings: Settings) -> tuple[list[Message], list[list[Message]], dict[int, int]]:
    """The roster's messages, the activity in batches (each ending with its ticks), encoded,
    and the activity partitions' high-water offsets."""
    codec = default_codec()
    topics = {"activity": settings.topic("activity"), "roster": settings.topic("roster"), "clock": settings.topic("clock")}
    parts = settings.partitions
    roster = []
    for offset, (student, entry) in enumerate(load_roster_file(work / "roster.csv").items()):
        key = student.encode()
        roster.append(Message(topics["roster"], partition_for(key, parts), offset, key, codec.encode("roster_entry", entry), 0))
    events = sorted((e for e in read_events([work / "events.jsonl"], "events") if e is not None), key=lambda e: e["event_time"])
    offsets = [0] * parts
    batches = []
    for start in range(0, len(events), BATCH):
        batch = []
        for event in events[start : start + BATCH]:
            key = event["student_id"].encode()
            p = partition_for(key, parts)
            batch.append(Message(topics["activity"], p, offsets[p], key, codec.encode("activity_event", event), event["event_time"]))
            offsets[p] += 1
        tick = codec.encode("clock_message", tick_records(batch[-1].timestamp)[0])
        batch.extend(Message(topics["clock"], p, 0, None, tick, batch[-1].timestamp) for p in range(parts))
        batches.append(batch)
    return roster, batches, dict(enumerate(offsets))


def encode_outputs(codec, out) -> int:  # type: ignore[no-untyped-def]
    """Encode a batch's outputs and state values as the worker does before sending; the count."""
    n = sum(1 for _ in out.encoded(codec))
    for state in out.writes.values():
        state_codec.dumps(state)
        n += 1
    return n


def measure(students: int, days: int, settings: Settings | None = None) -> CoreFigures:
    """Run the core over a simulated university and time it (see the module docstring)."""
    settings = settings or Settings()
    with tempfile.TemporaryDirectory(prefix="leap-core-") as tmp:
        work = Path(tmp)
        simulate(work, students=students, days=days, seed=5, end=datetime.now(settings.tz), tz=settings.tz, holiday_week=False)
        return measure_files(work, settings)


def measure_files(work: Path, settings: Settings) -> CoreFigures:
    """Time the core over the roster.csv, events.jsonl and calendar.toml in ``work``."""
    roster, batches, highwaters = messages(work, settings)
    policy = load_policy(settings.policy_file)
    calendar = load_calendar(work / "calendar.toml")
    codec = default_codec()
    names = {"activity": settings.topic("activity"), "roster": settings.topic("roster"), "clock": settings.topic("clock")}
    engine = Engine(policy.engagement, settings.tz, settings.partitions, codec, names, calendar=calendar)
    state: dict = {}
    clocks: dict[int, PartitionClock] = {}
    engine.handle(roster, state, clocks)
    handle = encode = 0.0
    events = 0
    # Read as a backlog, as the worker reads it (the consumer sees the topic's end far ahead,
    # so ticks wait and the events' own times move the clocks), then one batch of ticks once
    # caught up.
    codec_tick = codec.encode("clock_message", tick_records(batches[-1][-1].timestamp + 1)[0])
    caught_up = [Message(names["clock"], p, 1, None, codec_tick, 0) for p in range(settings.partitions)]
    for batch, marks in [*((b, highwaters) for b in batches), (caught_up, None)]:
        started = time.perf_counter()
        out = engine.handle(batch, state, clocks, marks)
        middle = time.perf_counter()
        encode_outputs(codec, out)
        encode += time.perf_counter() - middle
        handle += middle - started
        events += sum(1 for m in batch if m.topic == names["activity"])
    figures = CoreFigures(events, handle, encode)
    figures.live = _live(engine, state, clocks, batches[-1][-1].timestamp + 1, names["activity"], settings.partitions, codec)
    return figures


def _live(engine: Engine, state: dict, clocks: dict, at_ms: int, topic: str, partitions: int, codec) -> CoreFigures:  # type: ignore[no-untyped-def]
    """Time events of distinct students in small batches on the settled engine (module docstring).

    States are kept encoded, as RocksDB keeps them, and read through the worker's Overlay.
    """
    stored = {key: state_codec.dumps(value) for key, value in state.items()}
    read = lambda key: None if (raw := stored.get(key)) is None else state_codec.loads(raw)  # noqa: E731
    students = sorted(stored)
    offsets = [10**9] * partitions  # past the backlog's offsets
    handle = encode = 0.0
    events = 0
    for start in range(0, len(students), LIVE_BATCH):
        batch = []
        for i, key in enumerate(students[start : start + LIVE_BATCH]):
            p = partition_for(key, partitions)
            event = viewed(key.decode(), f"live-{start + i}", at_ms + start + i)
            batch.append(Message(topic, p, offsets[p], key, codec.encode("activity_event", event), event["event_time"]))
            offsets[p] += 1
        started = time.perf_counter()
        out = engine.handle(batch, Overlay(stored, read=read), clocks, dict(enumerate(offsets)))
        middle = time.perf_counter()
        for _ in out.encoded(codec):
            pass
        for key, value in out.writes.items():
            stored[key] = state_codec.dumps(value)
        encode += time.perf_counter() - middle
        handle += middle - started
        events += len(batch)
    return CoreFigures(events, handle, encode)


def main(
    students: int = typer.Option(10_000, help="Students in the simulated university."),
    days: int = typer.Option(7, help="Days of simulated activity."),
) -> None:
    """Time the engine core alone and print events/s and microseconds per event."""
    figures = measure(students, days)
    live = figures.live
    print(
        json.dumps(
            {
                "events": figures.events,
                "core_events_per_s": round(figures.events_per_s),
                **{f"us_{k}": round(v, 1) for k, v in figures.us_per_event.items()},
                "live_events_per_s": round(live.events_per_s),
                **{f"live_us_{k}": round(v, 1) for k, v in live.us_per_event.items()},
            }
        )
    )


if __name__ == "__main__":
    typer.run(main)
