"""The two tables the engine writes itself (students, partition clocks), on either faust store.

The engine sends these tables' changelog records through librdkafka and, once Kafka has
them, writes the values into the table's store (``streams.app``). faust's own write path is
not used, and on the RocksDB store it would be wrong twice over: it picks the partition
database from the event being processed (a batch holds events of many partitions), and it
records the changelog offset a database covers (its *persisted offset*, where a restarted
worker resumes reading the changelog) only for records its own producer sent.

So ``EngineTable`` reads a key from the database of the partition it belongs to, writes a
batch's values to theirs, and records persisted offsets; ``offsets_to_persist`` (pure)
decides which offsets may be recorded. On the memory store values are the objects
themselves and there is no persisted offset: every start reads the whole changelog.

On RocksDB it also keeps the values of the last ``keep`` keys it wrote, as the objects
written: a student's state read again in the next batches is then not read and decoded
again (a backlog touches the same students batch after batch). Only what was written is
kept, so a kept value is always the one the database holds; the shell discards a key whose
object a batch may have changed without writing it, and forgets them all when its
partitions change hands (another worker may have written them since).
"""

from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cached_property
from typing import Any

from faust.types import TP

STORE_URLS = {"rocksdb": "rocksdb://", "memory": "memory://"}

# Each partition of each table is its own RocksDB database (faust's layout). faust's defaults
# (64 MiB write buffers, three of them, and a 2 GiB block cache, per database) would let a
# worker's 30-odd databases grow far past the memory store they replace; these keep a
# database's memory to a few MiB of recent writes and a cache of what it reads. Values are
# small (a student's state is a few KiB), so small buffers flush often and cheaply.
ROCKSDB_OPTIONS: Mapping[str, int] = {
    "write_buffer_size": 4 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 16 * 1024 * 1024,
}


def store_url(kind: str) -> str:
    """faust's store URL for ``LEAP_ENGINE_STORE`` (``rocksdb`` or ``memory``)."""
    try:
        return STORE_URLS[kind]
    except KeyError:
        raise ValueError(f"unknown engine store {kind!r}: {' or '.join(STORE_URLS)}") from None


Runs = Mapping[tuple[str, int], tuple[int, int]]


def _by_partition(delivered: Iterable[tuple[str, int, int]]) -> dict[tuple[str, int], list[int]]:
    offsets: dict[tuple[str, int], list[int]] = defaultdict(list)
    for topic, partition, offset in delivered:
        offsets[(topic, partition)].append(offset)
    return offsets


def offsets_to_persist(
    delivered: Iterable[tuple[str, int, int]], persisted: Callable[[str, int], int | None], own: Runs | None = None
) -> dict[tuple[str, int], int]:
    """The changelog offset each partition's local store may now say it covers.

    ``delivered``: ``(topic, partition, offset)`` of every changelog record of a batch, each
    one delivered and its value already written to the store. ``persisted(topic, partition)``:
    the offset the store covers now (None: none yet, so the partition's first record is 0).
    ``own``: for each partition, the run ``(first, last)`` of consecutive offsets this
    process delivered and wrote before this batch (``own_runs``), whose offsets may not have
    been recorded (a batch during a rebalance records none).

    A partition moves to its highest delivered offset only when the batch's records follow
    the covered offset directly, or follow an own run that starts at or before it: then every
    record up to the new offset is one the store holds (read at restore, or written here). A
    gap means records the store never saw (another worker wrote to the partition: a
    rebalance), so the offset stays put; the next restore then reads a few records more than
    it needs, which is harmless (applying a changelog record again writes the same value),
    where skipping records would leave stale state behind.
    """
    own = own or {}
    result = {}
    for (topic, partition), seen in _by_partition(delivered).items():
        low, high = min(seen), max(seen)
        covered = persisted(topic, partition)
        next_needed = (-1 if covered is None else covered) + 1
        run = own.get((topic, partition))
        follows = low == next_needed or (run is not None and run[0] <= next_needed and run[1] == low - 1)
        if follows and high - low + 1 == len(set(seen)) and high >= next_needed:
            result[(topic, partition)] = high
    return result


def own_runs(delivered: Iterable[tuple[str, int, int]], runs: Runs) -> dict[tuple[str, int], tuple[int, int]]:
    """``runs`` extended by a batch's own records: a batch of consecutive offsets right after a
    partition's run extends it, any other starts a new one; one with a gap inside ends it."""
    result = dict(runs)
    for tp, seen in _by_partition(delivered).items():
        low, high = min(seen), max(seen)
        if high - low + 1 != len(set(seen)):
            result.pop(tp, None)
            continue
        run = result.get(tp)
        result[tp] = (run[0], high) if run is not None and run[1] == low - 1 else (low, high)
    return result


