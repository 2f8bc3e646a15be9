"""The Faust application: agents, tables and the clock, wired to ``streams.engine``.

This module is the thin shell: it reads batches from Kafka, hands them to the engine, sends
what the engine produced and waits until Kafka has it, and only then writes the tables (so
a crash can redo a batch, never lose its output). The engine's inputs are read by librdkafka
under faust's assignment (``streams.direct``, ``LEAP_ENGINE_READER=direct``) or by faust's
streams (``faust``); faust's consumer keeps the group, the tables and the commits either way.
Known faust-streaming faults it avoids:
- windowed tables (restored keys never expire, #385/#193): days live inside the value;
- exactly-once (#440/#517/#323): at-least-once, with idempotent state and deterministic ids;
- agent concurrency > 1 commits past in-flight messages (#606): concurrency is 1;
- ``take_events`` acks a batch even when its body raises: a send that cannot be delivered
  ends the process before the batch is acknowledged, so it is redelivered on restart; and
  when a stop cancels the agent, the batch in hand is finished first
  (``finish_despite_cancel``), since the stop then commits what was acked;
- after a rebalance faust can resume a partition past offsets it no longer counts as
  acknowledged, and then never commits that partition again (``_new_offset`` refuses a gap
  at the head of the acked offsets). Seen here with one worker at start-up and with two.
  When this process has itself processed every offset of the gap, the gap is marked
  acknowledged; otherwise the partition is read again from its committed offset (idempotent
  state makes the re-read harmless; ``streams.commit_gaps``);
- faust acknowledges messages its stream skips in a rebalance (an older generation, or flow
  control off) as if processed, and committed they are lost: the consumer records an
  acknowledgement only for messages an agent processed (``streams.acks``), so a skipped one
  leaves a gap that is read again.

Where the state is kept (``LEAP_ENGINE_STORE``). ``rocksdb``, the default: on the worker's
disk, under its ``--datadir`` (``<datadir>/v1/tables/<table>-<partition>.db``), one
RocksDB database per table partition holding the values and the changelog offset they cover
(faust's *persisted offset*). A restarted worker with the same datadir opens them and reads
only the changelog records written after that offset; so does a worker given back a
partition another worker had meanwhile: the changelog is the truth, the local copy a head
start. The engine writes its students and partition clocks itself, so it records their
offsets itself, after the values and only where its records follow the recorded offset
without a gap (``streams.table_store``); the cohort tables go through faust, which does.
``memory``: in the process, restored from the whole changelogs at every start.
What survives a restart on RocksDB: every table value written, each partition's persisted
offset; a crash loses at most the offsets of the last batch (its records are read again,
which rewrites the same values). To force a full restore, stop the worker and delete its
datadir (or ``v1/tables`` in it); a datadir left over from topics since deleted must go
too (faust then stops with "persisted offset ... higher than the last offset"). One gap: a
student forgotten by another worker while this one's copy of their partition was stale for
longer than the changelog keeps tombstones (a day by default) comes back here until the
next day rollover forgets them again; delete the datadir of a worker that was down longer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust

from faust.types import TP

from leap.kafka import DeliveryError, Publisher, client_config
from leap.log import get_logger
from leap.settings import Settings
from leap.topics import engine_group
from schemas.codec import default_codec
from streams import state_codec
from streams.table_store import ROCKSDB_OPTIONS, EngineTable, offsets_to_persist, own_runs, store_url
from streams.tables import Clocks, KeyPartitionedTable, Overlay, SourcePartitionedTable, StudentStateType
from streams.clock import tick_records
from streams.credentials import faust_credentials
from streams.cohorts import CohortCore
from streams.assignment import AssignmentWatch
from streams.commit_gaps import CommitGaps, ProcessedOffsets
from streams.direct import DirectReader
from streams.drain import use_draining_consumer
from streams.handlers import finish_despite_cancel
from streams.send_errors import DELIVERY_DEADLINE, SendFailures
from streams import metrics as worker_metrics
from streams.web import add_health_views
from leap.vocabulary import partition_for
from streams.batch import Message, partition_key, rejected
from streams.engine import TICK_BACKLOG, Engine
from streams.windowed import WindowedStream, behind, gather_window
from leap.calendar import load_calendar
from leap.policy import cached_policy

log = get_logger("leap.streams")

# Re-scores a new baseline asks for, per batch (streams.engine): with events in the batch, few,
# so an event waits for at most about this many evaluations; with none, larger steps.
RESCORES_PER_BATCH = 200
RESCORES_PER_STEP = 1000
# Seconds a batch may gather while the worker reads a backlog (streams.windowed): longer than
# the 10,000 events of a batch take to arrive here, so in a backlog those end the batch.
BACKLOG_WINDOW = 1.0


def _die(reason: str) -> None:
    # Not an exception: faust would acknowledge the batch on the way out and lose it.
    log.critical("cannot deliver engine output; exiting so the batch is redelivered on restart", reason=reason)
    os._exit(70)


def create_app(
    settings: Settings,
    *,
    web_port: int = 6066,
    datadir: Path | None = None,
    tick_seconds: float = 5.0,
    loglevel: str = "warning",
) -> faust.App:
    """Build the engine's Faust app for these settings."""
    whole_policy = cached_policy(settings.policy_file)
    policy = whole_policy.engagement
    # The academic calendar gives the term-to-date view its start; a policy whose calendar
    # file is missing fails here, at start-up, with the file named.
    calendar = load_calendar(whole_policy.alerts.calendar_file)
    codec = default_codec()
    datadir = datadir or settings.state_dir / "engine" / f"worker-{web_port}"
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        engine_group(settings.topic_prefix),
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=faust_credentials(settings),
        store=store_url(settings.engine_store),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=0,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # faust's own sends (the cohort tables' changelogs) fail after this rather than 20
        # minutes, and a failure ends the worker before its commit (streams.send_errors).
        producer_request_timeout=DELIVERY_DEADLINE,
        stream_buffer_maxsize=20_000,
        Stream=WindowedStream,
        broker_commit_every=20_000,
        broker_session_timeout=settings.engine_session_timeout,
        web_port=web_port,
        web_host=settings.metrics_host,
        web_bind=settings.metrics_host,
        datadir=str(datadir),
        logging_config=None,
    )
    app.sensors.add(SendFailures(_die))
    names = {
        "activity": settings.topic("activity"),
        "roster": settings.topic("roster"),
        "clock": settings.topic("clock"),
        "contributions": settings.topic("cohort-contributions"),
        "band-changes": settings.topic("band-changes"),
        "student-state": settings.topic("student-state"),
        "daily-summaries": settings.topic("daily-summaries"),
        "dead-letter": settings.topic("dead-letter"),
    }
    offsets_done = ProcessedOffsets()  # every agent's: acks, unstick_commits and the lag gauges
    agents_read = {names["activity"], names["roster"], names["clock"], names["contributions"]}

    def was_processed(message: Any) -> bool:
        return message.topic not in agents_read or offsets_done.covers(message.tp, message.offset, message.offset)

    # The engine's inputs read by librdkafka under faust's assignment (streams.direct), or by
    # faust's streams (LEAP_ENGINE_READER=faust).
    input_topics = (names["activity"], names["roster"], names["clock"])
    reader = None
    if settings.engine_reader == "direct":
        reader_config = client_config(
            settings, **{"group.id": engine_group(settings.topic_prefix), "client.id": "leap-engine-reader", "queued.max.messages.kbytes": 32768}
        )
        reader = DirectReader(reader_config, input_topics)
    # faust's drain without four asyncio tasks per message; same guarantees (streams.drain);
    # and no acknowledgement of a message no agent processed (streams.acks).
    use_draining_consumer(app, processed=was_processed, direct=reader)
    inputs = app.topic(*input_topics, key_serializer="raw", value_serializer="raw")
    contributions = app.topic(names["contributions"], key_serializer="raw", value_serializer="raw", partitions=settings.partitions)

    def restored(name: str) -> Callable[[Any], Any]:
        counter = worker_metrics.RESTORED.labels(name)

        async def count(event: Any) -> None:
            counter.inc()

        return count

    def table_options(name: str) -> dict[str, Any]:
        # A fresh options dict per table: faust's RocksDB store pops keys out of the one it is given.
        return {"options": dict(ROCKSDB_OPTIONS), "on_changelog_event": restored(name)}

    # Faust tables pick their serializers from key_type/value_type (not from a schema).
    # Keyed like the input topics and partitioned by the same murmur2 hash, so a student's
    # state is restored on the worker that owns their activity partition.
    def key_partitioned(name: str, value_type: Any) -> KeyPartitionedTable:
        table = KeyPartitionedTable(
            app, name=name, beacon=app.tables.beacon, key_type=bytes, value_type=value_type, partitions=settings.partitions, **table_options(name)
        )
        return app.tables.add(table)

    students = key_partitioned("students", StudentStateType)
    clocks_table = key_partitioned("partition-clocks", bytes)
    # The engine writes these two itself (see process): by partition, and their persisted offsets.
    students_store = EngineTable(students, decode=state_codec.loads, keep=settings.engine_state_cache)
    clocks_store = EngineTable(clocks_table)
    # Written through faust while handling a message of the cohort's own partition (one at a
    # time), so faust's own write path records their persisted offsets; JSON values.
    def source_partitioned(name: str) -> SourcePartitionedTable:
        table = SourcePartitionedTable(app, name=name, beacon=app.tables.beacon, key_type=bytes, partitions=settings.partitions, **table_options(name))
        return app.tables.add(table)

    members = source_partitioned("cohort-members")
    frozen = source_partitioned("cohort-baselines")

    engine = Engine(policy, settings.tz, settings.partitions, codec, names, calendar=calendar)
    cohorts = CohortCore(codec)
    clock_keys = {p: partition_key(p, settings.partitions) for p in range(settings.partitions)}
    watch = AssignmentWatch()

    def assignment_changed(name: str) -> bool:
        return watch.changed(name, app.consumer_generation_id, app.consumer.assignment())

    clocks = Clocks(clocks_store, clock_keys)

    def note_processed(topic: str, partition: int, offset: int) -> None:
        """Record a message as done by this process: unstick_commits may then fill a commit gap
        it covers instead of re-reading the partition (for any topic it finds a gap in)."""
        offsets_done.add(TP(topic, partition), offset)

    unstick_commits = CommitGaps(app, offsets_done, skip=reader.topics if reader is not None else frozenset())

    def same_partitions() -> bool:
        """Whether the engine's partitions are those of its last batch; if not, forget what it derived from them."""
        if assignment_changed("engine"):
            engine.reset_indexes()
            clocks.cache.clear()
            students_store.forget()
            return False
        return True

    async def run(batch: list[Message], rescore_limit: int) -> None:
        try:
            await finish_despite_cancel(process(batch, rescore_limit))
        except Exception as exc:  # a bug, not bad input (that is dead-lettered): see _die
            log.exception("engine batch failed")
            _die(repr(exc))

    async def handle(batch: list[Message]) -> None:
        """Run the engine on one batch of its inputs, and any re-scores left waiting without events."""
        started = time.perf_counter()
        same_partitions()
        # Events and roster entries wait behind a batch's re-scores: a few per batch. A batch
        # of ticks and baselines only has nobody waiting, so the re-scores go in larger
        # steps, the loop serving /metrics, heartbeats and fetches between them.
        live = any(m.topic != names["clock"] for m in batch)
        await run(batch, RESCORES_PER_BATCH if live else RESCORES_PER_STEP)
        while not live and engine.rescores_waiting() and not app.rebalancing:
            await asyncio.sleep(0.01)
            if app.rebalancing or not same_partitions():
                break  # the re-scores are for partitions this worker may no longer hold
            await run([], RESCORES_PER_STEP)
        worker_metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    # Large batches: a student's events in one batch cost one evaluation and one state write.
    # In a backlog a batch gathers up to BACKLOG_WINDOW, not the short window that keeps live
    # band changes prompt: the window, not the 10,000, would end every batch (streams.windowed).
    window = gather_window(settings.engine_batch_window, BACKLOG_WINDOW, lambda: reading_a_backlog())

    @app.agent(inputs, concurrency=1)
    async def engine_agent(stream):  # type: ignore[no-untyped-def]
        if reader is not None:
            aiter(stream.channel)  # subscribes the inputs: faust assigns them with the tables' partitions
            async for direct in reader.batches(app, 10_000, window):
                try:
                    await handle(direct.messages)
                finally:
                    # Acknowledged once processed, even when a stop cancelled the wait for it.
                    if await reader.done(app, direct):
                        for m in direct.messages:
                            note_processed(m.topic, m.partition, m.offset)
                await unstick_commits()
            return
        stream.window = window
        async for events in stream.take_events(10_000, within=settings.engine_batch_window):
            # faust gives the message timestamp in seconds
            batch = [Message(e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value, int(e.message.timestamp * 1000)) for e in events]
            await handle(batch)
            for m in batch:
                note_processed(m.topic, m.partition, m.offset)
            await unstick_commits()

    # Outputs and the students' changelog go through librdkafka, not faust's producer: faust's
    # per-message send path cost more than the engine itself (two sends per event during a
    # backlog). Table values are written to the store directly once their changelog record
    # is in Kafka; faust restores the table from that changelog as usual. The cohort agent's
    # baselines and the leader's ticks go this way too, so that every send the worker waits
    # for is bounded (flushed: 60 s, then the worker ends and its batch is redelivered).
    sink = Publisher(settings, client_id="leap-engine", **{"linger.ms": 5})
    students_changelog = students.changelog_topic.get_topic_name()
    clocks_changelog = clocks_table.changelog_topic.get_topic_name()

    async def flushed() -> None:
        try:
            await asyncio.to_thread(sink.flush, DELIVERY_DEADLINE)
        except DeliveryError as exc:
            _die(str(exc))

    def activity_highwaters() -> dict[int, int]:
        """High-water offsets of this worker's activity partitions, as the consumer last fetched them."""
        if reader is not None:
            return reader.highwaters(names["activity"])
        marks = {}
        for tp in app.consumer.assignment():
            if tp.topic == names["activity"]:
                high = app.consumer.highwater(tp)
                if high is not None:  # unknown before the first fetch
                    marks[tp.partition] = high
        return marks

    def activity_processed() -> dict[int, int]:
        """The highest activity offset this process processed, per partition it holds."""
        held = (tp for tp in app.consumer.assignment() if tp.topic == names["activity"])
        return {tp.partition: done for tp in held if (done := offsets_done.highest(tp)) is not None}

    def activity_lag() -> dict[int, int]:
        """Activity messages not yet processed, per partition this worker holds (high water known)."""
        held = [tp for tp in app.consumer.assignment() if tp.topic == names["activity"]]
        committed = {tp.partition: app.consumer._committed_offset[tp] for tp in held if app.consumer._committed_offset.get(tp) is not None}
        return worker_metrics.partition_lag(activity_highwaters(), activity_processed(), committed)

    def reading_a_backlog() -> bool:
        """Whether a partition read here is behind as the engine counts it (``TICK_BACKLOG``): batches may gather longer.
        Not during a rebalance: faust delivers nothing then, and waiting would only hold the revocation up."""
        return not app.rebalancing and behind(activity_highwaters(), activity_processed(), TICK_BACKLOG)

    changelog_stores = {students_changelog: students_store, clocks_changelog: clocks_store}

    written_runs: dict = {}  # (changelog, partition) -> (first, last) offsets of own consecutive records written

    def persist_offsets(delivered: list[tuple[str, int, int]]) -> None:
        """Once a batch's values are in the store: record the changelog offsets it now covers (RocksDB).

        The engine's changelog records go through librdkafka, so faust never learns their
        offsets and would never advance a partition's persisted offset: a restart would read
        the whole changelog again. Values first, offsets after (a crash in between only makes
        the next restore read this batch again); see ``offsets_to_persist`` for when not.
        During a rebalance nothing is recorded (the restore records how far it read), but the
        batch's records still count as this worker's own, so the next batch records past them.
        """
        nonlocal written_runs
        if not delivered:
            return
        if not app.rebalancing:
            covered = lambda topic, partition: changelog_stores[topic].persisted_offset(partition)  # noqa: E731
            for (topic, partition), offset in offsets_to_persist(delivered, covered, written_runs).items():
                changelog_stores[topic].persist(partition, offset)
        written_runs = own_runs(delivered, written_runs)

    async def process(batch: list[Message], rescore_limit: int) -> None:
        """Run the engine on a batch, deliver its output, then write its state."""
        partitions = settings.partitions
        view = Overlay(students, read=lambda key: students_store.get(key, partition_for(key, partitions)))
        out = engine.handle(batch, view, clocks, activity_highwaters(), rescore_limit)
        send = sink.send
        for topic, key, value in out.encoded(codec):
            send(names[topic], value, key=key)
        # Outputs first: state that says a band change happened must never outlive a lost change.
        await flushed()
        # Where Kafka put each changelog record: the persisted offsets come from it (RocksDB).
        delivered: list[tuple[str, int, int]] = []
        noted = (lambda msg: delivered.append((msg.topic(), msg.partition(), msg.offset()))) if students_store.on_rocksdb else None
        puts: dict[int, list] = defaultdict(list)
        removals: dict[int, list] = defaultdict(list)
        for key, state in out.writes.items():
            if key not in out.deletes:
                p = partition_for(key, partitions)
                encoded = state_codec.stored(state)  # the state may be kept (students_store): as stored
                puts[p].append((key, state, encoded))
                send(students_changelog, encoded, key=key, partition=p, on_delivery=noted)
        for key in out.deletes:
            p = partition_for(key, partitions)
            removals[p].append(key)
            send(students_changelog, None, key=key, partition=p, on_delivery=noted)
        clock_values = {p: clocks.cache[p].dumps() for p in out.clock_writes}
        for p, value in clock_values.items():
            send(clocks_changelog, value, key=clock_keys[p], partition=p, on_delivery=noted)
        await flushed()
        for p in puts.keys() | removals.keys():
            students_store.write(p, puts[p], removals[p])
        for p, value in clock_values.items():
            clocks_store.write(p, [(clock_keys[p], value, value)])
        # A state the batch read but did not write may have been changed in place all the same.
        students_store.discard(key for key in view.seen if key not in out.writes)
        persist_offsets(delivered)
        for source, n in students_store.reads.items():
            worker_metrics.STATE_READS.labels(source).inc(n)
        students_store.reads.clear()
        for outcome in ("applied", "duplicate", "late", "rejected"):
            if out.counts[outcome]:
                worker_metrics.EVENTS.labels(outcome).inc(out.counts[outcome])
        worker_metrics.EVALUATIONS.inc(out.counts["evaluated"])
        worker_metrics.DEFERRED.set(engine.deferred_count())
        worker_metrics.RESCORES_WAITING.set(engine.rescores_waiting())
        if out.counts["ticks_deferred"]:
            worker_metrics.TICKS_DEFERRED.inc(out.counts["ticks_deferred"])
        for (previous, new), n in out.transitions.items():
            worker_metrics.BAND_CHANGES.labels(previous, new).inc(n)
        for latency in out.latencies_ms:
            worker_metrics.LATENCY.observe(latency / 1000)

    @app.agent(contributions, concurrency=1)
    async def cohort_agent(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            if assignment_changed("cohorts"):
                cohorts.reset_indexes()
            msg = event.message
            message = Message(msg.topic, msg.partition, msg.offset, msg.key, msg.value, msg.timestamp)
            try:
                await finish_despite_cancel(handle_cohort_message(message))
            except ValueError as exc:
                log.error("unreadable cohort message; dead-lettered", partition=msg.partition, offset=msg.offset, error=str(exc))
                record = rejected(message, f"unreadable cohort message: {exc}")
                sink.send(names["dead-letter"], codec.encode("dead_letter", record), key=b"engine")
                await flushed()
            except Exception as exc:  # a bug or a failed write, not bad input: see _die
                log.exception("cohort message failed", partition=msg.partition, offset=msg.offset)
                _die(repr(exc))
            note_processed(msg.topic, msg.partition, msg.offset)

    async def handle_cohort_message(message: Message) -> None:
        """Update the cohort tables from one message; broadcast any baseline frozen, then store it."""
        frozen_view = Overlay(frozen)
        out = cohorts.handle(message, members, frozen_view)
        # Through librdkafka, as every other output: a send faust's producer cannot complete
        # waits out its 20-minute request timeout, and a stop waits for the handler
        # (finish_despite_cancel); flushed() gives up after 60 s and ends the worker instead.
        for record in out.broadcasts:
            encoded = codec.encode("clock_message", record)
            for p in range(settings.partitions):
                sink.send(names["clock"], encoded, partition=p)
        if out.broadcasts:
            await flushed()
        frozen_view.apply()
        worker_metrics.BASELINES.inc(len(out.broadcasts))

    if tick_seconds > 0:

        @app.timer(interval=tick_seconds, on_leader=True)
        async def tick() -> None:
            clock_record, cohort_record = tick_records(int(time.time() * 1000))
            encoded_clock = codec.encode("clock_message", clock_record)
            encoded_cohort = codec.encode("cohort_message", cohort_record)
            for p in range(settings.partitions):
                sink.send(names["clock"], encoded_clock, partition=p)
                sink.send(names["contributions"], encoded_cohort, partition=p)
            await flushed()

    def held_students() -> list[tuple[str | None, str]]:
        """(band, cohort) of every student this worker holds.

        On RocksDB read from each stored value's head: a pass every 15 s reads the values
        once, without decoding every student's days.
        """
        if students_store.on_rocksdb:
            return [state_codec.band_and_cohort(raw) for raw in students_store.stored_values()]
        return [(s.band, s.cohort) for s in students_store.stored_values()]

    @app.timer(interval=15.0)
    async def gauges() -> None:
        held = held_students()
        worker_metrics.STUDENTS.set(len(held))
        worker_metrics.UNASSIGNED.set(sum(1 for _, cohort in held if cohort == "unassigned"))
        worker_metrics.show_bands(worker_metrics.band_counts(band for band, _ in held))

    lag_shown: set[int] = set()

    @app.timer(interval=5.0)
    async def lag_gauges() -> None:
        nonlocal lag_shown
        lag_shown = worker_metrics.show_lag(activity_lag(), lag_shown)
        worker_metrics.RECOVERY.set(app.tables.recovery.active_remaining_total())

    @app.task
    async def _tune_runtime() -> None:
        # Once the worker has set up logging, the libraries were found logging at debug level
        # on every message sent (a tenth of the worker's time building records nobody sees).
        for name in ("aiokafka", "faust", "mode"):
            logging.getLogger(name).setLevel(getattr(logging, loglevel.upper(), logging.WARNING))

    worker_metrics.show_bands(worker_metrics.band_counts(()))
    add_health_views(app)
    return app
