"""What every phase of `make bench` shares: workers as child processes, their metrics, topic ends."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from leap.kafka import client_config
from leap.settings import Settings
from reliability.processes import die_with_parent, free_port

LEAP = str(Path(sys.executable).with_name("leap"))


def load_university(env: dict[str, str], work: Path) -> None:
    """Load the simulated university in ``work`` (roster.csv, events.jsonl) into the deployment of ``env``."""
    subprocess.run([LEAP, "roster", "load", str(work / "roster.csv"), "--json"], env=env, check=True, capture_output=True)
    subprocess.run([LEAP, "produce", "events", str(work / "events.jsonl"), "--json"], env=env, check=True, capture_output=True)


def viewed(student: str, event_id: str, at_ms: int | None = None) -> dict:
    """A VLE page view by ``student`` at ``at_ms`` (default now): the bench's own probe events."""
    return {"event_id": event_id, "student_id": student, "source": "vle", "action": "viewed", "event_time": int(time.time() * 1000) if at_ms is None else at_ms,
            "course": None, "object_ref": None, "quantity": None, "attendance_status": None, "source_ref": "bench", "amends": None}  # fmt: skip


def metrics(port: int, patience: float = 120.0) -> str:
    """A worker's /metrics text, asked again for up to ``patience`` seconds if it does not answer.

    The endpoint shares the worker's event loop, which one large batch (a settling worker
    re-scoring thousands of students on a slow machine) can hold for longer than one read's
    timeout: that is a slow answer, not a dead worker.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                return response.read().decode()
        except (TimeoutError, urllib.error.URLError) as exc:
            # Only a slow answer is asked again; a refused connection (not up yet) is the caller's.
            slow = isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError)
            if not slow or time.monotonic() > deadline:
                raise


def counter(text: str, name: str) -> float:
    """A metric's value in /metrics text, summed over its labels."""
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M))


def events_read(port: int) -> float:
    """Activity events a worker has read: applied, duplicate or rejected (``late`` is a kind of applied)."""
    text = metrics(port)
    return sum(float(m.group(2)) for m in re.finditer(r'^leap_engine_events_total\{outcome="(applied|duplicate|rejected)"\} ([0-9.e+]+)$', text, re.M))


def rss_kib(pid: int) -> int:
    """A process's resident memory, KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_for(predicate: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something true (returned); raise after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def safe(fn: Callable[[], Any]) -> Any:
    """``fn()``, or None while what it asks (a worker's endpoint) is not up yet."""
    try:
        return fn()
    except Exception:  # noqa: BLE001 - not up yet
        return None


def start_worker(env: dict[str, str], work: Path, name: str, store: str, datadir: Path) -> tuple[subprocess.Popen, int]:
    """A `leap worker` on ``store`` with its own port and data folder; its log in ``work``."""
    port = free_port()
    log = (work / f"{name}.log").open("a")
    process = subprocess.Popen(
        [LEAP, "worker", "--web-port", str(port), "--tick-seconds", "1", "--datadir", str(datadir)],
        env={**env, "LEAP_ENGINE_STORE": store},
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    return process, port


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not stopped within two minutes."""
    process.terminate()
    try:
        process.wait(120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(30)


def ready(port: int) -> bool:
    """Whether a worker's /readyz says ready."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
        return response.status == 200


def ends(settings: Settings, topic: str) -> dict[int, int]:
    """Each partition's end offset."""
    consumer = Consumer(client_config(settings, **{"group.id": f"bench-{uuid.uuid4().hex}"}))
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    marks = {p: consumer.get_watermark_offsets(TopicPartition(topic, p))[1] for p in partitions}
    consumer.close()
    return marks


def roster_ids(work: Path) -> list[str]:
    """The student ids of the simulated university's roster.csv in ``work``."""
    return [line.split(",", 1)[0] for line in (work / "roster.csv").read_text().splitlines()[1:]]


def committed(settings: Settings, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    """A consumer group's committed offsets on ``topic`` (-1 where none), without joining the group."""
    consumer = Consumer(client_config(settings, **{"group.id": group, "enable.auto.commit": False}))
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in offsets}
