"""A stop cancels the engine's agent mid-batch: the batch is finished before the cancellation goes on."""

from __future__ import annotations

import asyncio

import pytest

from streams.app import finish_despite_cancel


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
