"""The archive (``streams.model.archive``): days before the window summed once, with the same
term view and last active day as adding every kept day up at each evaluation."""

from __future__ import annotations

import copy
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from leap.policy import Engagement
from streams import state_codec
from streams.day import VLE
from streams.model import StudentState, apply_event, archive, effect_of, last_active_day, prune, set_term, term_totals, window_length, window_totals

# The shortest retention the policy allows, so that sequences of a few dozen days reach it.
POLICY = Engagement(retention_days=35, daily_caps={"vle": 3, "coursework": 5, "lecture_capture_minutes": 240, "logins": 10, "library": 10})
START = date(2026, 9, 28).toordinal()

# A day: how many days after the last one it comes (a worker's clock can jump), whether a
# term starts on it, its events (days back from it, id, source, the id it amends), and
# whether the state is then written to storage and read back ("read") or written and kept as
# the object written ("kept": state_codec.stored, as the worker keeps recent states).
event = st.tuples(st.integers(0, 40), st.integers(0, 60), st.sampled_from(["vle", "logins", "attendance", "lecture_capture"]), st.none() | st.integers(0, 60))
day = st.tuples(st.integers(1, 5), st.sampled_from([False] * 9 + [True]), st.lists(event, max_size=4), st.sampled_from([None, "read", "kept"]))
days = st.lists(day, max_size=40)


def _apply(state: StudentState, today: int, step: tuple) -> str | None:
    back, ident, source, amends = step
    if back >= POLICY.retention_days:
        return None  # the engine rejects events older than the retention
    quantity = 30.0 + ident if source == "lecture_capture" else None
    code, amount = effect_of(source, quantity, ("present", "absent")[ident % 2] if source == "attendance" else None)
    original = None if amends is None or amends == ident else f"{source}-{amends}"
    return apply_event(state, today - back, f"{source}-{ident}", code, amount, original)


def _archived(days: int, through: int, per_day: int = 1) -> StudentState:
    """A student in a term since START, with ``per_day`` VLE events on each of ``days`` days,
    archived through START + ``through``."""
    state = StudentState()
    set_term(state, START)
    for day in range(START, START + days):
        apply_event(state, day, f"v{day}", VLE, per_day)
    archive(state, START + through, POLICY)
    return state


def _days(state: StudentState) -> dict:
    return {d: (day.totals, list(day.ids), list(day.codes), list(day.amounts)) for d, day in state.days.items()}


@settings(max_examples=300, deadline=None)
@given(days, st.booleans())
def test_an_archived_state_counts_the_term_and_the_last_active_day_as_one_adding_every_day_up(sequence, part_time):
    archived, plain = StudentState(), StudentState()
    archived.part_time = plain.part_time = part_time
    today, term = START, START
    for state in (archived, plain):
        set_term(state, term)
    for gap, term_starts, events, read_back in sequence:
        today += gap
        term = today if term_starts else term
        for state in (archived, plain):
            set_term(state, term)
            prune(state, today, POLICY)
        # The engine's rollover: the days before the window are settled.
        archive(archived, today - window_length(archived, POLICY) - 1, POLICY)
        if read_back:  # before the events: a state read back keeps its archived days packed
            data = state_codec.dumps(archived)
            if read_back == "read":
                archived = state_codec.loads(data)
            else:  # written and kept: left as read back, meaning the same
                assert state_codec.stored(archived) == data
            assert state_codec.dumps(archived) == data
        for step in events:
            assert _apply(archived, today, step) == _apply(plain, today, step)
        for when in (today, today + 1):
            assert term_totals(archived, when, POLICY) == term_totals(plain, when, POLICY)
            assert last_active_day(archived, when) == last_active_day(plain, when)
    assert _days(archived) == _days(plain)


