"""The cohort agent's logic, without Faust: group members' contributions in, frozen baselines out.

Medians need every member of a reference group, and members live on every partition of the
students' topic. So the engine sends each student's measures (their "contribution") keyed
by group to ``leap.cohort-contributions``; this core keeps them per group and freezes a
group's medians for a day once every member has reported for that day, to be broadcast on
``leap.clock`` to every partition (``streams.engine`` re-scores the group's students).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field

from schemas.codec import Codec
from streams.batch import Message
from streams.scoring import baseline


@dataclass
class CohortOutbox:
    """What the cohort agent produced: baselines to broadcast, table writes."""

    broadcasts: list[dict] = field(default_factory=list)
    member_writes: dict[bytes, list | None] = field(default_factory=dict)
    frozen_writes: dict[bytes, list] = field(default_factory=dict)


class CohortCore:
    """Keeps each cohort's members' contributions and freezes medians once a day is complete."""

    def __init__(self, codec: Codec, wall_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.codec = codec
        self.wall_ms = wall_ms  # the only clock it reads: stamps broadcasts
        # partition -> cohort -> student -> their stored contribution: the members' values kept
        # in memory, so freezing a group reads no table. Rebuilt from the table whenever the
        # worker's partitions change hands (reset_indexes, on every new group generation).
        self._index: dict[int, dict[str, dict[str, list]]] = {}
        self._dirty: dict[int, set[str]] = defaultdict(set)

    def reset_indexes(self) -> None:
        """Forget derived indexes (after a rebalance)."""
        self._index.clear()
        self._dirty.clear()

    def _cohorts_in(self, partition: int, members: MutableMapping[bytes, list]) -> dict[str, dict[str, list]]:
        index = self._index.get(partition)
        if index is None:
            index = self._index[partition] = defaultdict(dict)
            for member_key, value in members.items():
                if value is not None and value[0] == partition:
                    cohort, _, student = member_key.decode().partition("\x00")
                    index[cohort][student] = value
            self._dirty[partition] |= set(index)
        return index

    def handle(self, msg: Message, members: MutableMapping[bytes, list], frozen: MutableMapping[bytes, list]) -> CohortOutbox:
        """Process one message of ``leap.cohort-contributions``."""
        out = CohortOutbox()
        message = self.codec.decode(msg.value or b"", expect="cohort_message")
        index = self._cohorts_in(msg.partition, members)
        if message["kind"] == "contribution":
            cohort = message["cohort"]
            # v2 carries many members; v1 (and v2 from one member) the one in its own fields.
            known = index[cohort]
            for entry in message.get("members") or [message]:
                member_key = f"{cohort}\x00{entry['student_id']}".encode()
                value = [msg.partition, entry["day"], entry["measures"]]
                members[member_key] = value
                out.member_writes[member_key] = value
                known[entry["student_id"]] = value
            self._dirty[msg.partition].add(cohort)
        elif message["kind"] == "withdraw":
            member_key = f"{message['cohort']}\x00{message['student_id']}".encode()
            if member_key in members:
                del members[member_key]
                out.member_writes[member_key] = None
            index[message["cohort"]].pop(message["student_id"], None)
            self._dirty[msg.partition].add(message["cohort"])
        else:
            self._freeze(msg.partition, index, frozen, out)
        return out

    def _freeze(self, partition, index, frozen, out: CohortOutbox) -> None:
        still_dirty = set()
        for cohort in self._dirty.pop(partition, set()):
            values = list(index.get(cohort, {}).values())
            if not values:
                continue
            day = max(v[1] for v in values)
            if any(v[1] != day for v in values):
                still_dirty.add(cohort)  # some members have not reported this day yet
                continue
            new = baseline(cohort, day, [tuple(v[2]) for v in values])
            record = [new.day, list(new.medians), list(new.used), new.members]
            if frozen.get(cohort.encode()) == record:
                continue
            frozen[cohort.encode()] = record
            out.frozen_writes[cohort.encode()] = record
            out.broadcasts.append(
                {"kind": "baseline", "at": self.wall_ms(), "cohort": cohort, "day": new.day, "medians": list(new.medians), "used": list(new.used), "members": new.members}
            )
        self._dirty[partition] |= still_dirty
