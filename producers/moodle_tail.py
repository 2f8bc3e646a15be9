"""``leap tail moodle``: Moodle's log table, live, from its database.

Polls ``<prefix>logstore_standard_log`` every few seconds for rows past its position
(``producers.tail_position``: the highest id read and the gaps below it), parses each row
with the Moodle adapter exactly as an export row, resolves people through the identity map,
and publishes the events, their dead letters and quarantined events *together with the new
position* in one Kafka transaction. So a tail killed at any instant (kill -9 included)
restarts from the last committed position: no row is lost, and a reader that reads committed
messages (``isolation.level=read_committed``) sees no row twice. (LEAP's engine reads
uncommitted ones too, so it may see an aborted batch before its re-publication: it counts
each event id once, so the effect is the same.) The position lives on the
compacted ``checkpoints`` topic, so a tail keeps no local state and can move between machines;
two tails with the same name fence each other off (Kafka's transactional id).

A database or Kafka outage is retried with back-off (``/healthz`` says 503 meanwhile); a bad
row is dead-lettered like any other. The database needs only SELECT on the log table.
"""

from __future__ import annotations

import csv
import io
import re
import threading
import time
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import psycopg
from confluent_kafka import KafkaException
from prometheus_client import Counter, Gauge

from leap.health import Health
from leap.kafka import DeliveryError, Publisher, read_to_end
from leap.log import get_logger
from leap.settings import Settings
from producers.exports import outcome_of
from producers.identities import IdentityMap
from producers.identity_map import follow_identities
from producers.ingest import Sink
from producers.outcome import CsvRecord
from producers.sources import Options
from producers.sources.moodle import LOGSTORE_COLUMNS, Moodle
from producers.tail_position import Position, advance
from schemas.codec import Codec, default_codec

