"""streams.drain: delivering a message without faust's per-message task race, same outcomes.

Each test runs real asyncio and a real mode Service (whose ``wait_first`` faust's drain uses)
and compares :func:`deliver` with what faust's line does on the same callback.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import inspect
import textwrap

import pytest
from faust.transport.consumer import Consumer as FaustConsumer
from hypothesis import given, settings
from hypothesis import strategies as st
from mode import Service

from streams.drain import FAUST_DRAIN_SHA256, DrainingConsumer, Resumed, deliver, place


class Conductor:
    """The part of faust's conductor that matters here: put each message on a bounded queue,
    waiting for room (as a full stream buffer makes faust's on_message wait)."""

    def __init__(self, room: int) -> None:
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=room)
        self.finished: list[int] = []
        self.cancelled: list[int] = []

    async def on_message(self, message: int) -> None:
        try:
            await self.queue.put(message)
            self.finished.append(message)
        except asyncio.CancelledError:
            self.cancelled.append(message)
            raise


async def faust_line(consumer: Service, callback, message, suspended: asyncio.Event) -> None:
    """What faust-streaming 0.15.3 does for every message."""
    await consumer.wait_first(callback(message), suspended.wait())


def run(reader, room: int, messages: int, drained_after: int | None, suspend_at: int | None):
    """Deliver ``messages`` with ``reader``; a consumer of the queue takes everything after
    ``drained_after`` deliveries' worth of time, and the flow is suspended at ``suspend_at``."""

    async def scenario():
        consumer, conductor, suspended = Service(), Conductor(room), asyncio.Event()
        outcomes = []
        for message in range(messages):
            if message == suspend_at:
                # a rebalance: flow suspended while the delivery waits for room
                asyncio.get_running_loop().call_soon(suspended.set)
            if drained_after is not None and message == drained_after:
                asyncio.get_running_loop().call_soon(lambda: [conductor.queue.get_nowait() for _ in range(conductor.queue.qsize())])
            try:
                # A delivery that cannot finish never does (one thread, nothing else to run); 0.1 s tells.
                await asyncio.wait_for(reader(consumer, conductor.on_message, message, suspended), 0.1)
                outcomes.append(("returned", message))
            except asyncio.TimeoutError:
                outcomes.append(("waiting", message))
                break
            if suspended.is_set():
                break
        await asyncio.sleep(0)
        return outcomes, conductor.finished, conductor.cancelled, list(conductor.queue._queue)

    return asyncio.run(scenario())


def test_a_delivery_with_room_finishes_without_waiting_or_any_task():
    async def scenario():
        consumer, conductor, suspended = Service(), Conductor(10), asyncio.Event()
        tasks_before = len(asyncio.all_tasks())
        await deliver(consumer, conductor.on_message, 1, suspended)
        return tasks_before, len(asyncio.all_tasks()), conductor.finished

    before, after, finished = asyncio.run(scenario())
    assert finished == [1] and before == after


def test_a_delivery_that_waits_for_room_resumes_where_it_stopped():
    outcomes, finished, cancelled, queued = run(deliver, room=3, messages=5, drained_after=3, suspend_at=None)
    assert outcomes == [("returned", m) for m in range(5)]
    assert finished == [0, 1, 2, 3, 4] and cancelled == [] and queued == [3, 4]


def test_a_rebalance_abandons_a_blocked_delivery_as_faust_does():
    ours = run(deliver, room=2, messages=5, drained_after=None, suspend_at=2)
    stock = run(faust_line, room=2, messages=5, drained_after=None, suspend_at=2)
    assert ours == stock
    outcomes, finished, cancelled, queued = ours
    assert outcomes[-1] == ("returned", 2) and finished == [0, 1] and cancelled == [2] and queued == [0, 1]


@settings(max_examples=60, deadline=None)
@given(
    room=st.integers(1, 4),
    messages=st.integers(1, 8),
    drained_after=st.one_of(st.none(), st.integers(0, 8)),
    suspend_at=st.one_of(st.none(), st.integers(0, 8)),
)
def test_every_outcome_equals_faust_s(room, messages, drained_after, suspend_at):
    assert run(deliver, room, messages, drained_after, suspend_at) == run(faust_line, room, messages, drained_after, suspend_at)


