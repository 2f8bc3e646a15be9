"""The fault schedule and the bad records of a chaos run: pure, and the same for the same seed."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# What the harness can do, in the words its table uses.
KILL_WORKER = "SIGKILL an engine worker"
JOIN_WORKER = "start a second worker (rebalance)"
LEAVE_WORKER = "stop the second worker (rebalance)"
RESTART_KAFKA = "restart the Kafka broker"
RESTART_POSTGRES = "restart PostgreSQL"
RESTART_REDIS = "restart Redis"
KILL_CONSUMER = "SIGKILL the alert consumer"
POISON = "publish poison messages"
OLD_SCHEMA = "publish events in an older schema version"

FULL = {KILL_WORKER: 10, JOIN_WORKER: 3, RESTART_KAFKA: 1, RESTART_POSTGRES: 1, RESTART_REDIS: 1, KILL_CONSUMER: 5, POISON: 5, OLD_SCHEMA: 5}
SHORT = {KILL_WORKER: 2, JOIN_WORKER: 1, RESTART_KAFKA: 1, RESTART_POSTGRES: 1, RESTART_REDIS: 1, KILL_CONSUMER: 1, POISON: 2, OLD_SCHEMA: 2}


@dataclass(frozen=True, order=True)
class Fault:
    """One fault, done after publishing chunk ``after`` (0-based) of the input."""

    after: int
    kind: str


def schedule(seed: int, chunks: int, counts: Mapping[str, int] = FULL) -> list[Fault]:
    """Faults at random but seeded chunk boundaries, in order.

    Every second worker that joins leaves again a few chunks later (each join and leave is a
    rebalance); a chunk has at most one service restart, so each outage is seen on its own.
    """
    if chunks < 4:
        raise ValueError("a chaos run needs at least 4 chunks of input")
    rng = random.Random(seed)
    faults: list[Fault] = []
    restarts = [k for k in (RESTART_KAFKA, RESTART_POSTGRES, RESTART_REDIS) for _ in range(counts.get(k, 0))]
    slots = rng.sample(range(chunks - 1), min(len(restarts), chunks - 1))
    faults += [Fault(at, kind) for at, kind in zip(slots, restarts)]
    for _ in range(counts.get(JOIN_WORKER, 0)):
        joins = rng.randrange(chunks - 2)
        faults += [Fault(joins, JOIN_WORKER), Fault(min(chunks - 1, joins + rng.randint(1, 3)), LEAVE_WORKER)]
    for kind in (KILL_WORKER, KILL_CONSUMER, POISON, OLD_SCHEMA):
        faults += [Fault(rng.randrange(chunks), kind) for _ in range(counts.get(kind, 0))]
    return sorted(faults, key=lambda f: (f.after, _ORDER.index(f.kind)))


# Within one boundary: leave before join (at most one extra worker), restarts before kills.
_ORDER = [LEAVE_WORKER, JOIN_WORKER, RESTART_KAFKA, RESTART_POSTGRES, RESTART_REDIS, KILL_WORKER, KILL_CONSUMER, POISON, OLD_SCHEMA]


@dataclass(frozen=True)
class Poison:
    """A message the engine must dead-letter: what it is, its key and its bytes."""

    kind: str
    key: bytes
    value: bytes


def poison(rng: random.Random, good: Sequence[bytes], keys: Sequence[str], count: int) -> list[Poison]:
    """``count`` bad messages made from good encoded events: random bytes, cut-off Avro, a
    wrong magic byte, and an empty value. None can be mistaken for an event."""
    made = []
    for i in range(count):
        key = rng.choice(keys).encode()
        sample = rng.choice(good)
        kind = ("random bytes", "truncated Avro", "wrong magic", "empty")[i % 4]
        if kind == "random bytes":
            value = b"\x00" + rng.randbytes(rng.randint(1, 200))
        elif kind == "truncated Avro":
            value = sample[: max(11, len(sample) // 2)]
        elif kind == "wrong magic":
            value = b"\xc4\x01" + sample[2:]
        else:
            value = b""
        made.append(Poison(kind, key, value))
    return made
