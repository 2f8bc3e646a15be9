"""Which changelog partition the worker's tables write a key to, whatever the metadata says."""

from __future__ import annotations

import weakref
from types import SimpleNamespace

import faust
import pytest
from faust.exceptions import PartitionsMismatch
from faust.streams import _current_event

from leap.vocabulary import partition_for
from streams.tables import KeyPartitionedTable, SourcePartitionedTable

PARTITIONS = 8


class _Consumer:
    """What faust asks of the consumer here: aiokafka's snapshot counts a topic without metadata as 0."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def topic_partitions(self, topic: str) -> int | None:
        return self.counts.get(topic)


def _table(cls, counts_for):  # type: ignore[no-untyped-def]
    app = faust.App("leap-test-tables", broker="kafka://127.0.0.1:1", store="memory://")
    table = cls(app, name="cohort-baselines", key_type=bytes, partitions=PARTITIONS)
    app.consumer = _Consumer(counts_for(table.changelog_topic_name))
    return table


class _Event:
    """faust keeps a weak reference to the event in hand."""

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(topic="leap.cohort-contributions", partition=partition)


def _handling(partition: int) -> _Event:
    event = _Event(partition)
    _current_event.set(weakref.ref(event))
    return event


@pytest.fixture(autouse=True)
def _no_event_left():  # type: ignore[no-untyped-def]
    yield
    _current_event.set(None)


def test_faust_own_table_fails_while_the_changelog_metadata_is_missing():
    # Why SourcePartitionedTable exists: this is the crash seen after a rebalance.
    table = _table(faust.Table, lambda changelog: {"leap.cohort-contributions": PARTITIONS, changelog: 0})
    event = _handling(3)
    with pytest.raises(PartitionsMismatch, match="has 0 partitions"):
        table.partition_for_key(b"cohort")
    assert event


@pytest.mark.parametrize("changelog_count", [0, None, PARTITIONS, 3])
@pytest.mark.parametrize("partition", [0, 5, 7])
def test_a_source_partitioned_table_writes_to_the_partition_of_the_message_in_hand(changelog_count, partition):
    table = _table(SourcePartitionedTable, lambda changelog: {"leap.cohort-contributions": PARTITIONS, changelog: changelog_count})
    event = _handling(partition)
    assert table.partition_for_key(b"any key") == partition
    assert event


def test_a_source_partitioned_table_refuses_a_write_outside_a_message():
    table = _table(SourcePartitionedTable, lambda changelog: {})
    with pytest.raises(TypeError, match="outside of stream iteration"):
        table.partition_for_key(b"cohort")


@pytest.mark.parametrize("key", [b"2300131", b"2300242", b"\x00clock-3", b""])
def test_a_key_partitioned_table_writes_to_the_key_partition_whatever_message_is_in_hand(key):
    table = _table(KeyPartitionedTable, lambda changelog: {changelog: 0})
    event = _handling(6)
    assert table.partition_for_key(key) == partition_for(key, PARTITIONS)
    assert event
