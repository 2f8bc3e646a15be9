"""``leap consume``: band changes, states, summaries and the roster into PostgreSQL and Redis, with alerts.

This is the shell around ``consumers.core`` (which decides what a batch writes and which
alerts it raises, from plain data). The loop, for each batch read from Kafka:
1. one PostgreSQL transaction reads a snapshot for the batch, applies the core's plan for
   every message not applied before (positions are stored in the same transaction, see
   ``consumers.store``);
2. what that transaction committed reaches Redis (students' current state, alerts on
   their recipient's stream) through outbox columns;
3. only then are the Kafka offsets committed.
When PostgreSQL or Redis is unreachable the loop stops reading, retries the same step with
backoff, reports itself unhealthy (``/healthz`` answers 503, ``leap_consumer_healthy`` is 0)
and resumes where it stopped: nothing is lost, nothing is applied twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
import redis
from confluent_kafka import Consumer, KafkaException, TopicPartition

from consumers import core, db, store
from consumers.metrics import (
    ALERTS, DEAD_LETTERS, EVENTS, HEALTHY, LAG, LAST_EVENT, MESSAGES, OUTAGE, PARTITIONS, QUIET, QUIET_LIMIT, RETRIES,
    WRITE_SECONDS, events_by_source, reason_label, start_series,
)  # fmt: skip
from consumers.outages import feed_quiet
from leap.calendar import Calendar
from consumers.core import Batch, Plan, Setting, Snapshot
from consumers.delivery import Deliveries
from consumers.live import Live
from consumers.protection import markers
from leap.dead_letter import DeadLetters
from leap.health import Health
from leap.kafka import Publisher, client_config
from leap.log import get_logger
from leap.policy import SOURCES, Alerts, Engagement
from leap.settings import Settings
from leap.topics import consumer_group
from schemas.codec import CodecError, default_codec

log = get_logger("leap.consumer")

TOPICS = {
    "activity": "activity_event",
    "roster": "roster_entry",
    "student-state": "student_state",
    "daily-summaries": "daily_summary",
    "band-changes": "band_change",
    # Read only to count what was rejected, where and why (leap_dead_letters_total).
    "dead-letter": "dead_letter",
}
_TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, redis.ConnectionError, redis.TimeoutError)
# The data, not the service: retrying cannot help, the message is dead-lettered instead.
_REFUSED = (psycopg.DataError, psycopg.IntegrityError)


class AlertConsumer:
    """The consumer's logic between Kafka and the stores (see the module docstring)."""

    def __init__(
        self, settings: Settings, rules_: Alerts, calendar: Calendar, *, live: Live | None = None,
        engagement: Engagement | None = None, names: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.rules = rules_
        self.calendar = calendar
        self.codec = default_codec()
        self.live = live or Live.connect(settings)
        self.topics = {settings.topic(name): schema for name, schema in TOPICS.items()}
        self.health = Health(HEALTHY)
        # What the outage guard needs across batches (loaded from PostgreSQL on connecting).
        self.volumes: dict[tuple[str, date], int] = {}
        self.arrivals: dict[str, float] = {}
        self._conn: psycopg.Connection | None = None
        self._outages_shown: set[str] = set()
        # High watermark of each leap.activity partition, as last seen by this consumer.
        self.activity_ends: dict[int, int] = {}
        # Erased students are recognised by keyed hash (consumers.protection.markers).
        self.pseudonym_key = settings.pseudonym_key.get_secret_value() if settings.pseudonym_key is not None else None
        self.deliveries = Deliveries(rules_.email, rules_.webhook, settings.tz, engagement, names, settings.portal_url) if self.channels() else None
        self.partitions = 0  # assigned to this consumer (0 until it has joined its group)
        self._reasons: dict[str, set[str]] = {}
        HEALTHY.set(1)
        start_series(SOURCES)

    def readiness(self) -> str | None:
        """Why the consumer cannot do its work now (None: it can): /readyz and ``leap_ready``."""
        if not self.health.healthy:
            return self.health.problem or "storage unreachable"
        if self.partitions == 0:
            return "waiting for partitions from the consumer group"
        return None

    # ------------------------------------------------------------ connections and retries

    def conn(self) -> psycopg.Connection:
        """The PostgreSQL connection, reconnecting when it was lost."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = db.connect(self.settings)
            first = date.today() - timedelta(weeks=self.rules.outage_guard.lookback_weeks + 2)
            with self._conn.transaction():
                self.volumes = store.volumes_since(self._conn, first)
                self.arrivals = store.last_arrivals(self._conn)
            for source, at in self.arrivals.items():
                LAST_EVENT.labels(source).set(at)
        return self._conn

    def setting(self) -> Setting:
        """The core's fixed inputs, as of now."""
        return Setting(self.rules, self.calendar, self.settings.partitions, datetime.now(self.settings.tz))

    def retrying(self, step: str, fn: Callable[[], Any], stop: threading.Event | None = None) -> Any:
        """Run ``fn`` until it succeeds; while PostgreSQL or Redis is away, back off and report unhealthy."""
        delay = 0.5
        while True:
            try:
                result = fn()
                if not self.health.healthy:
                    log.info("storage reachable again; resuming", step=step)
                self.health.set(True)
                return result
            except _TRANSIENT as exc:
                service = "redis" if isinstance(exc, redis.RedisError) else "postgres"
                if isinstance(exc, psycopg.Error) and self._conn is not None:
                    self._conn.close()
                self.health.set(False, f"{service}: {exc}")
                RETRIES.labels(step, service).inc()
                log.warning("storage unreachable; not committing, retrying", step=step, service=service, error=str(exc).strip(), retry_in=delay)
                if stop is not None and stop.is_set():
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    # ------------------------------------------------------------ decoding

    def decode(self, messages: list) -> Batch:
        """Decode a batch; undecodable messages become dead letters (with where and why)."""
        batch = Batch()
        for msg in messages:
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            schema = self.topics.get(topic)
            if schema is None:
                continue
            value = msg.value()
            if schema == "dead_letter":
                self._count_rejection(batch, topic, value)
                continue
            try:
                if value is None:
                    if schema == "roster_entry" and msg.key():
                        batch.roster.append((msg.key().decode(), None))
                    continue
                record = self.codec.decode(value, expect=schema)
            except (CodecError, UnicodeDecodeError) as exc:
                batch.dead.append({"location": topic, "position": f"{partition}:{offset}", "reason": str(exc), "raw": value or b""})
                MESSAGES.labels(topic, "dead_letter").inc()
                continue
            if schema == "activity_event":
                batch.activity_ends[partition] = max(batch.activity_ends.get(partition, 0), offset + 1)
                source = record["source"]
                local = datetime.fromtimestamp(record["event_time"] / 1000, self.settings.tz).date()
                batch.volumes[(source, local)] = batch.volumes.get((source, local), 0) + 1
                kind, published_ms = msg.timestamp()
                if kind != 0 and published_ms > 0:  # 0: TIMESTAMP_NOT_AVAILABLE
                    batch.arrivals[source] = max(published_ms / 1000, batch.arrivals.get(source, 0.0))
            elif schema == "roster_entry":
                batch.roster.append((record["student_id"], record))
            elif schema == "student_state":
                record["explanation"] = _explanation(record["explanation"])
                batch.states[record["student_id"]] = record
            elif schema == "daily_summary":
                batch.summaries.append(record)
            else:
                record["explanation"] = _explanation(record["explanation"])
                batch.changes.append(record)
            MESSAGES.labels(topic, "read").inc()
        return batch

    def _count_rejection(self, batch: Batch, topic: str, value: bytes | None) -> None:
        # Never dead-lettered again (that would loop): an unreadable one is counted as such.
        try:
            record = self.codec.decode(value or b"", expect="dead_letter")
            batch.rejections.append((record["source"], record["reason"]))
        except (CodecError, UnicodeDecodeError):
            batch.rejections.append(("unreadable", "not a dead_letter record"))
        MESSAGES.labels(topic, "read").inc()

    # ------------------------------------------------------------ applying

    def apply(self, messages: list) -> None:
        """Apply a batch in one transaction: snapshot, the core's plan, its writes, the positions."""
        conn = self.conn()
        started = time.perf_counter()
        with conn.transaction():
            markers.hold_shared(conn)  # an erasure in progress finishes first
            done = store.positions(conn, {(m.topic(), m.partition()) for m in messages})
            fresh = [m for m in messages if m.offset() >= done.get((m.topic(), m.partition()), 0)]
            for m in messages:
                if m.offset() < done.get((m.topic(), m.partition()), 0):
                    MESSAGES.labels(m.topic(), "already_applied").inc()
            batch = self.forget_erased(conn, self.decode(fresh))
            if batch.dead:
                # Delivered before the positions that skip them are committed.
                self._dead_letter(batch.dead)
            ends = {p: max(e, self.activity_ends.get(p, 0)) for p, e in {**self.activity_ends, **batch.activity_ends}.items()}
            setting = self.setting()
            plan = core.plan(batch, self._snapshot(conn, batch, ends), setting)
            self._write(conn, plan, setting)
            store.save_positions(conn, _next_offsets(messages))
        # Only once committed: the next batch's outage judgement sees this one's volumes.
        self.activity_ends = ends
        self.volumes = core.merged_volumes(self.volumes, plan.volumes)
        self.arrivals = core.merged_arrivals(self.arrivals, plan.arrivals)
        for source, at in plan.arrivals.items():
            LAST_EVENT.labels(source).set(self.arrivals[source])
        for source, n in events_by_source(plan.volumes).items():
            EVENTS.labels(source).inc(n)
        for rejecter, reason in batch.rejections:
            DEAD_LETTERS.labels(rejecter, reason_label(rejecter, reason, self._reasons)).inc()
        WRITE_SECONDS.observe(time.perf_counter() - started)

    def forget_erased(self, conn: psycopg.Connection, batch: Batch) -> Batch:
        """The batch without erased students; their state and roster keys tombstoned again.

        The tombstones go out before the transaction commits (as dead letters do): a crash
        after them only re-sends them.
        """
        erased = markers.erased_among(conn, batch.students(), self.pseudonym_key)
        if not erased:
            return batch
        kept, again = core.without_students(batch, erased)
        dropped = _records(batch) - _records(kept)
        MESSAGES.labels("all", "erased_student").inc(dropped)
        if again:
            with Publisher(self.settings, client_id="leap-consumer") as publisher:
                for topic, ids in again.items():
                    for sid in sorted(ids):
                        publisher.send(self.settings.topic(topic), None, key=sid)
        log.info("records about erased students dropped", students=len(erased), records=dropped)
        return kept

    def _snapshot(self, conn: psycopg.Connection, batch: Batch, activity_ends: dict[int, int]) -> Snapshot:
        ids = batch.students()
        return Snapshot(
            roster=store.students(conn, ids) if ids else {},
            exemptions=store.exemptions(conn, ids) if ids else {},
            episodes=store.open_episodes(conn, ids) if ids else {},
            postponed=store.postponed_drops(conn, ids) if ids else {},
            stored_changes=store.stored_changes(conn, [c["change_id"] for c in batch.changes]) if batch.changes else frozenset(),
            volumes=self.volumes,
            last_arrivals=self.arrivals,
            activity_ends=activity_ends,
        )

    def _write(self, conn: psycopg.Connection, plan: Plan, setting: Setting) -> None:
        if plan.roster:
            store.upsert_roster(conn, plan.roster, setting.now.date())
        if plan.removed:
            store.remove_from_roster(conn, plan.removed)
        if plan.states:
            store.upsert_states(conn, plan.states)
        if plan.summaries:
            store.upsert_summaries(conn, plan.summaries)
        if plan.volumes:
            store.add_volumes(conn, plan.volumes)
        if plan.arrivals:
            store.save_arrivals(conn, plan.arrivals)
        for change, day in plan.band_changes:
            if not store.insert_band_change(conn, change, day):
                plan.duplicates += 1
        if plan.duplicates:
            MESSAGES.labels(self.settings.topic("band-changes"), "duplicate").inc(plan.duplicates)
        channels = self.channels()
        for a in plan.alerts:
            new = store.record_decision(conn, a.student_id, a.decision, a.day, a.route, a.facts, channels)
            if a.counted_if_new and new is None:
                continue
            ALERTS.labels(*a.metric).inc()
            if a.counted_if_new:
                log.info(f"alert {a.metric[1]}", student=a.student_id, kind=a.decision.kind, reason=a.decision.reason, held_for=list(a.decision.held_for))

    def _dead_letter(self, rejected: list[dict]) -> None:
        """Send rejected messages (location, position, reason, raw) to the dead-letter topic."""
        with Publisher(self.settings, client_id="leap-consumer") as publisher:
            letters = DeadLetters(self.settings, publisher, self.codec)
            for where_and_why in rejected:
                letters.reject(source="consumer", **where_and_why)

    def show_outages(self) -> dict[str, int]:
        """Judge every source's feed now (volume and freshness): set ``leap_source_outage`` and log changes."""
        flags = core.current_outages(self.volumes, self.arrivals, self.setting())
        found = {source for source, out in flags.items() if out}
        for source in found - self._outages_shown:
            log.warning("source feed looks broken; holding the alerts it could cause", source=source)
        for source in self._outages_shown - found:
            log.info("source feed recovered", source=source)
        for source, out in flags.items():
            OUTAGE.labels(source).set(out)
        setting = self.setting()
        for source, (hours, limit) in feed_quiet(self.arrivals, setting.now, self.calendar, self.rules.outage_guard).items():
            QUIET.labels(source).set(round(hours, 3))
            QUIET_LIMIT.labels(source).set(limit)
        self._outages_shown = found
        return flags

    def channels(self) -> list[tuple[str, str]]:
        """The optional delivery channels configured: (channel, target)."""
        found = []
        if self.rules.email.enabled:
            found.append(("email", self.rules.email.mode))
        if self.rules.webhook.enabled:
            found.append(("webhook", self.rules.webhook.url))
        return found

    # ------------------------------------------------------------ held alerts

    def review_held(self) -> dict[str, int]:
        """Release or drop held alerts whose source has recovered and whose student was re-scored."""
        conn = self.conn()
        counts = {"release": 0, "drop": 0, "keep": 0}
        with conn.transaction():
            held = store.held_alerts(conn)
            if not held:
                return counts
            ids = {h["student_id"] for h in held}
            snap = Snapshot(
                roster=store.students(conn, ids), exemptions=store.exemptions(conn, ids),
                volumes=self.volumes, last_arrivals=self.arrivals, activity_ends=self.activity_ends,
            )  # fmt: skip
            for fate in core.review(held, snap, self.setting()):
                counts[fate.fate] += 1
                if fate.fate == "release":
                    store.release(conn, fate.alert_id, self.channels())
                    ALERTS.labels(fate.kind, "released", "source_recovered").inc()
                    log.info("held alert released", student=fate.student_id, kind=fate.kind)
                elif fate.fate == "drop":
                    store.drop(conn, fate.alert_id, fate.because)
                    ALERTS.labels(fate.kind, "dropped", "source_recovered").inc()
                    log.info("held alert dropped", student=fate.student_id, kind=fate.kind)
        return counts

    # ------------------------------------------------------------ live state

    def sync_live(self) -> tuple[int, int]:
        """Copy committed states and raised alerts to Redis; return (states, alerts) copied."""
        self.live.ping()  # so an unreachable Redis shows in /healthz even when idle
        conn = self.conn()
        states_done = alerts_done = 0
        while True:
            with conn.transaction():
                markers.hold_shared(conn)  # an erasure never races a copy to Redis
                states = store.unsynced_states(conn)
                if states:
                    self.live.put_states(states)
                    store.mark_synced(conn, states)
            states_done += len(states)
            if len(states) < 5000:
                break
        with conn.transaction():
            markers.hold_shared(conn)
            alerts = store.unpublished_alerts(conn)
            for alert in alerts:
                self.live.publish_alert(alert)
            if alerts:
                store.mark_published(conn, [a["alert_id"] for a in alerts])
            alerts_done = len(alerts)
        return states_done, alerts_done

    # ------------------------------------------------------------ the loop

    def apply_or_isolate(self, messages: list) -> None:
        """``apply``; when PostgreSQL refuses a batch's data, find the message it refuses and dead-letter it.

        The engine's records are schema-checked, but a value PostgreSQL cannot take (an id
        that is not a UUID, say) must not stop the consumer for good: it goes to the
        dead-letter topic with its position and the reason, and the rest is stored.
        """
        try:
            self.apply(messages)
            return
        except _REFUSED as exc:
            if len(messages) == 1:
                self._refuse(messages[0], exc)
                return
        for message in messages:
            self.apply_or_isolate([message])

    def _refuse(self, message, exc: Exception) -> None:  # type: ignore[no-untyped-def]
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        reason = f"cannot store: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        self._dead_letter([{"location": topic, "position": f"{partition}:{offset}", "reason": reason, "raw": message.value() or b""}])
        conn = self.conn()
        with conn.transaction():
            store.save_positions(conn, {(topic, partition): offset + 1})
        MESSAGES.labels(topic, "dead_letter").inc()
        log.error("message refused by PostgreSQL; dead-lettered", topic=topic, partition=partition, offset=offset, reason=reason)

    def run(self, stop: threading.Event, *, batch_size: int = 2000) -> None:
        """Consume until ``stop`` is set."""
        consumer = Consumer(
            client_config(
                self.settings,
                **{
                    "group.id": consumer_group(self.settings.topic_prefix),
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    # Retrying a storage outage can take minutes without reading: stay in the group.
                    "max.poll.interval.ms": 3_600_000,
                },
            )
        )
        def holding(count: int) -> None:
            self.partitions = count
            PARTITIONS.set(count)

        # The default (eager) protocol assigns and revokes the whole assignment at once.
        consumer.subscribe(
            list(self.topics), on_assign=lambda c, ps: holding(len(ps)), on_revoke=lambda c, ps: holding(0), on_lost=lambda c, ps: holding(0),
        )  # fmt: skip
        last_review = 0.0
        last_lag = 0.0
        try:
            while not stop.is_set():
                messages = [m for m in consumer.consume(batch_size, timeout=0.5) if m.error() is None]
                if messages:
                    self.retrying("apply", lambda: self.apply_or_isolate(messages), stop)
                now = time.monotonic()
                if now - last_review >= self.rules.review_seconds:
                    self.show_outages()  # at least hourly, with or without messages: a feed that stops is seen
                    self.retrying("review", self.review_held, stop)
                    if self.deliveries is not None:
                        self.retrying("deliver", lambda: self.deliveries.send_pending(self.conn()), stop)
                    last_review = now
                self.retrying("live", self.sync_live, stop)
                if messages:
                    self._commit(consumer, messages)
                if now - last_lag >= 5:
                    self._report_lag(consumer)
                    last_lag = now
        finally:
            consumer.close()

    def _commit(self, consumer: Consumer, messages: list) -> None:
        try:
            consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in _next_offsets(messages).items()], asynchronous=False)
        except KafkaException as exc:
            # PostgreSQL's positions are the record of what was applied; a lost commit only
            # means re-reading messages that will be skipped.
            log.warning("offset commit failed; the batch will be re-read and skipped", error=str(exc))

    def _report_lag(self, consumer: Consumer) -> None:
        # Cached high watermarks (updated by every fetch): asking the broker for each of the
        # partitions here blocked the loop for seconds.
        try:
            positions = consumer.position(consumer.assignment())
        except KafkaException:
            return
        by_topic: dict[str, int] = defaultdict(int)
        for tp in positions:
            _, high = consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0 and tp.offset >= 0:
                by_topic[tp.topic] += max(0, high - tp.offset)
        for topic, lag in by_topic.items():
            LAG.labels(topic).set(lag)


def _records(batch: Batch) -> int:
    return len(batch.roster) + len(batch.states) + len(batch.summaries) + len(batch.changes)


def _next_offsets(messages: list) -> dict[tuple[str, int], int]:
    ends: dict[tuple[str, int], int] = {}
    for m in messages:
        key = (m.topic(), m.partition())
        ends[key] = max(ends.get(key, 0), m.offset() + 1)
    return ends


def _explanation(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
