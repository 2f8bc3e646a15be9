"""What a failed alert assertion says: compact, most telling first, so a CI log's tail keeps it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from reliability.processes import complaints
from tests.integration.engine_helpers import worker_metric
from tests.integration.workers import Deployment, query

ENGINE_COUNTERS = (
    "leap_engine_baselines_total", "leap_engine_evaluations_total", "leap_engine_rescores_waiting", "leap_engine_ticks_deferred_total",
    "leap_engine_read_jumps_total", "leap_engine_fetches_lost_total", "leap_engine_commit_gaps_total",
)  # fmt: skip


def alert_report(deployment: Deployment, students: Iterable[str]) -> str:
    """Every alert, the given students' band changes, everyone's current band and baseline, the worker's counters, the logs' tails.

    The first line tells the two usual suspects apart: bands that never left No data (no
    baseline reached the students) against band changes the consumer did not alert on.
    """
    watched = list(students)
    current = query(deployment, "SELECT student_id, band, day, explanation->'reference_group' AS reference, explanation->>'baseline_day' AS baseline_day FROM student_current ORDER BY student_id")
    changes = query(
        deployment,
        "SELECT student_id, previous_band, new_band, round(score::numeric, 1) AS score, cause, day FROM band_changes WHERE student_id = ANY(%s) ORDER BY student_id, as_of",
        watched,
    )
    alerts = query(deployment, "SELECT student_id, kind, status, held_for, day, closed_reason FROM alerts ORDER BY student_id, kind")
    suppressed = query(deployment, "SELECT student_id, kind, day, reason, resolved FROM alert_suppressions ORDER BY student_id, day")
    stored = query(deployment, "SELECT count(*) AS n FROM band_changes")[0]["n"]
    engine = {name.removeprefix("leap_engine_"): [worker_metric(w.port, name) for w in deployment.workers] for name in ENGINE_COUNTERS}
    bands = dict(Counter(row["band"] for row in current))
    lines = [
        f"current bands {bands}; {stored} band changes stored; engine {engine}",
        "worker warnings and errors:", *_complaints(deployment),
        "alerts:", *map(str, alerts),
        "suppressions:", *map(str, suppressed),
        f"band changes of {', '.join(watched)}:", *map(str, changes),
        "current:", *map(str, current),
        "logs:", *(tail[-1500:] for tail in deployment.logs().split("\n")),
    ]  # fmt: skip
    return "\n".join(lines)


def _complaints(deployment: Deployment) -> list[str]:
    """The workers' warnings and errors (a stuck handler, a lost fetch, a missing topic), shortened."""
    return [line for worker in deployment.workers for line in complaints(Path(worker.log_path), most=4)]  # type: ignore[attr-defined]
