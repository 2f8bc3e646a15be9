"""Watching over the worker's batch handlers: a batch in hand is finished even when faust
cancels its agent, and a handler that does not end is reported with where it waits."""

from __future__ import annotations

import asyncio
from typing import Any

from leap.log import get_logger
from streams import metrics as worker_metrics

log = get_logger("leap.streams")


async def finish_despite_cancel(coro: Any, warn_after: float = 30.0) -> Any:
    """Await ``coro`` to its end even if the awaiting task is cancelled meanwhile; then let the
    cancellation through.

    faust stops a worker by cancelling its agents, and ``take_events`` acknowledges the batch
    in hand on the way out, cancelled or not; the stop then commits it. A batch abandoned
    half-way (its state not yet written) would be lost, so a stop first finishes it.
    """
    task = asyncio.ensure_future(coro)
    watch(task, warn_after)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise  # the work itself was cancelled, not the wait for it
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError("stopped once the batch in hand was finished")
    return result


def awaited_by(coro: Any) -> list[str]:
    """Where a suspended coroutine waits: ``function:line`` down its chain of awaits, outermost first."""
    chain = []
    while coro is not None and hasattr(coro, "cr_frame"):
        frame = coro.cr_frame
        if frame is not None:
            chain.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        coro = coro.cr_await
    if coro is not None:
        chain.append(type(coro).__name__)  # the future (or other awaitable) at the bottom
    return chain


def watch(task: asyncio.Future, after: float) -> None:
    """Log, every ``after`` seconds until it ends, that a handler is still running and where it waits.

    A handler that never ends holds its agent (and, shielded, the worker's stop) while the
    rest of the worker looks busy: this line and ``leap_engine_handlers_stuck`` are how it shows.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    counted = False

    def check() -> None:
        nonlocal handle, counted
        if not counted:
            worker_metrics.HANDLERS_STUCK.inc()
            counted = True
        coro = task.get_coro() if isinstance(task, asyncio.Task) else None
        log.warning("a handler is still running", seconds=round(loop.time() - started), waiting_in=" > ".join(awaited_by(coro)))
        handle = loop.call_later(after, check)

    def done(_: asyncio.Future) -> None:
        handle.cancel()
        if counted:
            worker_metrics.HANDLERS_STUCK.dec()

    handle = loop.call_later(after, check)
    task.add_done_callback(done)
