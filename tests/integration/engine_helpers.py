"""Reading the engine's outputs back, and waiting for it to catch up, against the real broker."""

from __future__ import annotations

import time

from leap.settings import Settings
from schemas.codec import default_codec
from leap.topics import group_lag  # noqa: F401 - re-exported for the tests
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
