"""The stream worker's web endpoints on faust's web server: ``/metrics`` and health.

``/metrics`` is prometheus_client's registry, LEAP's metrics only. faust's own Prometheus
sensor is not installed: it looked up labelled metrics for every message, table read and
send (about 5% of a busy worker, py-spy), for figures no dashboard or alert uses.

``/healthz`` (liveness): the worker's event loop answers. ``/readyz`` (readiness): the worker
holds its partitions and has restored their state: not in a rebalance, table recovery done
and nothing left to read from the changelogs. A worker that is not ready is still alive:
restarting it would only start its recovery again.
"""

from __future__ import annotations

from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from leap.health import track_readiness


def readiness_problem(*, rebalancing: bool, in_recovery: bool, recovered_once: bool, changelog_remaining: int) -> str | None:
    """Why a worker is not ready to score (None: it is)."""
    if rebalancing:
        return "rebalancing: partitions are being assigned"
    if not recovered_once or in_recovery:
        return f"restoring state from the changelogs ({changelog_remaining:,} changes left)"
    return None


def worker_problem(app: faust.App) -> str | None:
    """Why this worker is not ready now (None: it is), from faust's own state."""
    recovery = app.tables.recovery
    return readiness_problem(
        rebalancing=bool(app.rebalancing), in_recovery=bool(recovery.in_recovery),
        recovered_once=recovery.completed.is_set(), changelog_remaining=recovery.active_remaining_total(),
    )  # fmt: skip


def add_health_views(app: faust.App) -> None:
    """Register ``/metrics``, ``/healthz`` and ``/readyz`` on the worker's web server; ``leap_ready`` follows /readyz."""
    track_readiness(lambda: worker_problem(app))

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        problem = worker_problem(app)
        if problem is not None:
            return web.json({"status": "unready", "reason": problem}, status=503)
        return web.json({"status": "ready", "partitions": len(app.consumer.assignment())})
