"""The faust table classes the worker uses, the student state's codec for faust, the batch
overlay in front of the tables, and the partition clocks read through the engine's store.

Both table classes decide a key's changelog partition themselves instead of asking the
consumer's metadata: that metadata can be missing for a moment after a rebalance or a broker
restart, and faust then fails the write (see each class).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from types import SimpleNamespace
from typing import Any

import faust
from faust.serializers import codecs
from faust.streams import current_event

from leap.vocabulary import partition_for
from streams import state_codec
from streams.batch import PartitionClock
from streams.table_store import EngineTable


class KeyPartitionedTable(faust.Table):
    """A table whose changelog partition is the key's murmur2 partition, computed here.

    Keys are student ids (or keys made to land on a partition), so a value is restored on the
    worker that owns the matching input partition. faust's ``use_partitioner`` would ask the
    producer's metadata for the partition count instead, and that can be missing right after
    a rebalance (a TypeError that ended a worker in testing).
    """

    def partition_for_key(self, key: Any) -> int:
        return partition_for(key, self.partitions)


class SourcePartitionedTable(faust.Table):
    """A table written while handling a message, to the changelog partition of that message.

    That is faust's own rule; what it skips is faust's check, on a table's first write, that
    the source topic and the changelog have as many partitions. The check reads aiokafka's
    subscription snapshot, which counts a topic whose metadata is momentarily missing as 0
    partitions, so faust raised PartitionsMismatch ("... has 0 partitions") and crashed the
    cohort agent half-way through writing a baseline (seen in testing after a rebalance).
    Here the source topics and the changelogs are both created with ``LEAP_PARTITIONS``
    partitions (``leap.topics`` and faust), so the check guards nothing.
    """

    def partition_for_key(self, key: Any) -> int:
        event = current_event()
        if event is None:
            raise TypeError("Cannot modify table key from outside of stream iteration")
        return event.message.partition


class Overlay(MutableMapping):
    """A table seen through a batch's pending writes: nothing reaches the table until applied.

    ``read(key)`` (default: the table's ``get``) looks a key up in the store; what it returns
    is kept for the rest of the batch, so the engine changes one object per key even where
    every read decodes a new one (RocksDB), as it does with the memory store's own objects.
    """

    _DELETED = object()
    _ABSENT = object()

    def __init__(self, table: MutableMapping, read: Callable[[Any], Any] | None = None) -> None:
        self.table = table
        self.read = read if read is not None else table.get
        self.pending: dict = {}
        self.seen: dict = {}

    def __getitem__(self, key):  # type: ignore[no-untyped-def]
        value = self.pending.get(key, None)
        if value is self._DELETED:
            raise KeyError(key)
        if value is not None:
            return value
        value = self.seen.get(key, None)
        if value is None:
            value = self.read(key)
            self.seen[key] = self._ABSENT if value is None else value
        if value is None or value is self._ABSENT:
            raise KeyError(key)
        return value

    def get(self, key, default=None):  # type: ignore[no-untyped-def]
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key) -> bool:  # type: ignore[no-untyped-def]
        return self.get(key) is not None

    def __setitem__(self, key, value) -> None:  # type: ignore[no-untyped-def]
        self.pending[key] = value

    def __delitem__(self, key) -> None:  # type: ignore[no-untyped-def]
        self.pending[key] = self._DELETED

    def __iter__(self) -> Iterator:
        seen = set()
        for key, value in self.pending.items():
            seen.add(key)
            if value is not self._DELETED:
                yield key
        for key in self.table.keys():
            if key not in seen:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def apply(self) -> None:
        """Write the pending changes to the table (each one a changelog record)."""
        for key, value in self.pending.items():
            if value is self._DELETED:
                self.table.pop(key, None)
            else:
                self.table[key] = value
        self.pending.clear()


class _StateCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return state_codec.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return state_codec.loads(s)


codecs.register("leap-state", _StateCodec())


class StudentStateType:
    """Tells faust that students-table values use the leap-state codec and need no model."""

    _options = SimpleNamespace(serializer="leap-state")

    @staticmethod
    def from_data(value: Any, preferred_type: Any = None) -> Any:
        return value


class Clocks(MutableMapping):
    """Partition clocks, decoded once from ``store`` and kept in ``cache`` until the assignment changes."""

    def __init__(self, store: EngineTable, keys: dict[int, bytes]) -> None:
        self.store = store
        self.keys = keys
        self.cache: dict[int, PartitionClock] = {}

    def __getitem__(self, p: int) -> PartitionClock:
        if p not in self.cache:
            raw = self.store.get(self.keys[p], p)
            if raw is None:
                raise KeyError(p)
            self.cache[p] = PartitionClock.loads(raw)
        return self.cache[p]

    def __setitem__(self, p: int, clock: PartitionClock) -> None:
        self.cache[p] = clock

    def __delitem__(self, p: int) -> None:
        self.cache.pop(p, None)

    def __iter__(self) -> Iterator[int]:
        return iter(self.cache)

    def __len__(self) -> int:
        return len(self.cache)
