"""Reading the engine's outputs back from Kafka: each student's latest state, band summaries."""

from __future__ import annotations

from collections import Counter, defaultdict

from leap.kafka import read_to_end
from leap.policy import BAND_ORDER, NO_DATA
from leap.settings import Settings
from schemas.codec import default_codec


def latest_states(settings: Settings, timeout: float = 30.0) -> dict[str, dict]:
    """Every student's latest record on the compacted student-state topic."""
    codec = default_codec()
    states: dict[str, dict] = {}
    for msg in read_to_end(settings, settings.topic("student-state"), timeout):
        if msg.value() is not None:
            record = codec.decode(msg.value(), expect="student_state")
            states[record["student_id"]] = record
    return states


SMALL_COHORTS = "smaller cohorts"


def bands_by_cohort(states: dict[str, dict], min_size: int = 1) -> dict[str, Counter[str] | None]:
    """How many students of each cohort are in each band: counts only, never of a small group.

    Cohorts with fewer than ``min_size`` students are pooled into one row; if the pool is
    itself smaller, its counts by band are withheld (``None``), so no row describes fewer
    than ``min_size`` people (the policy's ``min_cohort_size``).
    """
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for record in states.values():
        table[record["cohort"]][record["band"]] += 1
    shown: dict[str, Counter[str] | None] = {}
    pooled: Counter[str] = Counter()
    for cohort, counts in sorted(table.items()):
        if sum(counts.values()) >= min_size:
            shown[cohort] = counts
        else:
            pooled.update(counts)
    if pooled:
        shown[f"{SMALL_COHORTS} (under {min_size} each)"] = pooled if sum(pooled.values()) >= min_size else None
    return shown


def pooled_size(states: dict[str, dict], table: dict[str, Counter[str] | None]) -> int:
    """Students in the rows whose counts were withheld."""
    return len(states) - sum(sum(c.values()) for c in table.values() if c is not None)


BAND_COLUMNS = (*reversed(BAND_ORDER), NO_DATA)
