"""The rate at which faust-streaming alone delivers a topic's messages to an agent that does nothing.

Run by ``benchmarks.engine_bench`` in its own process (a faust worker owns its event loop):
the agent takes batches exactly as the engine's agent does (same buffer and commit
settings) and writes the measured events/s to a file once it has seen every message.
This is the ceiling of any faust agent over this topic on this machine, for faust's stock
reading (``stock``) and for LEAP's (``draining``: streams.drain, on uvloop, as the worker runs).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import faust


def main(bootstrap: str, topic: str, expected: int, out: Path, web_port: int, app_id: str, reader: str) -> None:
    """Consume ``expected`` messages of ``topic`` with an empty agent; write events/s to ``out``."""
    if reader == "draining":
        import mode.loop

        mode.loop.use("uvloop")
    app = faust.App(
        app_id,  # under the bench's topic prefix, so its internal topics are removed with the rest
        broker=f"kafka://{bootstrap}",
        store="memory://",
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=20_000,
        broker_commit_every=20_000,
        web_port=web_port,
        web_host="127.0.0.1",
        web_bind="127.0.0.1",
        datadir=str(out.parent / "faust-ceiling-data"),
        logging_config=None,
    )
    if reader == "draining":
        from streams.drain import use_draining_consumer

        use_draining_consumer(app)
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    seen = 0
    started: float | None = None

    @app.agent(source)
    async def empty(stream):  # type: ignore[no-untyped-def]
        nonlocal seen, started
        async for events in stream.take_events(10_000, within=0.25):
            if started is None:
                started = time.perf_counter()
            seen += len(events)
            if seen >= expected:
                out.write_text(str(seen / (time.perf_counter() - started)))
                logging.shutdown()
                os._exit(0)  # the figure is written; no need for an orderly faust shutdown

    @app.task
    async def quiet() -> None:
        for name in ("aiokafka", "faust", "mode"):
            logging.getLogger(name).setLevel(logging.WARNING)

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7])
