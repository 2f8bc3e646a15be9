"""The engine reading input written in Kafka transactions (as `leap tail moodle` writes it).

Every committed transaction leaves a marker in each partition it wrote to: an offset no
consumer is given. The worker reads its partitions strictly in order (`streams.drain`), so
each marker is a jump it must take for a hole in the log, not for records it lost.
"""

from __future__ import annotations

import time
import uuid

from leap.kafka import Publisher
from schemas.codec import default_codec
from tests.integration.engine_helpers import wait_until, worker_metric, worker_readiness
from tests.integration.workers import Deployment

TRANSACTIONS = 40
PER_TRANSACTION = 50


def test_a_backlog_written_in_transactions_is_applied_whole_with_few_re_reads(tmp_path):
    deployment = Deployment(tmp_path)
    try:
        codec = default_codec()
        topic = deployment.settings.topic("activity")
        now_ms = int(time.time() * 1000)
        with Publisher(deployment.settings, **{"transactional.id": f"{deployment.prefix}-test-{uuid.uuid4().hex[:6]}"}) as publisher:
            publisher.init_transactions()
            for t in range(TRANSACTIONS):
                publisher.begin()
                for i in range(PER_TRANSACTION):
                    student = f"tx-{(t * PER_TRANSACTION + i) % 97}"
                    event = {"event_id": f"tx-{t}-{i}", "student_id": student, "source": "vle", "action": "viewed", "event_time": now_ms - 1000,
                             "course": None, "object_ref": None, "quantity": None, "attendance_status": None, "source_ref": "test", "amends": None}  # fmt: skip
                    publisher.send(topic, codec.encode("activity_event", event), key=student)
                publisher.commit()

        # A backlog: the worker's fetches span many transactions, so most markers fall inside a fetch.
        worker = deployment.start_worker()
        wait_until(lambda: worker_readiness(worker.port), 180, "the worker ready", interval=0.3)
        total = TRANSACTIONS * PER_TRANSACTION
        wait_until(lambda: (worker_metric(worker.port, "leap_engine_events_total", outcome="applied") or 0) >= total, 180, "every event applied")

        assert worker_metric(worker.port, "leap_engine_events_total", outcome="applied") == total
        gaps = worker_metric(worker.port, "leap_engine_read_jumps_total", outcome="gap") or 0
        rereads = worker_metric(worker.port, "leap_engine_read_jumps_total", outcome="reread") or 0
        # Every partition holds a marker per transaction that wrote to it (each wrote to all).
        assert gaps >= TRANSACTIONS * deployment.settings.partitions / 2, (gaps, rereads)
        # Re-reads only where a fetch began at a marker, not one per marker.
        assert rereads < gaps / 4, (gaps, rereads)
        # Commits move past the markers (an accepted jump counts as done), all of them at the
        # next commit: at most the last marker of each partition is left, as no record follows
        # it yet. (A gap that listed its record twice among the acknowledged stopped each
        # commit at the next marker: one transaction per commit interval, about 2 minutes here.)
        partitions = deployment.settings.partitions
        wait_until(lambda: deployment.engine_lag() <= partitions, 30, "the engine's commits past the markers")
        assert worker.poll() is None, deployment.logs()
    finally:
        deployment.close()
