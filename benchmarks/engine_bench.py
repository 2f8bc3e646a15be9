"""`make bench`: the stream engine's throughput, latency and memory, measured on this machine.

One run, printed as a table and a JSON line:
1. events/s through one worker: a simulated university's events are published, one
   `leap worker` consumes them (Kafka in, state updated, band changes out); the rate is
   read from the worker's own Prometheus counter between its first and last event;
2. measured first, before the worker starts, so nothing else of the bench runs: events/s
   of a bare confluent-kafka consume-and-decode loop over the same topic (the ceiling any
   Python consumer of this topic has), and events/s that faust-streaming alone delivers to
   an agent that does nothing (the ceiling of any faust agent), reading as stock faust does
   and as its drain is mended (streams.drain on uvloop); and events/s of the worker's own
   direct reader (streams.direct) handing the topic over, with the worker's share of it;
3. how long the engine takes to settle after the backlog (the cohort baselines it implies
   are frozen, broadcast and every student re-scored), then p50/p99 latency from an event
   to its band change delivered on the band-changes topic, at a fixed input rate on the
   settled engine (``benchmarks.latency``: existing students' events, and one in ten the
   first event of a new student, whose first evaluation is always a band change), beside
   the events/s the engine core allows when every event is a different student's
   (``benchmarks.engine_core``, live);
4. worker memory per 10,000 students: resident memory after loading minus before, scaled;
5. restart, for each store (LEAP_ENGINE_STORE memory and rocksdb): a worker restores the
   loaded state into a new data folder and is stopped (SIGTERM); it is started again on the
   same folder and one event of a new student (whose first evaluation is a band change) is
   published at once. Restart-to-first-band is the time from starting the process until
   that band change is on the band-changes topic (the memory store first reads the whole
   changelogs, RocksDB only what was written since it stopped), with the changelog records
   it read and its resident memory per 10,000 students once it holds them (minus an idle
   worker's on the same store).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import typer
from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from rich.table import Table

from benchmarks import engine_core, latency, scale_out
from benchmarks.settle import settle
from benchmarks.processes import counter, ends, events_read, load_university, metrics, ready, roster_ids, rss_kib, safe, start_worker, stop, viewed, wait_for
from leap.kafka import Publisher, client_config
from leap.settings import Settings
from leap.topics import create_topics, delete_topics_starting
from producers.simulate import simulate
from reliability.processes import free_port
from schemas.codec import default_codec
from streams.direct import DirectReader

console = Console(stderr=True)


def bare_consume(settings: Settings, topic: str, expected: int) -> float:
    """events/s of confluent-kafka consume + single-object Avro decode of every message."""
    codec = default_codec()
    consumer = Consumer(client_config(settings, **{"group.id": f"bench-{uuid.uuid4().hex}", "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    seen = 0
    started = time.perf_counter()
    while seen < expected:
        for msg in consumer.consume(10_000, timeout=1.0):
            if msg.error() is None:
                codec.decode(msg.value(), expect="activity_event")
                seen += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return seen / elapsed


def direct_alone(settings: Settings, expected: int) -> float:
    """events/s the worker's direct reader (``streams.direct``) hands over the activity topic,
    its messages made as the engine takes them and nothing else done with them."""
    topic = settings.topic("activity")
    reader = DirectReader(client_config(settings, **{"group.id": f"bench-{uuid.uuid4().hex}", "queued.max.messages.kbytes": 32768}), [topic])
    partitions = reader.consumer().list_topics(topic, timeout=10).topics[topic].partitions
    reader.assign([(topic, p) for p in partitions])
    seen = 0
    started = time.perf_counter()
    while seen < expected:
        messages, _ = reader.consume(10_000, 1.0)
        seen += len(messages)
    elapsed = time.perf_counter() - started
    reader.close()
    return seen / elapsed


def faust_alone(settings: Settings, expected: int, work: Path, reader: str) -> float:
    """events/s faust-streaming delivers to an empty agent over the activity topic (own process),
    reading as faust does (``stock``) or as the worker does (``draining``)."""
    out = work / f"faust-ceiling-{reader}.txt"
    app_id = f"{settings.topic_prefix}-faust-ceiling-{reader}"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.faust_ceiling", settings.kafka_bootstrap, settings.topic("activity"), str(expected), str(out), str(free_port()), app_id, reader],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    return float(out.read_text())


def main(
    students: int = typer.Option(10_000, help="Students in the simulated university."),
    days: int = typer.Option(7, help="Days of simulated activity."),
    latency_rate: int = typer.Option(1000, help="Events per second for the latency measurement."),
    latency_seconds: int = typer.Option(20, help="How long to send at that rate."),
    workers: int = typer.Option(2, min=1, help="Workers of the scale-out phase (compared with one)."),
    store: str = typer.Option(Settings().engine_store, help="The store of the worker measured in phases 1-4 (rocksdb or memory); phase 5 measures both."),
) -> None:
    """Measure the engine and print the figures."""
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    settings = Settings(topic_prefix=prefix)
    env = {**os.environ, "LEAP_TOPIC_PREFIX": prefix, "LEAP_LOG_FORMAT": "json", "LEAP_ENGINE_STORE": store}
    create_topics(settings)
    work = Path(tempfile.mkdtemp(prefix="leap-bench-"))
    worker = None
    try:
        console.print(f"simulating {students:,} students over {days} days")
        counts = simulate(work, students=students, days=days, seed=5, end=datetime.now(settings.tz), tz=settings.tz, holiday_week=False)
        console.print("idle workers, one per store")
        idle_kib = {kind: _idle_rss(env, work, kind) for kind in STORES}
        console.print(f"loading the roster and publishing {counts.events:,} events")
        load_university(env, work)
        total = counts.events

        # The ceilings first, with nothing else of the bench running (no worker yet).
        console.print("bare consume-and-decode loop")
        ceiling = bare_consume(settings, settings.topic("activity"), total)
        console.print("the worker's direct reader alone")
        direct_ceiling = direct_alone(settings, total)
        faust_ceilings = {}
        for reader in READERS:
            console.print(f"faust alone, an agent that does nothing, reading as {reader}")
            faust_ceilings[reader] = faust_alone(settings, total, work, reader)

        worker, port = start_worker(env, work, "worker", store, work / "worker")
        rss_idle = idle_kib[store]  # a worker of this store, running, holding no student

        def processed() -> float:
            return events_read(port)

        first = wait_for(lambda: safe(lambda: processed() > 0 and time.perf_counter()), 120, "the first event")
        first_count = processed()
        console.print("worker processing")
        # The scale-out phase measures up to half the backlog (it kills a worker there): so is
        # its one-worker comparison.
        half = wait_for(lambda: safe(lambda: processed() >= total / 2 and time.perf_counter()), 3600, "half the backlog")
        half_rate = (processed() - first_count) / (half - first)
        last = wait_for(lambda: safe(lambda: processed() >= total and time.perf_counter()), 3600, "the worker to process everything")
        worker_rate = (total - first_count) / (last - first) if last > first else float("nan")
        rss_loaded = rss_kib(worker.pid)
        held = students

        console.print("settling: baselines frozen, broadcast and their students re-scored")
        settled = settle(settings, port, last)

        console.print(f"delivered latency at {latency_rate} events/s for {latency_seconds} s")
        lag = latency.measure(settings, roster_ids(work), latency_rate, latency_seconds)
        stop(worker)
        worker = None

        console.print("the engine core alone (no Kafka, no faust) over the same events")
        core = engine_core.measure_files(work, settings)
        console.print(f"{workers} workers over the same backlog, one SIGKILLed halfway")
        scaled = scale_out.measure(f"{prefix}-x{workers}", workers, work, store)

        restarts = {}
        for kind in STORES:
            console.print(f"restart on the {kind} store: restore, stop, start again, first band change")
            restarts[kind] = restart(settings, env, work, kind, idle_kib[kind])

        # The worker reads its inputs with the direct reader (LEAP_ENGINE_READER's default).
        combined = 1 / (1 / direct_ceiling + 1 / core.events_per_s)
        per_10k_mib = (rss_loaded - rss_idle) / 1024 / max(held, 1) * 10_000
        results = {
            "students": students,
            "days": days,
            "events": total,
            "worker_events_per_s": round(worker_rate),
            "bare_consume_decode_events_per_s": round(ceiling),
            "worker_to_ceiling_ratio": round(worker_rate / ceiling, 3),
            **{f"faust_empty_agent_{reader}_events_per_s": round(rate) for reader, rate in faust_ceilings.items()},
            "faust_draining_to_stock_ratio": round(faust_ceilings["draining"] / faust_ceilings["stock"], 2),
            "direct_reader_events_per_s": round(direct_ceiling),
            "direct_to_faust_draining_ratio": round(direct_ceiling / faust_ceilings["draining"], 2),
            "worker_to_direct_reader_ratio": round(worker_rate / direct_ceiling, 3),
            "engine_core_events_per_s": round(core.events_per_s),
            **{f"engine_core_us_{part}": round(us, 1) for part, us in core.us_per_event.items()},
            # Once settled, each event its own student's evaluation: bounds the live rate.
            "engine_core_live_events_per_s": round(core.live.events_per_s),
            **{f"engine_core_live_us_{part}": round(us, 1) for part, us in core.live.us_per_event.items()},
            # What the direct reader and the core together allow one worker: their costs add up.
            "worker_ceiling_events_per_s": round(combined),
            "worker_to_ceiling_ratio_combined": round(worker_rate / combined, 3),
            **{f"settle_{k}": v for k, v in settled.items()},
            "latency_rate_events_per_s": latency_rate,
            "latency_delivered_probes": lag.probes,
            "latency_delivered_p50_ms": lag.p50_ms,
            "latency_delivered_p99_ms": lag.p99_ms,
            "scale_out_workers": workers,
            "scale_out_events_per_s": scaled.events_per_s,
            "worker_events_per_s_first_half": round(half_rate),
            "scale_out_to_one_worker_ratio": round(scaled.events_per_s / half_rate, 2),
            "scale_out_catch_up_after_sigkill_s": scaled.catch_up_after_kill_s,
            "scale_out_sigkill_overhead_s": scaled.kill_overhead_s,
            "worker_rss_idle_mib": round(rss_idle / 1024, 1),
            "worker_rss_loaded_mib": round(rss_loaded / 1024, 1),
            "worker_mib_per_10k_students": round(per_10k_mib, 1),
            "store": store,
            **{f"restart_{k}_{kind}": v for kind, figures in restarts.items() for k, v in figures.items()},
            "restart_memory_to_rocksdb_ratio": round(restarts["memory"]["to_first_band_s"] / restarts["rocksdb"]["to_first_band_s"], 1),
            "target_events_per_s": 12_000,
            "target_settle_s": 30,
            "target_latency_p99_ms": 1000,
            "target_restart_ratio": 5,
        }
        table = Table("measure", "value", title="LEAP engine benchmark (one worker, this machine)")
        for key, value in results.items():
            table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
        Console().print(table)
        print(json.dumps(results))
    finally:
        if worker is not None:
            stop(worker)
        delete_topics_starting(settings, prefix)


STORES = ("memory", "rocksdb")
# How the faust ceiling reads: as faust does, and as the worker does (streams.drain, uvloop).
READERS = ("stock", "draining")


def _idle_rss(env: dict[str, str], work: Path, store: str) -> int:
    """Resident memory (KiB) of a worker on ``store`` that is ready and holds no student."""
    process, port = start_worker(env, work, f"idle-{store}", store, work / f"idle-{store}")
    try:
        wait_for(lambda: safe(lambda: ready(port)), 180, f"an idle {store} worker ready")
        return rss_kib(process.pid)
    finally:
        stop(process)


def restart(settings: Settings, env: dict[str, str], work: Path, store: str, idle_kib: int) -> dict[str, float]:
    """Restart-to-first-band, changelog records read and memory per 10,000 students of a restarted worker on ``store``."""
    datadir = work / f"restart-{store}"
    # Restore the loaded state into a new data folder (memory: into the process), then stop.
    process, port = start_worker(env, work, f"restore-{store}", store, datadir)
    try:
        wait_for(lambda: safe(lambda: ready(port)), 1800, f"the {store} worker to restore the state")
    finally:
        stop(process)

    student = f"bench-restart-{uuid.uuid4().hex[:8]}"
    topic = settings.topic("band-changes")
    start = ends(settings, topic)
    codec = default_codec()
    record = viewed(student, f"restart-{student}")
    consumer = Consumer(client_config(settings, **{"group.id": f"bench-{uuid.uuid4().hex}", "enable.auto.commit": False}))
    consumer.assign([TopicPartition(topic, p, offset) for p, offset in start.items()])
    started = time.perf_counter()
    process, port = start_worker(env, work, f"restart-{store}", store, datadir)
    try:
        # Published as the process starts: a new student's first evaluation is a band change
        # (none -> a band), decided in the worker's first batch once its state is restored.
        with Publisher(settings, **{"linger.ms": 0}) as publisher:
            publisher.send(settings.topic("activity"), codec.encode("activity_event", record), key=student)
        first_band = None
        while first_band is None:
            if time.perf_counter() - started > 1800:
                raise RuntimeError(f"no band change from the restarted {store} worker within 30 minutes")
            for msg in consumer.consume(1000, timeout=0.05):
                if msg.error() is None and codec.decode(msg.value(), expect="band_change")["student_id"] == student:
                    first_band = time.perf_counter() - started
        # Its memory once it holds everyone: after a gauges pass has counted them.
        held = wait_for(lambda: safe(lambda: counter(metrics(port), "leap_engine_students")), 120, f"the {store} worker's student count")
        rss = rss_kib(process.pid)
        restored = counter(metrics(port), "leap_engine_changelog_restored_total")
    finally:
        consumer.close()
        stop(process)
    return {
        "to_first_band_s": round(first_band, 2),
        "restored_records": int(restored),
        "students_held": int(held),
        "rss_mib": round(rss / 1024, 1),
        "mib_per_10k_students": round((rss - idle_kib) / 1024 / max(held, 1) * 10_000, 1),
    }


if __name__ == "__main__":
    typer.run(main)