def test_the_archive_is_used_and_a_late_event_for_an_archived_day_drops_it():
    state = StudentState()
    set_term(state, START)
    for day in range(START, START + 20):
        apply_event(state, day, f"v{day}", VLE, 1)
    archive(state, START + 10, POLICY)
    assert state.archived_through == START + 10 and state.archived_active == 11 and state.archived_last_active == START + 10
    before = copy.deepcopy(term_totals(state, START + 20, POLICY))
    # A day inside the window changes nothing archived; one before it drops the archive.
    apply_event(state, START + 15, "late-1", VLE, 1)
    assert state.archived_through == START + 10
    apply_event(state, START + 3, "late-2", *effect_of("logins", None, None))
    assert state.archived_through == 0 and state.archived_sums == [0] * 7
    after = term_totals(state, START + 20, POLICY)
    assert after is not None and before is not None and after[0][3] == before[0][3] + 1


def test_a_correction_of_an_archived_event_drops_the_archive_even_from_a_day_in_the_window():
    state = StudentState()
    set_term(state, START)
    apply_event(state, START + 1, "orig", *effect_of("attendance", None, "absent"))
    archive(state, START + 5, POLICY)
    assert state.archived_through == START + 5
    apply_event(state, START + 9, "fix", *effect_of("attendance", None, "present"), amends="orig")
    assert state.archived_through == 0
    totals = term_totals(state, START + 10, POLICY)
    assert totals is not None and totals[0][5:] == [1, 1]  # attended one of one expected


def test_format_3_carries_the_archive_and_a_format_2_state_reads_with_none():
    state = _archived(12, 8, per_day=5)
    read = state_codec.loads(state_codec.dumps(state))
    fields = ("archived_through", "archived_sums", "archived_active", "archived_last_active")
    assert [getattr(read, f) for f in fields] == [getattr(state, f) for f in fields]
    assert read.archived_sums[VLE] == 9 * 3  # capped at 3 a day
    # The same state as format 2 wrote it: no archive block after the measures.
    data = state_codec.dumps(state)
    at = state_codec._HEAD.size + len(state.cohort) + len(state.published) + state_codec._HEAD2.size + len("\n".join(state.groups))
    v2 = bytes([2]) + data[1:at] + data[at + state_codec._ARCHIVE.size :]
    old = state_codec.loads(v2)
    assert old.archived_through == 0 and old.days.keys() == state.days.keys()
    assert term_totals(old, START + 12, POLICY) == term_totals(state, START + 12, POLICY)


def test_a_state_read_back_keeps_its_archived_days_packed_until_one_is_needed():
    state = StudentState()
    set_term(state, START)
    apply_event(state, START, "second", VLE, 1)  # two ids on the first day, to find one across them
    for day in range(START, START + 20):
        apply_event(state, day, f"v{day}", VLE, 1)
    archive(state, START + 11, POLICY)
    read = state_codec.loads(state_codec.dumps(state))
    assert read.cold is not None and read.cold.count == 12 and min(read.warm) == START + 12
    # A duplicate of an archived event is found in the packed bytes; a new event in the window,
    # the term view and the last active day leave them packed.
    assert apply_event(read, START + 19, f"v{START + 3}", VLE, 1) == "duplicate"
    assert apply_event(read, START + 19, "new", VLE, 1) == apply_event(state, START + 19, "new", VLE, 1) == "applied"
    assert term_totals(read, START + 20, POLICY) == term_totals(state, START + 20, POLICY)
    assert last_active_day(read, START + 20) == START + 19
    assert read.cold is not None
    # Eight bytes found where they are not an id (in a day's totals, across two ids) are not one.
    ids = state_codec._DAY.size
    assert not read.cold.holds(read.cold.record[8:16])
    assert not read.cold.holds(read.cold.record[ids + 4 : ids + 12])
    assert read.cold.holds(read.cold.record[ids + 8 : ids + 16])
    assert sorted(read.days) == list(range(START, START + 20)) and read.cold is None


