"""The /healthz, /readyz and /metrics endpoint the consumer, the tail and folder followers share."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

from leap.health import Health, serve_metrics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _ready_sample(text: str) -> float:
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith("leap_ready "))


def test_readiness_and_liveness_are_separate_and_leap_ready_follows_readiness():
    health, problem = Health(), {"why": "waiting for partitions"}
    port = _free_port()
    serve_metrics(port, health, host="127.0.0.1", ready=lambda: problem["why"])

    status, body = _get(port, "/readyz")
    assert status == 503 and json.loads(body) == {"status": "unready", "reason": "waiting for partitions"}
    assert _get(port, "/healthz")[0] == 200  # unready is not dead: no restart
    assert _ready_sample(_get(port, "/metrics")[1]) == 0

    problem["why"] = None
    assert _get(port, "/readyz") == (200, json.dumps({"status": "ready"}))
    assert _ready_sample(_get(port, "/metrics")[1]) == 1

    health.set(False, "postgres: connection refused")
    status, body = _get(port, "/healthz")
    assert status == 503 and json.loads(body)["problem"] == "postgres: connection refused"


def test_without_a_readiness_check_ready_means_healthy():
    health = Health()
    port = _free_port()
    serve_metrics(port, health, host="127.0.0.1")
    assert _get(port, "/readyz")[0] == 200
    health.set(False, "redis: timeout")
    status, body = _get(port, "/readyz")
    assert status == 503 and json.loads(body)["reason"] == "redis: timeout"
    assert _ready_sample(_get(port, "/metrics")[1]) == 0
