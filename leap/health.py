"""Health of LEAP's processes: reachability checks of the services it depends on (`leap check`,
readiness probes), and the /healthz, /readyz and /metrics endpoint of the long-running processes
that are not web applications (the alert consumer, the Moodle tail, folder followers).

Every long-running process exports ``leap_ready`` (1 when its /readyz would answer 200), so
one alert rule covers "a process is up but cannot do its work" for all of them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import Gauge, make_wsgi_app

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from leap.connections import database_conninfo, redis_client
from leap.kafka import client_config
from leap.settings import Settings


def kafka_ready(settings: Settings, timeout: float = 5.0) -> str:
    """Answer a metadata request from the broker; return a one-line description or raise."""
    errors: list[KafkaError] = []
    admin = AdminClient(client_config(settings, **{"socket.timeout.ms": int(timeout * 1000), "error_cb": errors.append}))
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        # "Broker transport failure" hides why; the client's own errors say it (a wrong
        # password, an untrusted certificate, a plain client at a TLS listener).
        admin.poll(0)
        telling = (KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError._TRANSPORT)
        cause = min(errors, key=lambda e: telling.index(e.code()) if e.code() in telling else len(telling), default=None)
        if cause is None:
            raise
        raise RuntimeError(cause.str()) from exc
    return f"{len(metadata.brokers)} broker(s), cluster {metadata.cluster_id}"


def redis_ready(settings: Settings, timeout: float = 5.0) -> str:
    """PING Redis; return its version or raise."""
    client = redis_client(settings, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
        return f"redis {client.info('server')['redis_version']}"
    finally:
        client.close()


def postgres_ready(settings: Settings, timeout: float = 5.0) -> str:
    """Connect to the LEAP database; return the server version or raise."""
    import psycopg

    with psycopg.connect(database_conninfo(settings), connect_timeout=max(1, int(timeout))) as conn:
        return f"postgresql {conn.info.server_version}"


READY = Gauge("leap_ready", "1 when this process is ready to do its work (its /readyz answers 200), 0 when not")


def track_readiness(problem: Callable[[], str | None]) -> None:
    """Make ``leap_ready`` follow ``problem`` (None: ready), evaluated at every scrape (it must be cheap)."""

    def value() -> float:
        try:
            return 0.0 if problem() else 1.0
        except Exception:  # a check that fails is "not ready", never a broken /metrics
            return 0.0

    READY.set_function(value)


CHECKS: dict[str, Callable[[Settings, float], str]] = {
    "kafka": kafka_ready,
    "redis": redis_ready,
    "postgres": postgres_ready,
}


@dataclass
class Health:
    """Whether a process is making progress, and what it last failed on (``gauge``: 1 healthy, 0 not)."""

    gauge: Gauge | None = None
    healthy: bool = True
    problem: str = ""
    since: float = field(default_factory=time.time)

    def set(self, healthy: bool, problem: str = "") -> None:
        """Record the process's state (and the gauge)."""
        if healthy != self.healthy:
            self.since = time.time()
        self.healthy, self.problem = healthy, problem
        if self.gauge is not None:
            self.gauge.set(1 if healthy else 0)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


def _json(start_response, ok: bool, body: dict) -> list[bytes]:  # type: ignore[no-untyped-def]
    start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def serve_metrics(port: int, health: Health, host: str | None = None, ready: Callable[[], str | None] | None = None) -> None:
    """Serve /metrics (Prometheus), /healthz and /readyz from a daemon thread.

    /healthz answers 200 while ``health`` is healthy, else 503 with the problem (the process
    keeps retrying: an orchestrator may restart it). /readyz answers 200 when ``ready()``
    returns None (default: when healthy), else 503 with its reason; ``leap_ready`` follows it.
    """
    metrics = make_wsgi_app()
    problem = ready or (lambda: None if health.healthy else health.problem or "unhealthy")
    track_readiness(problem)

    def application(environ, start_response):  # type: ignore[no-untyped-def]
        path = environ.get("PATH_INFO")
        if path == "/healthz":
            return _json(start_response, health.healthy, {"healthy": health.healthy, "problem": health.problem, "since": health.since})
        if path == "/readyz":
            why = problem()
            return _json(start_response, why is None, {"status": "ready"} if why is None else {"status": "unready", "reason": why})
        return metrics(environ, start_response)

    if host is None:
        from leap.settings import get_settings

        host = get_settings().metrics_host
    server = make_server(host, port, application, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True, name="metrics").start()
