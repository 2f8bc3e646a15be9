"""The tail's position: every committed row read exactly once, whatever order rows become visible in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from producers.tail_position import Position, advance


def test_ids_in_order_advance_the_high_mark_with_no_gaps():
    position, fresh = advance(Position(), [1, 2, 3], now_ms=0)
    assert position == Position(3, ()) and fresh == [1, 2, 3]


def test_a_skipped_id_is_awaited_and_read_when_it_appears():
    position, fresh = advance(Position(), [1, 2, 4], now_ms=1000)
    assert position == Position(4, ((3, 1000),)) and fresh == [1, 2, 4]
    position, fresh = advance(position, [3, 5], now_ms=2000)
    assert position == Position(5, ()) and fresh == [3, 5]


def test_a_gap_that_never_fills_is_given_up_after_the_wait():
    position, _ = advance(Position(), [1, 3], now_ms=0, wait_ms=100)
    assert position.gap_ids() == [2]
    position, _ = advance(position, [], now_ms=99, wait_ms=100)
    assert position.gap_ids() == [2]
    position, _ = advance(position, [], now_ms=100, wait_ms=100)
    assert position.gap_ids() == []


def test_rows_read_before_are_not_new():
    position, _ = advance(Position(), [1, 2, 3], now_ms=0)
    assert advance(position, [2, 3, 4], now_ms=1)[1] == [4]


def test_a_huge_jump_is_not_watched_id_by_id():
    position, fresh = advance(Position(), [1, 1_000_000], now_ms=0, max_gaps=10)
    assert position == Position(1_000_000, ()) and fresh == [1, 1_000_000]


@given(st.permutations(list(range(1, 41))), st.lists(st.integers(1, 8), min_size=1, max_size=40), st.integers(1, 15))
def test_rows_committed_in_any_order_are_each_read_exactly_once(commit_order, poll_sizes, batch):
    """Rows become visible in ``commit_order``; each poll reads up to ``batch`` visible rows the position asks for."""
    visible: set[int] = set()
    position, read = Position(), []
    pending = list(commit_order)
    sizes = iter(poll_sizes * 40)
    for _ in range(400):
        for _ in range(next(sizes)):
            if pending:
                visible.add(pending.pop(0))
        wanted = sorted(i for i in visible if i > position.high or i in position.gap_ids())[:batch]
        position, fresh = advance(position, wanted, now_ms=0)
        read += fresh
        if not pending and len(read) == 40:
            break
    assert sorted(read) == list(range(1, 41)) and len(read) == len(set(read))
