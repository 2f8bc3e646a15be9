"""A worker on RocksDB resumes from its own disk: stopped, killed and given partitions back.

Each test runs real `leap worker` processes on the real broker with LEAP_ENGINE_STORE=rocksdb,
checks how much of the changelogs a worker read to restore its tables (its
``leap_engine_changelog_restored_total``), and ends by comparing every student's streamed
state with `leap replay` of the same events, as test_engine_stream does.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from leap.policy import load_policy
from producers.exports import read_events
from producers.roster import load_roster_file
from producers.simulate import simulate
from streams.replay import replay
from tests.integration.conftest import run_leap
from tests.integration.engine_helpers import changelog_records, wait_until, worker_metric, worker_readiness
from tests.integration.test_engine_stream import converge
from tests.integration.workers import Deployment

STUDENTS = 300
DAYS = 21
PARTS = 6  # the events in six files, published a few at a time
ENGINE_TABLES = ("students", "partition-clocks")


@pytest.fixture(scope="module")
def university(tmp_path_factory):
    from leap.settings import Settings

    settings = Settings()
    folder = tmp_path_factory.mktemp("university")
    now = datetime.now(settings.tz)
    simulate(folder, students=STUDENTS, days=DAYS, seed=23, end=now, tz=settings.tz)
    events = folder / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    size = -(-len(lines) // PARTS)
    parts = []
    for i in range(PARTS):
        part = folder / f"part-{i + 1}.jsonl"
        part.write_text("".join(lines[i * size : (i + 1) * size]))
        parts.append(part)
    policy = load_policy(settings.policy_file).engagement
    expected, _ = replay(read_events([events]), load_roster_file(folder / "roster.csv"), now.date(), policy, settings.tz)
    return {"folder": folder, "parts": parts, "expected": {r.student_id: r for r in expected}, "policy": policy, "events": len(lines)}


@pytest.fixture
def deployment(tmp_path):
    deployment = Deployment(tmp_path)
    deployment.env["LEAP_ENGINE_STORE"] = "rocksdb"
    yield deployment
    deployment.close()


def publish(deployment: Deployment, *paths: Path) -> int:
    """Publish these event files; how many events went out."""
    return json.loads(run_leap(deployment.env, "produce", "events", *map(str, paths), "--json").stdout.strip().splitlines()[-1])["published"]


def ready(deployment: Deployment, worker) -> dict:
    """Wait until the worker holds its partitions and has restored their state; its /readyz answer."""
    return wait_until(lambda: worker_readiness(worker.port), 180, f"worker {worker.port} ready\n{deployment.logs()}", interval=0.3)


def processed(worker) -> float:
    """Activity events the worker has applied (or judged duplicate, late or rejected) since it started."""
    return worker_metric(worker.port, "leap_engine_events_total") or 0.0


def restored(worker, tables=ENGINE_TABLES) -> float:
    """Changelog records the worker has read into these tables since it started."""
    return sum(worker_metric(worker.port, "leap_engine_changelog_restored_total", table=t) or 0.0 for t in tables)


def written(deployment: Deployment, tables=ENGINE_TABLES) -> int:
    """Records in these tables' changelogs: what a restore from nothing reads."""
    return sum(changelog_records(deployment.settings, t) for t in tables)


