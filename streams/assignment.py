"""Noticing that a worker's partitions changed hands, for the agents' in-memory indexes.

The engine and cohort agents keep indexes of the partitions they hold (students per
partition, cohort members' values, decoded clocks). Any rebalance may have given a partition
to another worker, which wrote its tables, and back again; the indexes must then be rebuilt
from the tables. The set of partitions alone cannot tell: handed away and back between two
batches, it looks the same. Kafka's group generation changes at every rebalance.
"""

from __future__ import annotations

from collections.abc import Iterable, Hashable


class AssignmentWatch:
    """Per agent: has the group generation or the assignment changed since this agent last asked?"""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, frozenset]] = {}

    def changed(self, agent: str, generation: int, assignment: Iterable[Hashable]) -> bool:
        """True the first time and after any rebalance (a new generation or a different set of partitions)."""
        current = (generation, frozenset(assignment))
        if self._seen.get(agent) == current:
            return False
        self._seen[agent] = current
        return True
