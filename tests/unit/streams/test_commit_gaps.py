from hypothesis import given, strategies as st

from streams.commit_gaps import ProcessedOffsets, gap_action


def test_no_gap_when_the_acknowledged_offsets_follow_the_committed_one():
    assert gap_action(10, 10, ProcessedOffsets(), "p") is None
    assert gap_action(10, 11, ProcessedOffsets(), "p") is None
    assert gap_action(None, 50, ProcessedOffsets(), "p") is None
    assert gap_action(10, None, ProcessedOffsets(), "p") is None


def test_a_gap_this_process_processed_itself_is_filled():
    done = ProcessedOffsets()
    for offset in range(0, 60):
        done.add("p", offset)
    assert gap_action(10, 50, done, "p") == "fill"


def test_skipped_messages_below_a_later_batch_are_read_again_not_filled():
    # Processed up to 500, skipped 501-520 (fetched in an old generation), then 521-700.
    done = ProcessedOffsets()
    for offset in [*range(400, 501), *range(521, 701)]:
        done.add("p", offset)
    assert gap_action(501, 521, done, "p") == "reread"


def test_another_partition_s_offsets_do_not_cover_a_gap():
    done = ProcessedOffsets()
    for offset in range(0, 100):
        done.add("q", offset)
    assert gap_action(10, 50, done, "p") == "reread"


@given(st.lists(st.integers(min_value=0, max_value=200), max_size=300), st.integers(0, 200), st.integers(0, 200))
def test_covers_means_every_offset_in_the_range_was_added(offsets, a, b):
    first, last = min(a, b), max(a, b)
    done = ProcessedOffsets()
    for offset in offsets:
        done.add("p", offset)
    assert done.covers("p", first, last) == set(range(first, last + 1)).issubset(offsets)


def test_the_highest_processed_offset_is_known_per_partition():
    done = ProcessedOffsets()
    assert done.highest("p") is None
    for offset in (5, 6, 9, 7):
        done.add("p", offset)
    assert done.highest("p") == 9


def test_the_worker_fills_a_gap_it_processed_and_reads_another_again_once():
    import asyncio
    from types import SimpleNamespace

    from faust.types import TP

    from streams.commit_gaps import CommitGaps

    p1, p2 = TP("activity", 1), TP("activity", 2)
    seeks: list[tuple[TP, int]] = []

    async def seek_in_thread(tp, offset):
        seeks.append((tp, offset))

    # faust's consumer bookkeeping, as after a rebalance: p1's gap [10, 13) processed here, p2's not.
    consumer = SimpleNamespace(
        _acked={p1: [13, 14], p2: [20]}, _acked_index={p1: {13, 14}, p2: {20}}, _committed_offset={p1: 10, p2: 5}, seek_in_thread=seek_in_thread
    )
    done = ProcessedOffsets()
    for offset in range(10, 15):
        done.add(p1, offset)
    gaps = CommitGaps(SimpleNamespace(consumer=consumer), done)
    asyncio.run(gaps())
    asyncio.run(gaps())  # still stuck at the same committed offset: not read again and again
    assert consumer._acked[p1] == [10, 11, 12, 13, 14] and consumer._acked_index[p1] == {10, 11, 12, 13, 14}
    assert seeks == [(p2, 5)] and consumer._acked[p2] == [20]