@pytest.mark.parametrize("wait_first", [False, True])
def test_an_error_in_the_callback_reaches_the_drain_before_or_after_waiting(wait_first):
    async def callback(message):
        if wait_first:
            await asyncio.sleep(0)
        raise ValueError(f"bad {message}")

    async def scenario():
        await deliver(Service(), callback, 7, asyncio.Event())

    with pytest.raises(ValueError, match="bad 7"):
        asyncio.run(scenario())


def test_a_cancelled_resumed_coroutine_gets_the_cancellation_and_runs_its_cleanup():
    cleaned = []

    async def slow():
        try:
            await asyncio.sleep(10)
        finally:
            cleaned.append(True)

    async def scenario():
        coro = slow()
        pending = coro.send(None)
        task = asyncio.ensure_future(Resumed(coro, pending))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert cleaned == [True]


def _shape(method) -> str:
    """The method's syntax tree without annotations, with its delivery statement a placeholder."""

    class Strip(ast.NodeTransformer):
        def visit_Await(self, node):  # noqa: N802 - the ast API's name
            call = node.value
            name = getattr(call.func, "attr", getattr(call.func, "id", "")) if isinstance(call, ast.Call) else ""
            return ast.Constant("DELIVER") if name in ("wait_first", "deliver") else self.generic_visit(node)

        def visit_arg(self, node):  # noqa: N802
            node.annotation = None
            return node

        # LEAP's additions besides the delivery line: the per-fetch seek counts and sets,
        # the read-offset setter, and one block for agents' partitions (streams.drain.place).
        # Anything else must match faust.
        def visit_Assign(self, node):  # noqa: N802 - the ast API's name
            return None if any(getattr(t, "id", "") in ("seeks_before", "seen", "skipped", "set_read_offset") for t in node.targets) else self.generic_visit(node)

        def visit_If(self, node):  # noqa: N802
            test = node.test
            leap = isinstance(test, ast.Call) and getattr(test.func, "id", "") == "acks_enabled_for"
            return None if leap else self.generic_visit(node)

    function = ast.parse(textwrap.dedent(inspect.getsource(method))).body[0]
    function.returns = None
    return ast.dump(Strip().visit(function))


def test_the_copied_drain_is_pinned_to_faust_s_and_changes_only_the_delivery_line_and_the_order_check():
    source = inspect.getsource(FaustConsumer._drain_messages)
    assert hashlib.sha256(source.encode()).hexdigest() == FAUST_DRAIN_SHA256, (
        "faust's Consumer._drain_messages changed: compare it with streams/drain.py's copy, then update FAUST_DRAIN_SHA256"
    )
    assert "callback(message), self.suspend_flow.wait()" in source
    assert "await deliver(self, callback, message, self.suspend_flow)" in inspect.getsource(DrainingConsumer._drain_messages)
    assert _shape(DrainingConsumer._drain_messages) == _shape(FaustConsumer._drain_messages)


def test_the_shape_comparison_notices_a_changed_statement():
    class Changed(DrainingConsumer):
        async def _drain_messages(self, fetcher):
            yield_every = 200  # noqa: F841 - differs from faust's 100
            await deliver(self, None, None, None)

    assert _shape(Changed._drain_messages) != _shape(FaustConsumer._drain_messages)


def test_place_delivers_the_expected_record_and_drops_what_was_delivered():
    assert place(10, None, None, True) == "deliver"
    assert place(10, 10, None, False) == "deliver"
    assert place(9, 10, None, True) == "drop"
    assert place(12, 10, None, True) == "reread"
    assert place(12, 10, (10, 12), True) == "gap"
    assert place(12, 10, (10, 12), False) == "reread"  # the same jump in a stale fetch proves nothing
    assert place(13, 10, (10, 12), True) == "reread"  # a different jump: read again
    # After a record of the same fetch (no seek since), a jump is a hole in the log itself.
    assert place(12, 10, None, False, continued=True) == "gap"
    assert place(9, 10, None, False, continued=True) == "drop"


