"""A stream worker says whether it is alive and whether it is ready, for probes and load balancers."""

from __future__ import annotations

import httpx

from tests.integration.engine_helpers import wait_until
from tests.integration.workers import Deployment


def test_a_worker_is_alive_at_once_and_ready_once_it_holds_its_partitions(tmp_path):
    deployment = Deployment(tmp_path)
    try:
        worker = deployment.start_worker()
        base = f"http://127.0.0.1:{worker.port}"

        def answer(path: str):
            try:
                return httpx.get(base + path, timeout=2)
            except httpx.HTTPError:
                return None

        alive = wait_until(lambda: answer("/healthz"), 60, "the worker's /healthz", interval=0.3)
        assert alive.status_code == 200 and alive.json() == {"status": "ok"}
        ready = wait_until(lambda: (r := answer("/readyz")) is not None and r.status_code == 200 and r, 120, f"the worker ready (log {worker.log_path})", interval=0.5)
        body = ready.json()
        # One worker holds every partition of its inputs (activity, roster, clock, contributions), at least.
        assert body["status"] == "ready" and body["partitions"] >= 4 * deployment.settings.partitions
        assert "leap_engine_events_total" in httpx.get(base + "/metrics", timeout=5).text
    finally:
        deployment.close()
