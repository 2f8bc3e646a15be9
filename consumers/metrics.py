"""The alert consumer's Prometheus metrics, and the pure helpers that turn a batch into increments.

Every series a dashboard or alert rule needs exists from start-up (at 0), not from the first
time something happens: a panel shows "0 dead letters", not "no data", and ``rate()`` sees
the first increment. Labels are bounded (sources, a capped set of reason kinds): no student
ids, no free text.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from datetime import date

from prometheus_client import Counter, Gauge, Histogram

from leap.dead_letter import reason_kind
from leap.policy import SOURCES

MESSAGES = Counter("leap_consumer_messages_total", "Messages read by the consumer, by topic and outcome", ["topic", "outcome"])
ALERTS = Counter("leap_alerts_total", "Alert decisions by kind, outcome and reason", ["kind", "outcome", "reason"])
WRITE_SECONDS = Histogram("leap_consumer_write_seconds", "One batch's PostgreSQL transaction", buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
LAG = Gauge("leap_consumer_lag", "Messages not yet read, by topic", ["topic"])
HEALTHY = Gauge("leap_consumer_healthy", "1 when the consumer can read and write, 0 while it retries")
PARTITIONS = Gauge("leap_consumer_partitions", "Partitions assigned to this consumer")
OUTAGE = Gauge("leap_source_outage", "1 while a source's feed looks broken (its alerts are held)", ["source"])
LAST_EVENT = Gauge("leap_source_last_event_seconds", "Unix time at which the source's latest activity event was published", ["source"])
EVENTS = Counter("leap_source_events_total", "Activity events stored by the consumer, by source", ["source"])
QUIET = Gauge("leap_source_quiet_teaching_hours", "Teaching hours since the source's latest event arrived (nights, weekends and holidays not counted)", ["source"])
QUIET_LIMIT = Gauge("leap_source_quiet_limit_hours", "The policy's max_quiet_hours for the source: quieter than this, its feed is out", ["source"])
DEAD_LETTERS = Counter("leap_dead_letters_total", "Records on the dead-letter topic, by the part that rejected them and the kind of reason", ["source", "reason"])
RETRIES = Counter("leap_consumer_retries_total", "Steps retried after a storage failure", ["step", "service"])

# Rejecters known before any dead letter is read: their series start at 0.
KNOWN_REJECTERS = ("engine", "consumer")
# Reason kinds kept apart per rejecter; the rest are counted as "other" (bounded label set).
MAX_REASONS = 20
OTHER = "other"


def start_series(outages: Iterable[str] = SOURCES) -> None:
    """Create every series that must exist before its first event (see the module docstring)."""
    for source in outages:
        OUTAGE.labels(source).set(0)
        EVENTS.labels(source)
    for rejecter in KNOWN_REJECTERS:
        DEAD_LETTERS.labels(rejecter, OTHER)


def events_by_source(volumes: Mapping[tuple[str, date], int]) -> dict[str, int]:
    """Events per source, from a batch's (source, day) volumes."""
    totals: Tally[str] = Tally()
    for (source, _), n in volumes.items():
        totals[source] += n
    return dict(totals)


def reason_label(rejecter: str, reason: str, seen: dict[str, set[str]]) -> str:
    """The ``reason`` label of a dead letter: its kind (values elided, cut to 120 characters),
    or ``other`` once ``MAX_REASONS`` kinds were seen for this rejecter. ``seen`` is updated.
    """
    kind = reason_kind(reason)[:120]
    kinds = seen.setdefault(rejecter, set())
    if kind in kinds:
        return kind
    if len(kinds) >= MAX_REASONS:
        return OTHER
    kinds.add(kind)
    return kind
