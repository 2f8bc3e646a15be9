"""Scale-out: N workers over one backlog, and catching up after one of them is SIGKILLed.

A deployment of its own (topic prefix, consumer group, changelogs) is loaded with the same
roster and events as the single-worker run; N workers start together. Throughput is events
applied by all of them per second, up to half the backlog. Then one worker is SIGKILLed and
started again on its data folder, as systemd or Kubernetes would: its partitions move to the
others and back, and what it had not committed is read again. Catch-up is the time from the
kill until the group has committed the end of every activity partition; the overhead is that
minus the time the rest would have taken at the rate before the kill.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.processes import committed, ends, events_read, load_university, safe, start_worker, stop, wait_for
from leap.settings import Settings
from leap.topics import create_topics


@dataclass
class ScaleOut:
    """What :func:`measure` found."""

    workers: int
    events: int
    events_per_s: float
    catch_up_after_kill_s: float
    kill_overhead_s: float


def _applied(ports: list[int]) -> float:
    return sum(events_read(port) for port in ports)


def measure(prefix: str, workers: int, work: Path, store: str) -> ScaleOut:
    """Run ``workers`` workers over the backlog in ``work`` (roster.csv, events.jsonl) under ``prefix``."""
    settings = Settings(topic_prefix=prefix)
    env = {**os.environ, "LEAP_TOPIC_PREFIX": prefix, "LEAP_LOG_FORMAT": "json", "LEAP_ENGINE_STORE": store}
    create_topics(settings)
    load_university(env, work)
    activity = settings.topic("activity")
    end = ends(settings, activity)
    total = sum(end.values())
    processes = [start_worker(env, work, f"scale-{workers}-{i}", store, work / f"scale-{workers}-{i}") for i in range(workers)]
    ports = [port for _, port in processes]
    try:
        first = wait_for(lambda: safe(lambda: _applied(ports) > 0 and time.perf_counter()), 300, "the first event applied")
        first_count = _applied(ports)
        half = wait_for(lambda: safe(lambda: _applied(ports) >= total / 2 and time.perf_counter()), 3600, "half the backlog applied")
        rate = (_applied(ports) - first_count) / (half - first)
        applied_at_kill = _applied(ports)
        killed, _ = processes[0]
        killed.kill()
        killed.wait(30)
        kill_at = time.perf_counter()
        processes[0] = start_worker(env, work, f"scale-{workers}-0", store, work / f"scale-{workers}-0")
        group = f"{prefix}-engine"

        def caught_up() -> float | None:
            offsets = committed(settings, group, activity, list(end))
            return time.perf_counter() if all(offsets.get(p, -1) >= e for p, e in end.items()) else None

        done = wait_for(lambda: safe(caught_up), 3600, "the group to commit the whole backlog after the kill")
    finally:
        for process, _ in processes:
            stop(process)
    catch_up = done - kill_at
    remaining = max(0.0, total - applied_at_kill)
    return ScaleOut(workers, total, round(rate), round(catch_up, 1), round(catch_up - remaining / rate, 1))