class Partition:
    """One partition as faust's drain meets it: aiokafka's fetch position over a log whose
    first ``start`` offsets retention deleted, and the drain's bookkeeping (read offset,
    sought, confirmed jump), following streams.drain.DrainingConsumer step for step.
    ``faust=True`` follows faust's own check instead (any jump is a gap, acknowledged)."""

    def __init__(self, end: int, start: int, faust: bool = False, holes: frozenset[int] = frozenset()) -> None:
        self.end, self.start, self.faust = end, start, faust
        self.holes = holes  # offsets the log never returns (transaction markers, compacted records)
        self.position = 0  # aiokafka's next fetch offset
        self.read: int | None = 0  # faust's read offset
        self.sought = True  # a seek set it (the group starts at its committed offset, 0)
        self.confirmed: tuple[int, int] | None = None
        self.since_rebalance: list[int] = []  # delivered since the last rebalance's seek
        self.gapped: set[int] = set()  # offsets acknowledged as a gap, never delivered
        self.floor = 0  # the last rebalance's committed offset
        self.seeks = 0
        self.fetched_at = 0  # seeks before the fetch in hand

    def expected(self) -> int | None:
        return None if self.read is None else self.read if self.sought else self.read + 1

    def seek(self, offset: int) -> None:
        self.position, self.read, self.sought = offset, offset, True
        self.seeks += 1

    def rebalance(self, committed: int) -> None:
        """faust's seek of the partition to its committed offset: what was delivered and not
        committed may have been abandoned, so it must be delivered again."""
        self.seek(committed)
        self.floor = committed
        self.since_rebalance = []

    def committable(self) -> int:
        """The highest offset a commit may have reached: the first not delivered in order since
        the last rebalance (what was below its committed offset was committed before)."""
        done = set(self.since_rebalance) | self.gapped | set(range(self.start)) | self.holes
        head = self.floor
        while head in done:
            head += 1
        return head

    def fetch(self, size: int) -> list[int]:
        """Up to ``size`` records from aiokafka's position: one contiguous stretch of the log."""
        first = max(self.position, self.start)  # out of range: aiokafka resets to the earliest
        records = [o for o in range(first, self.end) if o not in self.holes][:size]
        self.position = records[-1] + 1 if records else max(first, self.end)  # past trailing holes
        self.fetched_at = self.seeks
        return records

    def take(self, offset: int) -> None:
        self.sought = False
        self.since_rebalance.append(offset)
        self.read = offset

    def drain(self, records: list[int], rebalance_at: int | None = None, committed: int = 0) -> None:
        """Deliver a fetch's records; a rebalance seeks to ``committed`` before record ``rebalance_at``."""
        for i, offset in enumerate(records):
            if i == rebalance_at:
                self.rebalance(min(committed, self.committable()))
            if self.faust:
                read = self.read
                if read is None or offset >= read:
                    if read is not None and offset - read > 1:
                        self.gapped.update(range(read + 1, offset))
                    self.take(offset)
                continue
            unsought = self.seeks == self.fetched_at
            where = place(offset, self.expected(), self.confirmed, fresh=unsought and i == 0, continued=unsought and i > 0)
            if where == "drop":
                continue
            if where == "reread":
                self.confirmed = (self.expected(), offset)
                self.seek(self.expected())
                return  # the rest of this fetch is not taken
            if where == "gap":
                self.gapped.update(range(self.expected(), offset))
            self.take(offset)


steps = st.lists(st.tuples(st.integers(1, 9), st.one_of(st.none(), st.integers(0, 9)), st.integers(0, 60), st.booleans()), max_size=12)


def play(part: Partition, script) -> Partition:
    """Fetches, rebalances in the middle of one, fetches cut short (faust stops iterating when
    the generation changes; the rebalance then seeks), then quiet fetches to the end."""
    for size, rebalance_at, committed, cut in script:
        records = part.fetch(size)
        if cut:
            part.drain(records[: (rebalance_at or 0)])
            part.rebalance(min(committed, part.committable()))
        else:
            part.drain(records, rebalance_at, committed)
    for _ in range(2 * part.end + 4):
        part.drain(part.fetch(9))
    return part


