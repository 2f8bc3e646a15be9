"""A stop cancels the engine's agent mid-batch: the batch is finished before the cancellation goes on."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from streams.handlers import awaited_by, finish_despite_cancel


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_a_cancelled_wait_finishes_the_work_then_is_cancelled():
    steps: list[str] = []

    async def batch() -> str:
        steps.append("started")
        await asyncio.sleep(0.05)
        steps.append("state written")
        return "done"

    async def main() -> None:
        agent = asyncio.ensure_future(finish_despite_cancel(batch()))
        await asyncio.sleep(0.01)
        agent.cancel()  # what faust does to its agents when the worker stops
        with pytest.raises(asyncio.CancelledError):
            await agent
        steps.append("cancellation seen")

    run(main())
    assert steps == ["started", "state written", "cancellation seen"]


def test_repeated_cancels_still_wait_for_the_work():
    finished = []

    async def batch() -> None:
        await asyncio.sleep(0.05)
        finished.append(True)

    async def main() -> None:
        agent = asyncio.ensure_future(finish_despite_cancel(batch()))
        for _ in range(3):
            await asyncio.sleep(0.005)
            agent.cancel()
        with pytest.raises(asyncio.CancelledError):
            await agent
        assert finished == [True]

    run(main())


def test_without_a_cancel_the_result_and_errors_pass_through():
    async def ok() -> int:
        return 7

    async def broken() -> None:
        raise ValueError("bad batch")

    assert run(finish_despite_cancel(ok())) == 7
    with pytest.raises(ValueError, match="bad batch"):
        run(finish_despite_cancel(broken()))


def test_work_that_is_itself_cancelled_is_reported_as_cancelled():
    async def main() -> None:
        async def batch() -> None:
            asyncio.current_task().cancel()
            await asyncio.sleep(1)

        with pytest.raises(asyncio.CancelledError):
            await finish_despite_cancel(batch())

    run(main())


def test_a_handler_that_does_not_end_says_so_and_where_it_waits():
    async def send_and_wait(never: asyncio.Future) -> None:
        await never

    async def handler(never: asyncio.Future) -> str:
        await send_and_wait(never)
        return "sent"

    async def main() -> tuple[list[dict], str]:
        never = asyncio.get_running_loop().create_future()
        with capture_logs() as logs:
            work = asyncio.ensure_future(finish_despite_cancel(handler(never), warn_after=0.02))
            await asyncio.sleep(0.07)
            stuck.append(REGISTRY.get_sample_value("leap_engine_handlers_stuck"))
            never.set_result(None)
            result = await work
            await asyncio.sleep(0.05)  # no warning once it has ended
            stuck.append(REGISTRY.get_sample_value("leap_engine_handlers_stuck"))
        return logs, result

    stuck: list[float | None] = [REGISTRY.get_sample_value("leap_engine_handlers_stuck")]
    logs, result = run(main())
    assert result == "sent"
    assert stuck == [0, 1, 0], "counted once while stuck, not once per warning, and no longer once it ended"
    warnings = [entry for entry in logs if entry["event"] == "a handler is still running"]
    assert 2 <= len(warnings) <= 4, logs
    names = [step.split(":")[0] for step in warnings[0]["waiting_in"].split(" > ")]
    assert names == ["handler", "send_and_wait", "FutureIter"], warnings[0]
    assert awaited_by(None) == []
