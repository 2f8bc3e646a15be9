"""The engine's tables on either store: which changelog offsets a store may claim, what a value's head says, which values are kept."""

from __future__ import annotations

import uuid

import faust
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams import state_codec
from streams.tables import Overlay
from streams.day import VLE
from streams.model import StudentState, apply_event
from streams.table_store import EngineTable, offsets_to_persist, own_runs, store_url

STUDENTS = "leap-engine-students-changelog"
CLOCKS = "leap-engine-partition-clocks-changelog"


def covering(**offsets: int | None):
    """A ``persisted`` lookup: ``p3=41`` means partition 3 of the students changelog covers up to 41."""
    return lambda topic, partition: offsets.get(f"p{partition}") if topic == STUDENTS else offsets.get(f"c{partition}")


def test_records_following_the_covered_offset_move_it_to_the_last_one():
    delivered = [(STUDENTS, 3, 42), (STUDENTS, 3, 43), (STUDENTS, 3, 44), (CLOCKS, 3, 7)]
    assert offsets_to_persist(delivered, covering(p3=41, c3=6)) == {(STUDENTS, 3): 44, (CLOCKS, 3): 7}


def test_delivery_order_does_not_matter():
    delivered = [(STUDENTS, 0, 12), (STUDENTS, 0, 10), (STUDENTS, 0, 11)]
    assert offsets_to_persist(delivered, covering(p0=9)) == {(STUDENTS, 0): 12}


def test_a_partition_never_written_starts_at_offset_zero():
    assert offsets_to_persist([(STUDENTS, 5, 0), (STUDENTS, 5, 1)], covering()) == {(STUDENTS, 5): 1}
    # Records exist before ours but the store never saw them: nothing is claimed.
    assert offsets_to_persist([(STUDENTS, 5, 30), (STUDENTS, 5, 31)], covering()) == {}


def test_records_after_a_gap_are_not_claimed():
    # Another worker wrote 42 and 43 (a rebalance): the store never saw them.
    assert offsets_to_persist([(STUDENTS, 3, 44), (STUDENTS, 3, 45)], covering(p3=41)) == {}


def test_a_gap_inside_the_batch_is_not_claimed():
    # 43 is someone else's, between two of ours.
    assert offsets_to_persist([(STUDENTS, 3, 42), (STUDENTS, 3, 44)], covering(p3=41)) == {}


def test_records_the_store_already_covers_claim_nothing_and_never_move_it_back():
    # A restore read past these records already (it covers 50).
    assert offsets_to_persist([(STUDENTS, 2, 45), (STUDENTS, 2, 46)], covering(p2=50)) == {}


def test_each_partition_is_judged_on_its_own():
    delivered = [(STUDENTS, 1, 5), (STUDENTS, 2, 9), (STUDENTS, 2, 10)]
    assert offsets_to_persist(delivered, covering(p1=4, p2=3)) == {(STUDENTS, 1): 5}


def test_nothing_delivered_claims_nothing():
    assert offsets_to_persist([], covering(p0=1)) == {}


def test_store_urls():
    assert store_url("rocksdb") == "rocksdb://" and store_url("memory") == "memory://"
    with pytest.raises(ValueError, match="rocksdb or memory"):
        store_url("disk")


def test_a_stored_state_head_gives_its_band_and_cohort():
    state = StudentState("BSC-CS/Y2")
    assert state_codec.band_and_cohort(state_codec.dumps(state)) == (None, "BSC-CS/Y2")
    state.band = "partial"
    state.score = 0.4
    assert state_codec.band_and_cohort(state_codec.dumps(state)) == ("partial", "BSC-CS/Y2")
    with pytest.raises(state_codec.StateFormatError):
        state_codec.band_and_cohort(b"\x09" + bytes(40))
    with pytest.raises(state_codec.StateFormatError):
        state_codec.band_and_cohort(b"\x02")


def test_an_overlay_reads_each_key_once_per_batch_so_changes_to_what_it_returned_stick():
    reads: list[bytes] = []

    def read(key: bytes):
        # Like RocksDB: a new object on every read.
        reads.append(key)
        return None if key == b"new" else {"days": []}

    view = Overlay({}, read=read)
    view.get(b"s1")["days"].append(1)
    assert view.get(b"s1") == {"days": [1]}
    assert view.get(b"new") is None and b"new" not in view
    view[b"new"] = {"days": [2]}
    assert view[b"new"] == {"days": [2]}
    del view[b"s1"]
    assert view.get(b"s1") is None
    assert reads == [b"s1", b"new"]


def test_records_following_an_own_run_that_starts_at_the_covered_offset_move_it():
    # A batch during a rebalance wrote 42-44 without recording them; this one follows them.
    assert offsets_to_persist([(STUDENTS, 3, 45), (STUDENTS, 3, 46)], covering(p3=41), {(STUDENTS, 3): (42, 44)}) == {(STUDENTS, 3): 46}