@settings(max_examples=400, deadline=None)
@given(end=st.integers(1, 60), deleted=st.integers(0, 20), holes=st.frozensets(st.integers(0, 59), max_size=15), script=steps)
def test_after_every_rebalance_every_record_from_the_committed_offset_is_delivered_again(end, deleted, holes, script):
    start = min(deleted, end)
    part = play(Partition(end, start, holes=holes), script)
    last_seek = part.since_rebalance
    assert part.gapped <= set(range(0, start)) | holes  # only what the log does not hold is skipped
    assert last_seek == sorted(last_seek)  # in order
    if last_seek:
        # and without a hole, to the end
        assert last_seek == [o for o in range(last_seek[0], end) if o not in holes]


def test_faust_s_own_check_skips_records_fetched_before_a_seek():
    """The loss the rule prevents, in the same model: 0..9 fetched, a rebalance seeks back to
    the committed 2 while 5..9 are still in hand; faust takes 5 for a jump over 3..4."""
    stock = play(Partition(20, 0, faust=True), [(10, 5, 2, False)])
    ours = play(Partition(20, 0), [(10, 5, 2, False)])
    assert stock.gapped == {3, 4} and 3 not in stock.since_rebalance
    assert ours.gapped == set() and ours.since_rebalance == list(range(2, 20))


def test_a_hole_inside_a_fetch_is_taken_without_reading_again():
    """Transaction markers leave a hole after every producer transaction: re-reading at each
    would cost a fetch per transaction. Only a hole at a fetch's start needs the re-read."""
    inside = play(Partition(20, 0, holes=frozenset({5})), [])
    assert inside.seeks == 0 and inside.gapped == {5}
    at_start = play(Partition(20, 0, holes=frozenset({9})), [])  # the second fetch starts at 9
    assert at_start.seeks == 1 and at_start.gapped == {9}


def _stub_consumer(answer):
    """A DrainingConsumer with only what ``_getmany`` uses: a consumer thread answering with ``answer()``."""
    from types import SimpleNamespace

    consumer = object.__new__(DrainingConsumer)
    consumer._thread = SimpleNamespace(getmany=lambda active, timeout: answer())
    consumer.fetch_deadline = 0.05
    consumer.log = SimpleNamespace(warning=lambda *args: consumer.warnings.append(args))
    consumer.warnings = []
    return consumer


def test_a_fetch_the_consumer_thread_never_answers_is_given_up_on():
    from streams.metrics import FETCHES_LOST

    async def never():
        await asyncio.Event().wait()

    before = FETCHES_LOST._value.get()
    consumer = _stub_consumer(never)
    assert asyncio.run(consumer._getmany(None, 1.0)) == {}
    assert FETCHES_LOST._value.get() == before + 1 and len(consumer.warnings) == 1


def test_a_fetch_that_answers_is_returned_as_it_is():
    async def records():
        return {"tp": ["record"]}

    assert asyncio.run(_stub_consumer(records)._getmany(None, 1.0)) == {"tp": ["record"]}


def _silent_thread_consumer():
    """A DrainingConsumer whose consumer thread never answers a commit or a seek."""
    from types import SimpleNamespace

    async def never(*args):
        await asyncio.Event().wait()

    consumer = _stub_consumer(never)
    consumer._thread = SimpleNamespace(commit=never, seek_wait=never)
    consumer.app = SimpleNamespace(conf=SimpleNamespace(broker_request_timeout=0.05))
    consumer._read_offset = {"tp": 7}
    return consumer


def test_a_commit_the_consumer_thread_never_answers_counts_as_failed():
    from streams.metrics import CALLS_LOST

    before = CALLS_LOST.labels("commit")._value.get()
    consumer = _silent_thread_consumer()
    assert asyncio.run(consumer._commit({"tp": 9})) is False
    assert CALLS_LOST.labels("commit")._value.get() == before + 1 and len(consumer.warnings) == 1


def test_a_seek_the_consumer_thread_never_answers_raises_and_moves_nothing():
    from streams.metrics import CALLS_LOST

    before = CALLS_LOST.labels("seek")._value.get()
    consumer = _silent_thread_consumer()
    consumer.sought, consumer.seeks = set(), {}
    with pytest.raises(TimeoutError, match="seek through the consumer's thread"):
        asyncio.run(consumer.seek_in_thread("tp", 3))
    assert CALLS_LOST.labels("seek")._value.get() == before + 1
    assert consumer._read_offset == {"tp": 7} and consumer.sought == set()
