"""Reachability checks of the services LEAP depends on, for `leap check` and readiness probes."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka.admin import AdminClient

from leap.settings import Settings


def kafka_ready(settings: Settings, timeout: float = 5.0) -> str:
    """Answer a metadata request from the broker; return a one-line description or raise."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap, "socket.timeout.ms": int(timeout * 1000)})
    metadata = admin.list_topics(timeout=timeout)
    return f"{len(metadata.brokers)} broker(s), cluster {metadata.cluster_id}"


def redis_ready(settings: Settings, timeout: float = 5.0) -> str:
    """PING Redis; return its version or raise."""
    import redis

    client = redis.Redis.from_url(settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
        return f"redis {client.info('server')['redis_version']}"
    finally:
        client.close()


def postgres_ready(settings: Settings, timeout: float = 5.0) -> str:
    """Connect to the LEAP database; return the server version or raise."""
    import psycopg

    with psycopg.connect(settings.database_url, connect_timeout=max(1, int(timeout))) as conn:
        return f"postgresql {conn.info.server_version}"


CHECKS: dict[str, Callable[[Settings, float], str]] = {
    "kafka": kafka_ready,
    "redis": redis_ready,
    "postgres": postgres_ready,
}