log = get_logger("leap.tail")
ROWS = Counter("leap_tail_rows_total", "Log rows a tail read, by what became of them", ["tail", "outcome"])
HIGH = Gauge("leap_tail_position", "The highest log row id a tail has published", ["tail"])
GAPS = Gauge("leap_tail_gaps", "Row ids below the position not seen yet (uncommitted inserts), by tail", ["tail"])
LAG = Gauge("leap_tail_lag_seconds", "Age of the newest row a tail published, when it published it", ["tail"])
HEALTHY = Gauge("leap_tail_healthy", "1 when the tail can read its database and publish, 0 while it retries")
_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def redact(dsn: str) -> str:
    """A DSN without its password, for logs and dead-letter locations."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def select_sql(table_prefix: str) -> str:
    """The poll: rows past the position or among its gaps, in id order, at most ``%(batch)s``."""
    if not _PREFIX.match(table_prefix):
        raise ValueError(f"table prefix {table_prefix!r} is not a Moodle table prefix (letters, digits, underscore)")
    columns = ", ".join(LOGSTORE_COLUMNS)
    return f"SELECT {columns} FROM {table_prefix}logstore_standard_log WHERE id > %(high)s OR id = ANY(%(gaps)s) ORDER BY id LIMIT %(batch)s"


def row_record(row: Sequence[object]) -> CsvRecord:
    """A table row as the record an export row would be: text fields, SQL NULL as ``\\N``, its id as position."""
    fields = ["\\N" if value is None else str(value) for value in row]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow(fields)
    return CsvRecord(int(row[0]), text.getvalue(), fields, unit="id")  # type: ignore[call-overload]


class MoodleTail:
    """One Moodle site's log table, tailed (see the module doc)."""

    def __init__(self, settings: Settings, dsn: str, *, site: str = "moodle", table_prefix: str = "mdl_", batch: int = 5000) -> None:
        self.settings, self.dsn, self.batch = settings, dsn, batch
        self.name = f"moodle:{site}"
        self.sql = select_sql(table_prefix)
        self.codec: Codec = default_codec()
        self.adapter = Moodle(Options(site=site), location=f"{redact(dsn)}#{table_prefix}logstore_standard_log")
        self.adapter.start_table()
        self.identities = IdentityMap()
        self.identities_ready, self.stop = threading.Event(), threading.Event()
        self.health = Health(HEALTHY)
        self.position = Position()
        self.publisher: Publisher | None = None

    def load_position(self) -> Position:
        """The last committed checkpoint of this tail (a fresh tail starts at id 0)."""
        found = Position()
        for msg in read_to_end(self.settings, self.settings.topic("checkpoints"), **{"isolation.level": "read_committed"}):
            if (msg.key() or b"").decode() == self.name and msg.value() is not None:
                saved = self.codec.decode(msg.value(), expect="tail_checkpoint")
                found = Position(saved["high"], tuple(zip(saved["gap_ids"], saved["gap_since"])))
        return found

    def _connect_kafka(self) -> None:
        self.publisher = Publisher(self.settings, client_id=f"leap-tail-{self.name}", **{"transactional.id": f"{self.settings.topic_prefix}-tail-{self.name}"})
        self.publisher.init_transactions()  # fences a previous incarnation, aborting what it left open
        self.position = self.load_position()

    def poll_once(self, conn: psycopg.Connection) -> int:
        """Read one batch and publish what is new with the new position, in one transaction; the rows read."""
        with conn.cursor() as cursor:
            cursor.execute(self.sql, {"high": self.position.high, "gaps": self.position.gap_ids(), "batch": self.batch})
            rows = cursor.fetchall()
        conn.rollback()  # end the read transaction, so the next poll sees newly committed rows
        now = int(time.time() * 1000)
        position, fresh = advance(self.position, (int(row[0]) for row in rows), now)
        if position == self.position:
            return len(rows)
        assert self.publisher is not None
        new = set(fresh)
        sink = Sink(self.settings, self.publisher, self.codec, source="moodle", location=self.adapter.location, identities=self.identities)
        self.publisher.begin()
        for row in rows:
            if int(row[0]) in new:
                record = row_record(row)
                sink.put(record, outcome_of(record, self.adapter.parse))
        checkpoint = {"tail": self.name, "high": position.high, "gap_ids": position.gap_ids(), "gap_since": [since for _, since in position.gaps], "committed_at": now}
        self.publisher.send(self.settings.topic("checkpoints"), self.codec.encode("tail_checkpoint", checkpoint), key=self.name)
        self.publisher.commit()
        self.position = position
        self._count(sink, rows, new, now)
        return len(rows)

    def _count(self, sink: Sink, rows: list, new: set[int], now: int) -> None:
        counts = sink.counts
        for outcome, n in (("published", counts.published), ("skipped", counts.skipped), ("rejected", counts.rejected), ("quarantined", counts.quarantined)):
            ROWS.labels(self.name, outcome).inc(n)
        HIGH.labels(self.name).set(self.position.high)
        GAPS.labels(self.name).set(len(self.position.gaps))
        newest = max((int(row[17]) for row in rows if int(row[0]) in new and str(row[17]).isdigit()), default=None)
        if newest is not None:
            LAG.labels(self.name).set(max(0.0, now / 1000 - newest))
        log.info("tail published", tail=self.name, high=self.position.high, gaps=len(self.position.gaps), **counts.summary())

    def run(self, *, follow: bool = True, poll_seconds: float = 2.0) -> None:
        """Tail until ``stop`` is set (or, without ``follow``, until a poll finds nothing new); retry outages."""
        threading.Thread(target=follow_identities, args=(self.settings, self.identities, self.identities_ready, self.stop, self.codec),
                         name="identity-map", daemon=True).start()  # fmt: skip
        self.identities_ready.wait(60)
        backoff, conn = 1.0, None
        while not self.stop.is_set():
            try:
                if self.publisher is None:
                    self._connect_kafka()
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.dsn, connect_timeout=10)
                read = self.poll_once(conn)
                self.health.set(True)
                backoff = 1.0
                if read < self.batch:
                    if not follow:
                        break
                    self.stop.wait(poll_seconds)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                problem = f"Moodle database {redact(self.dsn)}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
                self._retry(problem, backoff, conn)
                conn = None
                backoff = min(backoff * 2, 60.0)
            except (DeliveryError, KafkaException, TimeoutError) as exc:
                self.publisher = None  # a failed transaction: start again from the committed position
                self._retry(f"Kafka: {exc}", backoff, None)
                backoff = min(backoff * 2, 60.0)
        if conn is not None:
            conn.close()

    def _retry(self, problem: str, backoff: float, conn: psycopg.Connection | None) -> None:
        self.health.set(False, problem)
        log.warning("tail retrying", tail=self.name, problem=problem, in_seconds=backoff)
        if conn is not None:
            conn.close()
        self.stop.wait(backoff)