def test_a_restarted_worker_reads_only_the_changelog_tail_after_a_stop_and_a_kill_and_equals_the_replay(deployment, university, tmp_path):
    parts, settings = university["parts"], deployment.settings
    # At most one batch (one changelog record per student and per partition clock) has its
    # values written and its offsets not yet recorded when a worker dies.
    one_batch = STUDENTS + settings.partitions
    datadir = tmp_path / "worker-state"
    run_leap(deployment.env, "roster", "load", str(university["folder"] / "roster.csv"))
    worker = deployment.start_worker(datadir=datadir)
    ready(deployment, worker)
    assert restored(worker) == 0  # a new deployment: nothing to restore
    # One part at a time, each processed before the next: a fast worker takes a whole backlog
    # in a few large batches, and the test needs several batches' worth of changelog records.
    first = 0
    for part in parts[:2]:
        first += publish(deployment, part)
        wait_until(lambda: processed(worker) >= first, 300, "the first third processed")

    # A clean stop (SIGTERM), then the same data folder again.
    deployment.stop(worker)
    before_stop = written(deployment)
    assert before_stop > 2 * one_batch, f"too little state for the test to tell a full restore from a tail: {before_stop}"
    worker = deployment.start_worker(datadir=datadir)
    ready(deployment, worker)
    after_stop = restored(worker)
    assert after_stop <= one_batch, f"read {after_stop:.0f} of {before_stop} changelog records after a clean stop\n{deployment.logs()}"
    # The cohort tables are written through faust, which records their offsets itself.
    cohort_tables = ("cohort-members", "cohort-baselines")
    assert restored(worker, cohort_tables) < written(deployment, cohort_tables) / 2

    # A crash (SIGKILL) while the second third is being processed: no shutdown, no final commit.
    second = publish(deployment, *parts[2:4])
    wait_until(lambda: processed(worker) > 0, 120, "the second third begun")
    deployment.kill(worker)
    before_kill = written(deployment)
    worker = deployment.start_worker(datadir=datadir)
    ready(deployment, worker)
    after_kill = restored(worker)
    assert after_kill <= one_batch, f"read {after_kill:.0f} of {before_kill} changelog records after a kill\n{deployment.logs()}"
    assert second > 0

    # Its state, the restored part included, goes on to equal the replay of every event.
    publish(deployment, *parts[4:])
    converge(deployment, university)
    assert deployment.workers[-1].poll() is None, deployment.logs()


def test_a_partition_back_from_another_worker_is_brought_up_to_date_from_the_changelog(deployment, university, tmp_path):
    parts = university["parts"]
    run_leap(deployment.env, "roster", "load", str(university["folder"] / "roster.csv"))
    first_worker = deployment.start_worker(datadir=tmp_path / "first")
    alone = ready(deployment, first_worker)["partitions"]
    first = publish(deployment, *parts[:4])
    wait_until(lambda: processed(first_worker) >= first, 300, "two thirds processed")

    # A second worker joins: the partitions it takes leave stale copies on the first one's disk.
    second_worker = deployment.start_worker(datadir=tmp_path / "second")
    wait_until(
        lambda: (r := worker_readiness(second_worker.port)) and r["partitions"] > 0 and (s := worker_readiness(first_worker.port)) and s["partitions"] < alone,
        180,
        "the partitions shared between the two workers",
        interval=0.3,
    )
    # Records from here on are the only ones a worker resuming from its own copies needs to read.
    shared_from = written(deployment)
    second = publish(deployment, parts[4])
    # Both counts: the first worker's alone can pass the total by re-reading what it had not
    # committed when its partitions moved (duplicates count as processed).
    wait_until(
        lambda: processed(second_worker) > 0 and processed(first_worker) + processed(second_worker) >= first + second,
        300,
        "a sixth more processed, the second worker's share included",
    )

    # It leaves: its partitions come back to the first worker, whose copies miss what it wrote.
    before = restored(first_worker)
    deployment.stop(second_worker)
    wait_until(lambda: (r := worker_readiness(first_worker.port)) and r["partitions"] == alone, 180, "every partition back on the first worker")
    caught_up = restored(first_worker) - before
    since_shared = written(deployment) - shared_from
    # Reading the partitions given back from their start would read what the first worker
    # wrote to them before sharing as well; one batch of its own may not have been recorded.
    bound = since_shared + STUDENTS + deployment.settings.partitions
    assert 0 < caught_up <= bound, f"read {caught_up:.0f} changelog records for the partitions given back; {since_shared} written since they were shared"

    # The first worker goes on from the brought-up-to-date copies and equals the replay.
    publish(deployment, parts[5])
    converge(deployment, university)
    assert first_worker.poll() is None, deployment.logs()

    # Its stores kept recording how far they hold the changelogs through both rebalances:
    # started again on the same folder, it reads at most the last batch.
    deployment.stop(first_worker)
    again = deployment.start_worker(datadir=tmp_path / "first")
    ready(deployment, again)
    assert restored(again) <= STUDENTS + deployment.settings.partitions, f"read {restored(again):.0f} changelog records after the rebalances"
