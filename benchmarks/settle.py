"""How long a worker takes to settle after a backlog, and what it did meanwhile."""

from __future__ import annotations

import time

from benchmarks.processes import committed, counter, ends, metrics
from leap.settings import Settings


def settle(settings: Settings, port: int, started: float, quiet_seconds: float = 10.0) -> dict[str, float]:
    """How long after ``started`` the engine's outputs stop growing (for ``quiet_seconds``), and
    what it did meanwhile.

    After a backlog the engine is not done when the last event is applied: contributions
    go to the cohort agent on the next ticks, medians are frozen and broadcast, and the
    students they concern are re-scored. Latency measured before that includes the cascade.
    The breakdown: when the cohort agent had read every contribution (its group's committed
    offsets at the topic's end), and the baselines, evaluations, state records and band
    changes of the settling.
    """
    # Ticks keep arriving (on leap.clock and leap.cohort-contributions) every second; quiet
    # means re-scoring no longer produces states or band changes.
    outputs = [settings.topic(name) for name in ("student-state", "band-changes")]
    contributions = settings.topic("cohort-contributions")
    group = f"{settings.topic_prefix}-engine"

    def figures() -> tuple[float, float]:
        text = metrics(port)
        return counter(text, "leap_engine_baselines_total"), counter(text, "leap_engine_evaluations_total")

    before = {t: ends(settings, t) for t in outputs}
    baselines0, evaluations0 = figures()
    last = before
    cohorts_read_s = None
    quiet_since = time.perf_counter()
    # Settled: the cohort agent has read every contribution, and no output since for a while.
    while cohorts_read_s is None or time.perf_counter() - quiet_since < quiet_seconds:
        time.sleep(1.0)
        now = {t: ends(settings, t) for t in outputs}
        if now != last:
            quiet_since = time.perf_counter()
        last = now
        if cohorts_read_s is None:
            marks = ends(settings, contributions)
            done = committed(settings, group, contributions, list(marks))
            # Ticks are added every second: within a second's worth of the end is caught up.
            if all(done.get(p, -1) >= e - 2 for p, e in marks.items()):
                cohorts_read_s = time.perf_counter() - started
        if time.perf_counter() - started > 1800:
            raise RuntimeError("the engine did not settle within 30 minutes")
    baselines1, evaluations1 = figures()
    added = {t: sum(last[t].values()) - sum(before[t].values()) for t in outputs}
    return {
        "s": round(quiet_since - started, 1),
        "cohort_contributions_read_s": round(cohorts_read_s, 1),
        "baselines_broadcast": int(baselines1 - baselines0),
        "evaluations": int(evaluations1 - evaluations0),
        "state_records": added[outputs[0]],
        "band_changes": added[outputs[1]],
    }