class EngineTable:
    """One engine-written table's store, addressed by partition.

    ``decode`` turns a stored value into what the engine works with (RocksDB keeps the
    changelog bytes; the memory store keeps the value itself, as faust's restore leaves it).
    """

    def __init__(self, table: Any, decode: Callable[[bytes], Any] = lambda raw: raw, keep: int = 0) -> None:
        self.table = table
        self.decode = decode
        self.keep = keep
        self._kept: OrderedDict[bytes, Any] = OrderedDict()  # key -> value as last written, oldest first
        self.reads: Counter[str] = Counter()  # where get found its values on RocksDB: kept or store

    @cached_property
    def on_rocksdb(self) -> bool:
        """Whether the table's values live in RocksDB (bytes, one database per partition)."""
        from faust.stores.rocksdb import Store as RocksDBStore

        return isinstance(self.table.data, RocksDBStore)

    @cached_property
    def changelog(self) -> str:
        """The table's changelog topic."""
        return self.table.changelog_topic.get_topic_name()

    def get(self, key: bytes, partition: int) -> Any | None:
        """The value of ``key`` (None if absent), which lives in ``partition``."""
        store = self.table.data
        if not self.on_rocksdb:
            return store.get(key)
        # _db_for_partition: faust's store has no public read by partition (its __getitem__
        # would look in the partition of whatever event is current).
        value = self._kept.get(key)
        if value is not None:
            self._kept.move_to_end(key)
            self.reads["kept"] += 1
            return value
        self.reads["store"] += 1
        raw = store._db_for_partition(partition).get(key)
        return None if raw is None else self.decode(raw)

    def discard(self, keys: Iterable[bytes]) -> None:
        """Stop keeping ``keys``' values: their objects may have changed since they were written."""
        for key in keys:
            self._kept.pop(key, None)

    def forget(self) -> None:
        """Keep nothing (the worker's partitions changed hands)."""
        self._kept.clear()

    def write(self, partition: int, puts: Iterable[tuple[bytes, Any, bytes]], deletes: Iterable[bytes] = ()) -> None:
        """Write ``(key, value, encoded value)`` and delete ``deletes``, all of one partition.

        On RocksDB one atomic write batch: a crash leaves all of them or none.
        """
        store = self.table.data
        if not self.on_rocksdb:
            for key, value, _ in puts:
                store[key] = value
                # faust drops a revoked partition's keys by this index once a rebalance's
                # restore completes; without it directly written keys would stay behind.
                store._key_partition[key] = partition
            for key in deletes:
                store.pop(key, None)
                store._key_partition.pop(key, None)
            return
        import rocksdict

        batch = rocksdict.WriteBatch(raw_mode=True)
        puts = list(puts)
        deletes = list(deletes)
        for key, _, encoded in puts:
            batch.put(key, encoded)
        for key in deletes:
            batch.delete(key)
        store._db_for_partition(partition).write(batch)
        if self.keep:
            kept = self._kept
            for key, value, _ in puts:
                kept[key] = value
                kept.move_to_end(key)
            for key in deletes:
                kept.pop(key, None)
            while len(kept) > self.keep:
                kept.popitem(last=False)

    def persisted_offset(self, partition: int) -> int | None:
        """The changelog offset up to which this partition's store holds every record (RocksDB only)."""
        if not self.on_rocksdb:
            return None
        return self.table.data.persisted_offset(TP(self.changelog, partition))

    def persist(self, partition: int, offset: int) -> None:
        """Record that this partition's store holds every changelog record up to ``offset``.

        Call only after the values are written (see ``offsets_to_persist``). It goes into the
        partition's own database after those values, so even a machine crash that loses the
        database's last writes loses the offset with them, never the values alone.
        """
        if self.on_rocksdb:
            self.table.data.set_persisted_offset(TP(self.changelog, partition), offset)

    def stored_values(self) -> Iterator[Any]:
        """Every value held for this worker's active partitions, as stored: bytes on RocksDB, else the value."""
        store = self.table.data
        if not self.on_rocksdb:
            return iter(list(store.values()))
        # _itervalues: the raw values of the active partitions, without faust decoding each one.
        return store._itervalues()
