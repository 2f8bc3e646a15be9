"""Ticks for the engine's clock, sent from outside a worker (backfills, tests, operators)."""

from __future__ import annotations

from leap.kafka import Publisher
from leap.settings import Settings
from schemas.codec import default_codec


def tick_records(at_ms: int) -> tuple[dict, dict]:
    """The tick for ``leap.clock`` and the one for ``leap.cohort-contributions``."""
    clock = {"kind": "tick", "at": at_ms, "cohort": None, "day": None, "medians": [], "used": [], "members": 0}
    cohort = {"kind": "tick", "cohort": None, "student_id": None, "day": 0, "measures": [], "at": at_ms}
    return clock, cohort


def send_tick(settings: Settings, at_ms: int) -> None:
    """Send a tick saying it is ``at_ms`` to every partition of both clock-driven topics."""
    codec = default_codec()
    clock, cohort = tick_records(at_ms)
    with Publisher(settings, client_id="leap-clock") as publisher:
        for p in range(settings.partitions):
            publisher.send(settings.topic("clock"), codec.encode("clock_message", clock), partition=p)
            publisher.send(settings.topic("cohort-contributions"), codec.encode("cohort_message", cohort), partition=p)
