"""The stream worker's metrics: its counters, and gauges of lag, recovery, readiness and bands.

Pure helpers compute the gauges' values from plain data; ``streams.app`` reads faust's state
and sets them on a timer. Band counts are aggregates per worker (sum them across workers): nothing
here names a student.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import Counter, Gauge, Histogram

from leap.policy import BAND_ORDER

EVENTS = Counter("leap_engine_events_total", "Activity events by outcome", ["outcome"])
BAND_CHANGES = Counter("leap_engine_band_changes_total", "Band changes by transition", ["previous", "new"])
LATENCY = Histogram(
    "leap_engine_event_to_band_change_seconds",
    "From the triggering message entering Kafka to its band change being decided",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86400),
)
BATCH_SECONDS = Histogram("leap_engine_batch_seconds", "Time to process and deliver one batch")
STUDENTS = Gauge("leap_engine_students", "Students held by this worker")
UNASSIGNED = Gauge("leap_engine_students_unassigned", "Students with events but no roster entry, on this worker")
BASELINES = Counter("leap_engine_baselines_total", "Cohort baselines frozen and broadcast")
STATE_READS = Counter(
    "leap_engine_state_reads_total",
    "Student states the engine read, by where from (kept: decoded in memory since written; store: read from RocksDB and decoded)",
    ["source"],
)
EVALUATIONS = Counter("leap_engine_evaluations_total", "Students scored (after their activity, at day rollovers, on new baselines)")
DEFERRED = Gauge("leap_engine_evaluations_deferred", "Students whose scoring waits for their partition to catch up with its backlog")
RESCORES_WAITING = Gauge("leap_engine_rescores_waiting", "Students a new group baseline concerns who are not re-scored yet")
TICKS_DEFERRED = Counter("leap_engine_ticks_deferred_total", "Clock ticks not applied because the partition's activity backlog was long")
STALLS = Counter("leap_engine_commit_gaps_total", "Commit gaps left by a faust rebalance, filled or re-read")
RESTORED = Counter(
    "leap_engine_changelog_restored_total",
    "Changelog records read into this worker's tables at start-up and rebalances (on RocksDB only those written since its state was last saved)",
    ["table"],
)
LAG = Gauge("leap_engine_lag", "Activity messages not yet processed, by partition held by this worker", ["partition"])
RECOVERY = Gauge("leap_engine_recovery_remaining", "Changelog records left to restore before this worker scores (0 when restored)")
PARTITIONS = Gauge("leap_engine_partitions", "Activity partitions held by this worker")
ACKS_REFUSED = Counter(
    "leap_engine_acks_refused_total", "Messages faust skipped during a rebalance and would have acknowledged unprocessed (read again instead)"
)
READ_JUMPS = Counter(
    "leap_engine_read_jumps_total",
    "Jumps in an agent's partition offsets: reread (records fetched and thrown away, read again) or gap (offsets really missing, accepted)",
    ["outcome"],
)
for _outcome in ("reread", "gap"):
    READ_JUMPS.labels(_outcome)  # exported at 0 from start-up, so a rate has a series before the first jump
FETCHES_LOST = Counter(
    "leap_engine_fetches_lost_total", "Fetches from the consumer's thread given up on after LEAP's deadline (their records are read again)"
)
CALLS_LOST = Counter(
    "leap_engine_thread_calls_lost_total",
    "Seeks and commits through the consumer's thread given up on after LEAP's deadline (a seek is made again, a commit counts as failed)",
    ["call"],
)
for _call in ("seek", "commit"):
    CALLS_LOST.labels(_call)
HANDLERS_STUCK = Gauge(
    "leap_engine_handlers_stuck", "Engine batches and cohort messages still being handled 30 s or more after they started (0 normally; the log says where each waits)"
)
BANDS = Gauge("leap_engine_students_by_band", "Students held by this worker in each band (none: not scored yet)", ["band"])

NO_BAND = "none"


def band_counts(bands: Iterable[str | None]) -> dict[str, int]:
    """How many students are in each band, every band present (0 included), ``none`` for unscored."""
    counts = dict.fromkeys((*BAND_ORDER, NO_BAND), 0)
    for band in bands:
        key = band if band in counts else NO_BAND
        counts[key] += 1
    return counts


def partition_lag(highwaters: Mapping[int, int], processed: Mapping[int, int], committed: Mapping[int, int]) -> dict[int, int]:
    """Messages left to process per held partition: high water minus the next offset to process.

    ``processed``: the highest offset this worker processed; ``committed``: the group's committed
    offset (the next to read), used when this worker has processed nothing of the partition yet.
    A partition whose high water is not known yet is left out.
    """
    lag = {}
    for partition, high in highwaters.items():
        if partition in processed:
            following = processed[partition] + 1
        elif partition in committed:
            following = committed[partition]
        else:
            following = 0
        lag[partition] = max(0, high - following)
    return lag


def show_lag(lag: Mapping[int, int], shown: set[int]) -> set[int]:
    """Set ``leap_engine_lag`` per partition and drop partitions no longer held; returns those shown."""
    for partition in shown - set(lag):
        LAG.remove(str(partition))
    for partition, n in lag.items():
        LAG.labels(str(partition)).set(n)
    PARTITIONS.set(len(lag))
    return set(lag)


def show_bands(counts: Mapping[str, int]) -> None:
    """Set ``leap_engine_students_by_band``."""
    for band, n in counts.items():
        BANDS.labels(band).set(n)