def test_a_window_that_reaches_into_the_packed_days_unpacks_them():
    # A student who becomes part-time is judged over 21 days at once, 14 of them archived
    # while they studied full-time.
    state = StudentState()
    set_term(state, START)
    for day in range(START, START + 30):
        apply_event(state, day, f"v{day}", VLE, 1 + day % 3)
    archive(state, START + 30 - window_length(state, POLICY) - 1, POLICY)
    read = state_codec.loads(state_codec.dumps(state))
    read.part_time = state.part_time = True
    assert window_totals(read, START + 9, START + 29, POLICY) == window_totals(state, START + 9, START + 29, POLICY)
    assert window_totals(read, START + 9, START + 29, POLICY)[0][VLE] == sum(1 + d % 3 for d in range(START + 9, START + 30))


def test_sums_archived_under_other_caps_are_not_used_and_are_made_again():
    # An institution raises the VLE cap from 3 to 5 a day: the archived days were capped at 3.
    raised = POLICY.model_copy(update={"daily_caps": POLICY.daily_caps.model_copy(update={"vle": 5})})
    state, plain = StudentState(), StudentState()
    for s in (state, plain):
        set_term(s, START)
        for day in range(START, START + 40):
            apply_event(s, day, f"v{day}", VLE, 5)
    archive(state, START + 20, POLICY)
    read = state_codec.loads(state_codec.dumps(state))
    assert term_totals(read, START + 40, raised) == term_totals(plain, START + 40, raised)
    assert term_totals(read, START + 40, raised)[0][VLE] == 5 * 40
    # The next rollover's archive sums every archived day again...
    again = state_codec.loads(state_codec.dumps(state))
    archive(again, START + 32, raised)
    assert again.archived_caps[VLE] == 5 and again.archived_sums[VLE] == 5 * 33
    # ...and its prune takes nothing capped at 5 away from sums capped at 3.
    prune(read, START + 40, raised)
    prune(plain, START + 40, raised)
    assert read.archived_through == 0 and term_totals(read, START + 40, raised) == term_totals(plain, START + 40, raised)
    archive(read, START + 32, raised)
    assert read.archived_sums[VLE] == 5 * (32 - 5)  # days 6..32 are kept
    assert term_totals(read, START + 40, raised) == term_totals(plain, START + 40, raised)


def test_packed_days_that_are_not_days_fail_each_time_and_are_written_back_as_they_were():
    import pytest

    state = _archived(20, 11)
    data = bytearray(state_codec.dumps(state))
    cold_at = len(data) - sum(len(d.record or b"") for d in state_codec.loads(bytes(data)).warm.values()) - len(state_codec.loads(bytes(data)).cold.record)
    data[cold_at + 4] = 200  # the first archived day's event count: runs past its record
    read = state_codec.loads(bytes(data))
    for _ in range(2):
        with pytest.raises(state_codec.StateFormatError):
            read.days  # noqa: B018
    assert state_codec.dumps(read) == bytes(data)


def test_a_state_written_and_kept_is_left_as_it_would_be_read_back():
    for state, written in ((_archived(20, 10), "unpacked"), (state_codec.loads(state_codec.dumps(_archived(20, 6))), "read back")):
        archive(state, START + 10, POLICY)
        apply_event(state, START + 19, "new", VLE, 1)  # today's day changes
        data = state_codec.stored(state)
        read = state_codec.loads(data)
        assert state.cold is not None and (state.cold.record, state.cold.count, state.cold.last) == (read.cold.record, read.cold.count, read.cold.last), written
        assert {o: d.record for o, d in state.warm.items()} == {o: d.record for o, d in read.warm.items()}, written
        assert all(d.record is not None for d in state.warm.values()), written
        assert _days(state) == _days(read)


def test_forgetting_the_oldest_days_takes_them_off_the_packed_piece_and_leaves_the_rest_packed():
    state = _archived(30, 25)
    read = state_codec.loads(state_codec.dumps(state))
    assert read.cold is not None and read.cold.count == 26
    today = START + POLICY.retention_days + 2  # the first three days are past the retention
    for s in (state, read):
        prune(s, today, POLICY)
    assert read.cold is not None and read.cold.count == 23 and read.warm.keys() == set(range(START + 26, START + 30))
    assert (read.term_sums, read.term_active, read.archived_sums, read.archived_active) == (state.term_sums, state.term_active, state.archived_sums, state.archived_active)
    assert _days(read) == _days(state)
