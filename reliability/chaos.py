"""`make chaos`: publish a simulated term while faults hit every part, then check the invariants.

    python -m reliability.chaos --seed 7            # the full run (docs/reliability.md)
    python -m reliability.chaos --short --seed 7    # the shortened run inside `make test`

The input is published in chunks. After each chunk the harness does the faults the seeded
schedule (``reliability.plan``) puts there, starts again any process that exited (as systemd
would), and waits until the engine is working on the chunk, so that kills land mid-stream.
Once everything has converged it reads back the engine's states, PostgreSQL and Redis and
checks the invariants (``reliability.invariants``) against `leap replay` of the same input.
Exit status 0 only when every invariant held.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from leap.kafka import Publisher
from leap.log import get_logger
from leap.policy import load_policy
from leap.settings import PROJECT_ROOT, Settings, get_settings
from leap.topics import create_topics, engine_group, group_lag
from producers.exports import read_events
from producers.roster import load_roster_file
from producers.simulate import simulate
from reliability import invariants, plan
from reliability.collect import collect, converged, delete_run
from reliability.processes import LEAP, Process, Processes, compact_stacks, complaints, restart_service
from schemas.codec import default_codec
from streams.replay import replay

log = get_logger("leap.chaos")
console = Console(stderr=True)


class Run:
    """One chaos run: its own topic prefix, database, policy, processes and input."""

    def __init__(self, work: Path, seed: int, students: int, days: int, limit_seconds: float = 7200) -> None:
        base = get_settings()
        self.deadline = time.monotonic() + limit_seconds
        self.work, self.seed, self.rng = work, seed, random.Random(seed)
        self.prefix = f"leap-chaos-{seed}-{uuid.uuid4().hex[:6]}"
        self.now = datetime.now(base.tz)
        university = work / "university"
        self.sim = simulate(university, students=students, days=days, seed=seed, end=self.now, tz=base.tz)
        # Teaching every day of the week: alerts are suppressed on non-teaching days, and the
        # alert invariant must be tested whichever day the run happens on.
        calendar = university / "calendar.toml"
        calendar.write_text(re.sub(r"(?m)^teaching_weekdays = .*$", 'teaching_weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]', calendar.read_text()))
        policy_file = work / "institution.toml"
        text = (PROJECT_ROOT / "deploy" / "institution.toml").read_text()
        text = text.replace('calendar_file = "calendar.toml"', f'calendar_file = "{university / "calendar.toml"}"').replace("review_seconds = 10", "review_seconds = 1")
        policy_file.write_text(text)
        self.database = self.prefix.replace("-", "_")
        url = base.database_url.rsplit("/", 1)[0] + "/" + self.database
        self.settings = Settings(topic_prefix=self.prefix, database_url=url, policy_file=policy_file)
        self.env = {**os.environ, "LEAP_TOPIC_PREFIX": self.prefix, "LEAP_DATABASE_URL": url,
                    "LEAP_POLICY_FILE": str(policy_file), "LEAP_LOG_FORMAT": "json"}  # fmt: skip
        self.policy = load_policy(policy_file).engagement
        self.events = [e for e in read_events([university / "events.jsonl"]) if e is not None]
        self.roster = load_roster_file(university / "roster.csv")
        self.codec = default_codec()
        self.processes = Processes(self.env, work)
        self.sent_ids: dict[str, set[str]] = {}
        self.poison_sent = 0
        self.done: Counter[str] = Counter()
        self.seconds: dict[str, list[float]] = {}
        self.stalls: list[str] = []  # chunks after which the engine did not catch up in time

    def remaining(self) -> float:
        """Seconds left of the run's time limit."""
        return self.deadline - time.monotonic()

    # ------------------------------------------------------------ set-up

    def expected(self) -> tuple[dict, Counter]:
        """The replay of the whole input: each student's result, and what became of each source's events."""
        results, counts = replay(self.events, self.roster, self.now.date(), self.policy, self.settings.tz)
        return {r.student_id: r for r in results}, counts.by_source

    def start(self) -> None:
        """Database, topics, roster, then one worker and the consumer."""
        import psycopg

        from consumers.db import migrate

        with psycopg.connect(get_settings().database_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        migrate(self.settings)
        create_topics(self.settings)
        subprocess.run([LEAP, "roster", "load", str(self.work / "university" / "roster.csv")], env=self.env, check=True, capture_output=True)
        self.processes.add_worker("worker-1")
        self.processes.add_worker("worker-2")
        self.processes.add_consumer()
        self.processes.start(self.processes.all["worker-1"])
        self.processes.start(self.processes.all["consumer"])

    # ------------------------------------------------------------ publishing

    def publish(self, publisher: Publisher, events: list[dict], version: int | None = None) -> None:
        """Publish events keyed by student (as `leap produce` does) and wait for Kafka's acknowledgement."""
        topic = self.settings.topic("activity")
        for event in events:
            publisher.send(topic, self.codec.encode("activity_event", event, version=version), key=event["student_id"])
            self.sent_ids.setdefault(event["source"], set()).add(event["event_id"])
        publisher.flush(600)

    def pace(self, chunk_size: int, after_chunk: int, limit: float = 600) -> None:
        """Wait until the engine has less than a chunk left, starting again whatever exited.

        An engine that does not get there in ``limit`` seconds (or the run's time left) is
        recorded as stalled: the run goes on, and the report says after which chunk.
        """
        started = time.monotonic()
        deadline = started + min(limit, max(self.remaining(), 0))
        topics = [self.settings.topic("activity")]
        lag: int | str = "unknown"
        while time.monotonic() < deadline:
            self.processes.supervise()
            try:
                lag = group_lag(self.settings, engine_group(self.prefix), topics, timeout=10)
                if lag < chunk_size:
                    return
            except Exception as exc:  # the broker restarting: ask again
                log.info("lag not known yet", error=str(exc)[:200])
            time.sleep(1)
        stall = f"after chunk {after_chunk} the engine still had {lag} events to read {time.monotonic() - started:.0f} s later"
        log.warning("the engine did not catch up", after_chunk=after_chunk, lag=lag)
        self.stalls.append(stall)

    # ------------------------------------------------------------ faults

    def fault(self, fault: plan.Fault, publisher: Publisher, upcoming: list[dict]) -> None:
        """Do one fault of the schedule."""
        p = self.processes
        started = time.monotonic()
        if fault.kind == plan.KILL_WORKER:
            victim = self.rng.choice([w for w in (p.all["worker-1"], p.all["worker-2"]) if w.expected])
            p.kill(victim)
            p.start(victim)
        elif fault.kind == plan.JOIN_WORKER:
            if not p.all["worker-2"].expected:
                p.start(p.all["worker-2"])
        elif fault.kind == plan.LEAVE_WORKER:
            p.stop(p.all["worker-2"])
        elif fault.kind == plan.KILL_CONSUMER:
            p.kill(p.all["consumer"])
            p.start(p.all["consumer"])
        elif fault.kind in (plan.RESTART_KAFKA, plan.RESTART_POSTGRES, plan.RESTART_REDIS):
            restart_service({plan.RESTART_KAFKA: "kafka", plan.RESTART_POSTGRES: "postgres", plan.RESTART_REDIS: "redis"}[fault.kind])
        elif fault.kind == plan.POISON:
            encoded = [self.codec.encode("activity_event", e) for e in self.events[:50]]
            bad = plan.poison(self.rng, encoded, sorted(self.roster), 20)
            for message in bad:
                publisher.send(self.settings.topic("activity"), message.value, key=message.key)
            publisher.flush(600)
            self.poison_sent += len(bad)
        elif fault.kind == plan.OLD_SCHEMA:
            # The next events, written by an older producer: v1 has no `amends`. They are sent
            # again later in the current version (a duplicate by id, as a re-export would be).
            old = [e for e in upcoming if e.get("amends") is None][:200]
            self.publish(publisher, old, version=1)
        self.done[fault.kind] += 1
        self.seconds.setdefault(fault.kind, []).append(time.monotonic() - started)
        log.info("fault done", fault=fault.kind, after_chunk=fault.after, seconds=round(time.monotonic() - started, 1))

    def drive(self, chunks: int, counts: dict[str, int]) -> list[plan.Fault]:
        """Publish the input chunk by chunk, doing the scheduled faults after each."""
        schedule = plan.schedule(self.seed, chunks, counts)
        size = -(-len(self.events) // chunks)
        parts = [self.events[i * size : (i + 1) * size] for i in range(chunks)]
        with Publisher(self.settings, client_id="leap-chaos", **{"message.timeout.ms": 600_000}) as publisher:
            for index, part in enumerate(parts):
                self.publish(publisher, part)
                upcoming = [e for later in parts[index + 1 :] for e in later]
                for fault in (f for f in schedule if f.after == index):
                    self.fault(fault, publisher, upcoming)
                self.processes.supervise()
                if self.remaining() <= 0:
                    raise OutOfTime(f"out of time after chunk {index} of {chunks}; {'; '.join(self.stalls) or 'no stall recorded'}")
                self.pace(size, index)
        return schedule


class OutOfTime(Exception):
    """The run's time limit passed before its input was all published."""


def post_mortem(run: Run) -> None:
    """Print each process's engine counters, warnings and errors, so that a CI log shows why a run failed."""
    for process in run.processes.all.values():
        running_worker = process.name.startswith("worker") and process.alive()
        print(f"--- {process.name}: started {process.starts} times, running now: {process.alive()}; its warnings and errors ({process.log_path}):", file=sys.stderr)
        if running_worker:
            print("   ", " ".join(engine_counters(process.port)), file=sys.stderr)
        for line in complaints(process.log_path):
            print(line, file=sys.stderr)
        if running_worker:
            print(f"--- {process.name}: where its threads and tasks wait (SIGUSR1):", file=sys.stderr)
            for line in compact_stacks(stacks(process)):
                print("   ", line[:400], file=sys.stderr)


def stacks(process: Process, wait: float = 5.0) -> str:
    """What a running worker writes to its log on SIGUSR1: mode's dump of every thread's and
    asyncio task's stack (nothing if its event loop is blocked)."""
    before = process.log_path.stat().st_size
    process.popen.send_signal(signal.SIGUSR1)  # type: ignore[union-attr]
    deadline, size = time.monotonic() + wait, before
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = process.log_path.stat().st_size
        if now == size > before:  # written, and done writing
            break
        size = now
    with process.log_path.open("rb") as log_file:
        log_file.seek(before)
        return log_file.read().decode(errors="replace")


def engine_counters(port: int) -> list[str]:
    """A worker's engine counters from its /metrics (what it did, and whether a handler is stuck)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError as exc:
        return [f"/metrics did not answer: {exc}"]
    return [line for line in text.splitlines() if line.startswith("leap_engine_") and "_created" not in line and "_bucket" not in line][:40]


def watchdog(run: Run, after: float) -> threading.Timer:
    """A timer that, ``after`` seconds on, prints where every thread of the harness waits and
    the processes' post-mortem, then ends the run (exit 3): the time limit covers publishing
    and settling, and this catches whatever else hangs (a clean-up, a read back)."""

    def fire() -> None:
        print(f"the chaos run is stuck {after:.0f} s after it started; where each thread waits:", file=sys.stderr)
        for thread_id, frame in sys._current_frames().items():
            print(f"--- thread {thread_id}", "".join(traceback.format_stack(frame)), sep="\n", file=sys.stderr)
        post_mortem(run)
        sys.stderr.flush()
        os._exit(3)  # the processes die with the harness (die_with_parent)

    timer = threading.Timer(after, fire)
    timer.daemon = True
    timer.start()
    return timer


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def report(run: Run, schedule: list[plan.Fault], checks: list[invariants.Check], seconds: float) -> dict:
    """Print the faults and invariants tables; return the same as plain data."""
    planned = Counter(f.kind for f in schedule)
    faults = [[kind, str(planned[kind]), str(run.done[kind]), f"{max(run.seconds.get(kind, [0])):.1f}"] for kind in planned]
    restarts = {p.name: p.unplanned_exits for p in run.processes.all.values()}
    faults.append(["processes started again after exiting on their own", "-", str(sum(restarts.values())), "-"])
    out = Console()
    out.print(_table(f"Faults (seed {run.seed}, {len(run.events):,} events, {seconds / 60:.1f} min)", ["fault", "planned", "done", "longest (s)"], faults))
    out.print(_table("Invariants", ["invariant", "held", "detail"], [[c.name, "yes" if c.held else "NO", c.detail] for c in checks]))
    return {
        "seed": run.seed, "events": len(run.events), "minutes": round(seconds / 60, 1),
        "faults": [{"fault": f[0], "planned": f[1], "done": f[2], "longest_seconds": f[3]} for f in faults],
        "unplanned_restarts": restarts, "invariants": [{"name": c.name, "held": c.held, "detail": c.detail} for c in checks],
    }  # fmt: skip


def main(
    seed: Annotated[int, typer.Option(help="Seed of the simulated term and of the fault schedule: the same seed, the same run.")] = 7,
    short: Annotated[bool, typer.Option("--short", help="The shortened run `make test` does: fewer students and faults.")] = False,
    students: Annotated[Optional[int], typer.Option(help="Students simulated (default 700; 150 with --short).")] = None,
    days: Annotated[Optional[int], typer.Option(help="Days simulated (default 35; 14 with --short).")] = None,
    chunks: Annotated[Optional[int], typer.Option(help="Chunks the input is published in (default 40; 12 with --short).")] = None,
    converge_minutes: Annotated[Optional[float], typer.Option(help="Longest wait for the engine and consumer to settle after the last chunk (default 20; 8 with --short).")] = None,
    limit_minutes: Annotated[Optional[float], typer.Option(help="Time limit of the whole run; past it, the run fails with what it saw (default 120; 15 with --short).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write the result as JSON here too.")] = None,
    keep: Annotated[bool, typer.Option(help="Keep the run's topics, database and work folder (for a post-mortem).")] = False,
) -> None:
    """Fault-injection run on the real local services (`make up`); exits 1 if any invariant fails."""
    students = students or (150 if short else 700)
    days = days or (14 if short else 35)
    chunks = chunks or (12 if short else 40)
    converge_minutes = converge_minutes or (8.0 if short else 20.0)
    limit_minutes = limit_minutes or (15.0 if short else 120.0)
    work = Path(tempfile.mkdtemp(prefix="leap-chaos-"))
    started = time.monotonic()
    with console.status("simulating the term and replaying it"):
        run = Run(work, seed, students, days, limit_minutes * 60)
        expected, by_source = run.expected()
    console.print(f"chaos run {run.prefix}: {len(run.events):,} events, {students} students x {days} days; work folder {work}")
    failed = True  # until the checks say otherwise (an exception leaves it so)
    stuck = watchdog(run, limit_minutes * 60 + 300)
    try:
        run.start()
        schedule = run.drive(chunks, plan.SHORT if short else plan.FULL)
        with console.status("waiting for the engine and the consumer to settle"):
            settled = converged(run, expected, max(60.0, min(converge_minutes * 60, run.remaining())))
        checks = collect(run, expected, by_source, settled, run.stalls)
        failed = not all(c.held for c in checks)
        result = report(run, schedule, checks, time.monotonic() - started)
        if out is not None:
            out.write_text(json.dumps(result, indent=2) + "\n")
    except OutOfTime as exc:
        console.print(f"[red]{exc}[/]")
    finally:
        if failed:
            post_mortem(run)
        run.processes.stop_all()
        if not keep:
            delete_run(run)
        if failed:
            # The processes' logs are what a post-mortem of a failed run starts from.
            console.print(f"[red]the run failed[/]: its processes' logs are kept in {work}")
        elif not keep:
            shutil.rmtree(work, ignore_errors=True)
        stuck.cancel()
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
