"""LEAP's processes and local services for a chaos run: start, kill, restart, supervise.

The harness plays the part systemd or Kubernetes plays in production: a process that exits
when it should not (a worker that could not deliver its output exits on purpose, to be
redelivered) is started again, and counted.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from leap.log import get_logger
from leap.settings import PROJECT_ROOT, Settings

log = get_logger("leap.chaos")

LEAP = str(Path(sys.executable).with_name("leap"))
SERVICES = PROJECT_ROOT / "deploy" / "local" / "services.sh"


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for a child process: the kernel SIGKILLs it when its parent dies.

    A harness killed from outside (a test's timeout SIGKILLs it) never runs its clean-up; its
    workers would go on consuming from the shared services, slowing and disturbing whatever
    runs next. Linux only; elsewhere a no-op.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


# A warning or worse, as faust's handler writes it ("[WARNING] {...}") or as JSON.
COMPLAINT = re.compile(r"\[(WARNING|ERROR|CRITICAL)\]|[\"']level[\"']: ?[\"'](warning|error|critical)[\"']")


def complaints(log_path: Path, most: int = 8) -> list[str]:
    """A process log's warnings and errors, shortened: the first ``most`` and the last ``most``.

    The first say what went wrong; the last say where it ended (a stuck handler logs where
    it waits every 30 s). What a failure message shows first, before whole logs.
    """
    try:
        text = log_path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    found = [line[:300] for line in text.splitlines() if COMPLAINT.search(line)]
    if len(found) <= 2 * most:
        return found
    return [*found[:most], f"... {len(found) - 2 * most} more ...", *found[-most:]]


_FRAME = re.compile(r'^\s+File "(?P<path>[^"]+)", line (?P<line>-?\d+), in (?P<func>.+)$')
_TASK = re.compile(r"^Stack for <Task \w+ name='(?P<name>[^']*)'")


def compact_stacks(dump: str, frames: int = 5) -> list[str]:
    """mode's stack dump (``logging.cry``: every thread and asyncio task with its frames and
    local variables), one line per thread or task: its name and its innermost ``frames``
    frames as ``file:line function``, outermost first. A stack dump is thousands of lines;
    a hang shows in where each task waits."""
    out: list[str] = []
    name, chain = "", []

    def flush() -> None:
        if name:
            out.append(f"{name}: {' > '.join(chain[-frames:])}")

    for line in dump.splitlines():
        task = _TASK.match(line)
        if line.startswith("THREAD ") or task:
            flush()
            name, chain = (f"task {task['name']}" if task else line.lower()), []
            continue
        frame = _FRAME.match(line)
        if frame and name:
            chain.append(f"{_short(frame['path'])}:{frame['line']} {frame['func']}")
    flush()
    return out


def _short(path: str) -> str:
    # Installed packages and the standard library by module path, the project's own relative.
    path = re.sub(r"^.*/(site-packages|lib/python3\.\d+)/", "", path)
    return path.removeprefix(f"{PROJECT_ROOT}/")


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Process:
    """One LEAP process the harness owns: what it runs, and its current incarnation."""

    name: str
    args: list[str]
    log_path: Path
    port: int
    popen: subprocess.Popen | None = None
    starts: int = 0
    unplanned_exits: int = 0
    expected: bool = False  # whether it should be running now

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Processes:
    """The run's workers and consumer, with the environment of its own deployment."""

    env: dict[str, str]
    folder: Path
    all: dict[str, Process] = field(default_factory=dict)

    def add_worker(self, name: str, tick_seconds: float = 1.0) -> Process:
        """A worker slot: its data folder is kept across restarts (its local state)."""
        port = free_port()
        # faust's info log records each rebalance's assignment: what a post-mortem needs first.
        args = [LEAP, "worker", "--web-port", str(port), "--tick-seconds", str(tick_seconds), "--datadir", str(self.folder / name), "--loglevel", "info"]
        return self._add(Process(name, args, self.folder / f"{name}.log", port))

    def add_consumer(self) -> Process:
        """The alert consumer slot."""
        port = free_port()
        return self._add(Process("consumer", [LEAP, "consume", "--metrics-port", str(port)], self.folder / "consumer.log", port))

    def _add(self, process: Process) -> Process:
        self.all[process.name] = process
        return process

    def start(self, process: Process) -> None:
        """Start (or start again) a process; its output is appended to its log."""
        with process.log_path.open("a") as out:
            out.write(f"\n--- start {process.starts + 1} at {time.strftime('%H:%M:%S')} ---\n")
        process.popen = subprocess.Popen(
            process.args, env=self.env, stdout=process.log_path.open("a"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )
        process.starts += 1
        process.expected = True

    def kill(self, process: Process) -> None:
        """SIGKILL: no shutdown, no final commit, as in a crash."""
        if process.alive():
            process.popen.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
            process.popen.wait(30)  # type: ignore[union-attr]

    def stop(self, process: Process) -> None:
        """SIGTERM and wait: a clean shutdown (it leaves its group at once)."""
        process.expected = False
        if process.alive():
            process.popen.terminate()  # type: ignore[union-attr]
            try:
                process.popen.wait(60)  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                process.popen.kill()  # type: ignore[union-attr]
                process.popen.wait(30)  # type: ignore[union-attr]

    def supervise(self) -> list[str]:
        """Start again every process that should run and does not; returns their names."""
        restarted = []
        for process in self.all.values():
            if process.expected and not process.alive():
                process.unplanned_exits += 1
                log.warning("process exited; starting it again", process=process.name, code=process.popen.returncode if process.popen else None)
                self.start(process)
                restarted.append(process.name)
        return restarted

    def stop_all(self) -> None:
        """Stop every process (cleanly)."""
        for process in self.all.values():
            self.stop(process)


def restart_service(service: str) -> float:
    """Restart Kafka, PostgreSQL or Redis (as `make up` started them); seconds it took."""
    started = time.monotonic()
    result = subprocess.run([str(SERVICES), f"restart-{service}"], capture_output=True, text=True, env={**os.environ}, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"restarting {service} failed: {(result.stderr or result.stdout).strip()[-500:]}")
    return time.monotonic() - started


def settings_for(prefix: str, database_url: str, policy_file: Path) -> Settings:
    """The run's settings: its own topic prefix, database and policy."""
    return Settings(topic_prefix=prefix, database_url=database_url, policy_file=policy_file)
