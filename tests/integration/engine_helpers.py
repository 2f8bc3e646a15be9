"""Reading the engine's outputs back, and waiting for it to catch up, against the real broker."""

from __future__ import annotations

import time

from leap.settings import Settings
from schemas.codec import default_codec
from leap.topics import engine_changelog, group_lag  # noqa: F401 - re-exported for the tests
from streams.outputs import latest_states  # noqa: F401 - re-exported for the tests
from tests.integration.kafka_helpers import end_offsets, read_range


def all_records(settings: Settings, name: str, schema: str) -> list[dict]:
    """Every record of one of LEAP's topics, decoded."""
    topic = settings.topic(name)
    codec = default_codec()
    return [codec.decode(m.value(), expect=schema) for m in read_range(settings, topic, {}, end_offsets(settings, topic))]


def wait_until(predicate, seconds: float, what: str, interval: float = 1.0):
    """Poll ``predicate`` until it returns a truthy value; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what} (last: {last!r})")


def worker_metric(port: int, name: str, **labels: str) -> float | None:
    """The sum of a metric's samples on a worker's /metrics whose labels include ``labels`` (None: no answer)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def worker_readiness(port: int) -> dict | None:
    """A worker's /readyz answer once it is ready (None: not answering or not ready)."""
    import httpx

    try:
        response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def changelog_records(settings: Settings, table: str) -> int:
    """Records ever written to one of the engine's table changelogs (the sum of its partitions' end offsets)."""
    return sum(end_offsets(settings, engine_changelog(settings.topic_prefix, table)).values())