def test_an_own_run_that_starts_after_the_covered_offset_proves_nothing():
    # 42 is someone else's: the run 43-44 does not reach back to what the store covers.
    assert offsets_to_persist([(STUDENTS, 3, 45)], covering(p3=41), {(STUDENTS, 3): (43, 44)}) == {}
    # Nor does a run the batch does not follow.
    assert offsets_to_persist([(STUDENTS, 3, 47)], covering(p3=41), {(STUDENTS, 3): (42, 44)}) == {}


def test_a_run_never_moves_the_offset_back():
    assert offsets_to_persist([(STUDENTS, 3, 45)], covering(p3=60), {(STUDENTS, 3): (42, 44)}) == {}


def test_own_runs_extend_restart_and_end():
    runs = own_runs([(STUDENTS, 3, 42), (STUDENTS, 3, 43)], {})
    assert runs == {(STUDENTS, 3): (42, 43)}
    runs = own_runs([(STUDENTS, 3, 44), (CLOCKS, 3, 7)], runs)
    assert runs == {(STUDENTS, 3): (42, 44), (CLOCKS, 3): (7, 7)}
    # After a gap (someone else's records in between) a new run starts.
    assert own_runs([(STUDENTS, 3, 50)], runs)[(STUDENTS, 3)] == (50, 50)
    # A gap inside the batch ends the run.
    assert (STUDENTS, 3) not in own_runs([(STUDENTS, 3, 45), (STUDENTS, 3, 47)], runs)


@given(st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=12), st.integers(min_value=-1, max_value=5))
def test_a_recorded_offset_never_claims_a_record_the_store_did_not_get(batch_sizes, covered_at_start):
    """Batches of own records interleaved with foreign ones (gaps): whatever is recorded, every
    offset up to it was either covered at the start or written by an own batch."""
    covered = None if covered_at_start < 0 else covered_at_start
    held = set(range(covered + 1)) if covered is not None else set()
    runs: dict = {}
    offset = (covered or -1) + 1
    for i, size in enumerate(batch_sizes):
        if i % 3 == 2:
            offset += size  # someone else's records: a gap the store never saw
            continue
        batch = [(STUDENTS, 0, o) for o in range(offset, offset + max(size, 1))]
        offset += max(size, 1)
        held.update(o for _, _, o in batch)
        moved = offsets_to_persist(batch, lambda t, p: covered, runs).get((STUDENTS, 0))
        if moved is not None:
            assert set(range(moved + 1)) <= held
            covered = moved
        runs = own_runs(batch, runs)


def _engine_table(tmp_path, store: str, keep: int) -> EngineTable:
    """An EngineTable over a real faust table on ``store`` (RocksDB databases in ``tmp_path``), values str."""
    app = faust.App(f"kept-{uuid.uuid4().hex[:6]}", store=store_url(store), datadir=str(tmp_path))
    table = app.Table("students", key_type=bytes, value_type=bytes, partitions=4)
    return EngineTable(table, decode=lambda raw: raw.decode(), keep=keep)


def _put(table: EngineTable, partition: int, *keys: bytes) -> dict[bytes, str]:
    values = {key: f"value of {key.decode()}" for key in keys}
    table.write(partition, [(key, value, value.encode()) for key, value in values.items()])
    return values


def test_the_last_states_written_are_kept_as_the_objects_written_and_the_database_holds_them_too(tmp_path):
    table = _engine_table(tmp_path, "rocksdb", keep=2)
    written = _put(table, 1, b"a", b"b") | _put(table, 2, b"c")
    assert table.get(b"c", 2) is written[b"c"] and table.get(b"b", 1) is written[b"b"]
    assert table.reads == {"kept": 2}
    # The oldest went past the two kept: read from its partition's database, decoded again.
    again = table.get(b"a", 1)
    assert again == written[b"a"] and again is not written[b"a"]
    assert table.reads == {"kept": 2, "store": 1}
    table.write(2, [], [b"c"])
    assert table.get(b"c", 2) is None


def test_a_discarded_or_forgotten_key_is_read_from_the_database_again(tmp_path):
    table = _engine_table(tmp_path, "rocksdb", keep=10)
    written = _put(table, 0, b"a", b"b", b"c")
    table.discard([b"a", b"absent"])
    assert table.get(b"a", 0) is not written[b"a"] and table.get(b"b", 0) is written[b"b"]
    table.forget()
    assert table.get(b"b", 0) == written[b"b"] and table.get(b"b", 0) is not written[b"b"]
    assert table.reads == {"kept": 1, "store": 3}


def test_nothing_is_kept_when_keep_is_zero(tmp_path):
    table = _engine_table(tmp_path, "rocksdb", keep=0)
    written = _put(table, 3, b"a")
    assert table.get(b"a", 3) == written[b"a"] and table.get(b"a", 3) is not written[b"a"]
    assert table.reads == {"store": 2}


def test_a_kept_state_written_as_stored_reads_as_it_was_written():
    state = StudentState("UG-CS-Y1")
    apply_event(state, 740000, "e1", VLE, 2)
    encoded = state_codec.stored(state)
    assert state_codec.dumps(state) == encoded and state_codec.dumps(state_codec.loads(encoded)) == encoded
