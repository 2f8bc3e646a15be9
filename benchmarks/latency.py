"""Latency from an activity event to its band change, delivered: on the band-changes topic,
readable by the consumer that raises alerts (not the moment the engine decided it).

Events go in at a steady rate for a while. Nine in ten are for existing students (the load);
one in ten is a probe: the first event of a student nobody has seen, whose first evaluation
is always a band change (none to a band). A consumer reads the band-changes topic while the
events are sent; a probe's latency is when its change was read minus when its event was
handed to the producer. Both clocks are this process's.

Run alone (``python -m benchmarks.latency``, a few minutes) it measures only this, on a
worker of its own that has read a smaller backlog (10,000 students x 4 days by default) and
settled: for trying a change to the worker's latency without the whole ``make bench``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import typer

from confluent_kafka import Consumer, TopicPartition

from benchmarks.processes import counter, ends, events_read, load_university, metrics, roster_ids, safe, start_worker, stop, viewed, wait_for
from benchmarks.settle import settle
from leap.kafka import Publisher, client_config
from leap.settings import Settings
from leap.topics import create_topics, delete_topics_starting
from producers.simulate import simulate
from schemas.codec import default_codec

PROBE_EVERY = 10


@dataclass
class Latency:
    """Delivered event-to-band-change latency of the probes, in milliseconds."""

    rate: int
    probes: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def measure(settings: Settings, students: list[str], rate: int, seconds: int, timeout: float = 300.0) -> Latency:
    """Send ``rate`` events/s for ``seconds`` (see the module docstring); the probes' latencies."""
    codec = default_codec()
    topic = settings.topic("band-changes")
    consumer = Consumer(client_config(settings, **{"group.id": f"bench-{uuid.uuid4().hex}", "enable.auto.commit": False}))
    consumer.assign([TopicPartition(topic, p, offset) for p, offset in ends(settings, topic).items()])
    sent_at: dict[str, float] = {}
    found: dict[str, float] = {}

    def read(timeout: float) -> None:
        for msg in consumer.consume(1000, timeout=max(timeout, 0.0)):
            if msg.error() is None:
                student = codec.decode(msg.value(), expect="band_change")["student_id"]
                if student in sent_at and student not in found:
                    found[student] = time.perf_counter() - sent_at[student]

    run = uuid.uuid4().hex[:6]
    try:
        with Publisher(settings, **{"linger.ms": 0}) as publisher:
            start = time.perf_counter()
            for i in range(rate * seconds):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    read(delay)  # wait by reading: a change is timed when it arrives
                probe = i % PROBE_EVERY == 0
                student = f"bench-probe-{run}-{i}" if probe else students[i % len(students)]
                publisher.send(settings.topic("activity"), codec.encode("activity_event", viewed(student, f"lat-{uuid.uuid4().hex}")), key=student)
                if probe:
                    sent_at[student] = time.perf_counter()
            deadline = time.perf_counter() + timeout
            while len(found) < len(sent_at) and time.perf_counter() < deadline:
                read(0.05)
    finally:
        consumer.close()
    if len(found) < 0.99 * len(sent_at):
        raise RuntimeError(f"only {len(found)} of {len(sent_at)} probes' band changes arrived within {timeout:.0f} s")
    values = sorted(v * 1000 for v in found.values())
    return Latency(rate, len(values), round(values[len(values) // 2], 1), round(values[min(len(values) - 1, int(len(values) * 0.99))], 1), round(values[-1], 1))


def main(
    students: int = typer.Option(10_000, help="Students in the simulated university."),
    days: int = typer.Option(4, help="Days of simulated activity read as a backlog first."),
    rate: int = typer.Option(1000, help="Events per second."),
    seconds: int = typer.Option(20, help="How long to send at that rate, per round."),
    rounds: int = typer.Option(2, min=1, help="Measurements, one after the other, on the same worker."),
) -> None:
    """Latency alone: a worker reads a backlog and settles, then events go in at ``rate``."""
    prefix = f"bench-lat-{uuid.uuid4().hex[:6]}"
    settings = Settings(topic_prefix=prefix)
    env = {**os.environ, "LEAP_TOPIC_PREFIX": prefix, "LEAP_LOG_FORMAT": "json"}
    create_topics(settings)
    work = Path(tempfile.mkdtemp(prefix="leap-bench-lat-"))
    worker = None
    try:
        counts = simulate(work, students=students, days=days, seed=5, end=datetime.now(settings.tz), tz=settings.tz, holiday_week=False)
        load_university(env, work)
        worker, port = start_worker(env, work, "worker", settings.engine_store, work / "worker")
        last = wait_for(lambda: safe(lambda: events_read(port) >= counts.events and time.perf_counter()), 3600, "the backlog to be read")
        settled = settle(settings, port, last)
        roster = roster_ids(work)
        for _ in range(rounds):
            before = counter(metrics(port), "leap_engine_evaluations_total")
            lag = measure(settings, roster, rate, seconds)
            evaluations = counter(metrics(port), "leap_engine_evaluations_total") - before
            print(json.dumps({"backlog_events": counts.events, "settle_s": settled["s"], **asdict(lag), "evaluations": int(evaluations),
                              "batch_window_s": settings.engine_batch_window}), flush=True)  # fmt: skip
    finally:
        if worker is not None:
            stop(worker)
        delete_topics_starting(settings, prefix)


if __name__ == "__main__":
    typer.run(main)
