"""The data-protection commands: ``leap sar``, ``leap erase`` and ``leap retention run``.

Each acts ``--as`` a user (default: the person at the command line, as a LEAP
administrator) through ``consumers.protection``, the same functions the portal calls.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from consumers.records_cli import AsJson, AsUser, parse_day, session
from leap.console import err, fail, out
from leap.settings import get_settings

retention_app = typer.Typer(help="Delete rows past the retention periods in the policy (its retention section).", no_args_is_help=True)


@contextmanager
def services() -> Iterator[None]:
    """Redis, Kafka or the pseudonym key failing ends the command with one line naming it."""
    import redis
    from confluent_kafka import KafkaException

    from consumers.protection.pseudonym import KeyMissing
    from leap.kafka import DeliveryError

    try:
        yield
    except redis.RedisError as exc:
        fail(f"Redis is not reachable ({exc}); is it running (make up)?")
    except (KafkaException, DeliveryError, TimeoutError) as exc:
        fail(f"Kafka: {exc}")
    except KeyMissing as exc:
        fail(str(exc), 2)


def _policy():  # type: ignore[no-untyped-def]
    from leap.policy import PolicyError, load_policy

    try:
        return load_policy(get_settings().policy_file)
    except PolicyError as exc:
        fail(str(exc))


def sar(
    student: Annotated[str, typer.Argument(help="Student id.")],
    out_file: Annotated[Optional[Path], typer.Option("--out", dir_okay=False, help="Zip file to write (default: leap-sar-STUDENT-TIME.zip here); never overwritten.")] = None,
    purpose: Annotated[Optional[str], typer.Option(help="Why (recorded in the access log; an administrator's request reference).")] = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Export everything LEAP holds about a student as one zip archive (subject access request).

    PostgreSQL rows, Redis state and alert-stream entries, the roster and state topics'
    latest messages and the activity events still on Kafka, as JSON with a README.txt. The
    student may export their own; an administrator any, with a purpose. Logged.
    """
    from consumers.protection import export_sar

    if out_file is not None and out_file.exists():
        fail(f"{out_file} already exists; choose another --out", 2)
    settings = get_settings()
    progress = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=err, transient=True, disable=as_json)  # fmt: skip
    tasks: dict[str, int] = {}

    def advance(topic: str, done: int, total: int) -> None:
        if topic not in tasks:
            tasks[topic] = progress.add_task(f"reading {topic}", total=total or 1)
        progress.update(tasks[topic], completed=done if total else 1)

    with session(as_user, purpose) as (conn, actor), services(), progress:
        export = export_sar(conn, actor, student, settings, progress=advance, stated=purpose)
    path = out_file or Path(export.file_name)
    try:
        with path.open("xb") as handle:
            handle.write(export.data)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
    if as_json:
        print(json.dumps({"file": str(path), "bytes": len(export.data), "records": export.counts}))
        return
    out.print(f"wrote {path} ({len(export.data):,} bytes): {sum(export.counts.values()):,} records", markup=False, highlight=False)
    table = Table("file", "records")
    for name, n in export.counts.items():
        table.add_row(name, f"{n:,}")
    out.print(table)


def erase(
    student: Annotated[str, typer.Argument(help="Student id.")],
    reason: Annotated[str, typer.Option(help="Why (the request and its reference); recorded with the erasure.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation (needed when not at a terminal).")] = False,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Erase a student from PostgreSQL, Redis and the compacted topics, and record the erasure.

    Administrators only, and not while the student is active on the roster. Their access-log
    entries are kept but pseudonymised; activity events on Kafka remain until the topic's
    retention removes them (the output says by when). Cannot be undone.
    """
    from consumers.protection import erase_student

    if not yes:
        if not sys.stdin.isatty():
            fail("erasure cannot be undone: pass --yes to erase without a prompt", 2)
        typer.confirm(f"Erase everything LEAP holds about {student}? This cannot be undone", abort=True)
    settings = get_settings()
    engine_days = _policy().engagement.retention_days
    with session(as_user, reason) as (conn, actor), services():
        done = erase_student(conn, actor, student, reason, settings, engine_days=engine_days)
    if as_json:
        print(json.dumps({"erasure_id": done.erasure_id, "subject": done.subject, "removed": done.removed, "not_removed": done.not_removed}))
        return
    from consumers.protection.erasure_rules import summary_lines
    from consumers.protection.tables import HOW

    out.print(f"erased {student} (erasure {done.erasure_id}; now recorded as {done.subject})", markup=False, highlight=False)
    for line in summary_lines(done.removed, done.not_removed):
        out.print(f"  {line}", markup=False, highlight=False)
    for table, how in HOW.items():
        out.print(f"  {table}: {how}", markup=False, highlight=False)


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")] = False,
    today: Annotated[Optional[str], typer.Option(help="Run as of this day, YYYY-MM-DD (default: today; never later).")] = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Delete rows past their retention period (the policy's retention section); safe to run daily.

    Prints each table's cut-off (the first day kept) and the rows deleted. Administrators only.
    """
    from consumers.protection import run_retention
    from consumers.protection.cutoffs import today_error

    settings = get_settings()
    real_today = datetime.now(settings.tz).date()
    day = parse_day(today) or real_today
    problem = today_error(day, real_today)
    if problem:
        fail(problem, 2)
    policy = _policy()
    with session(as_user, "retention run") as (conn, actor):
        outcomes = run_retention(conn, actor, policy.retention, day, settings.tz, dry_run=dry_run)
    if as_json:
        print(json.dumps({"today": day.isoformat(), "dry_run": dry_run, "deleted": {o.label: o.rows for o in outcomes},
                          "keeps_from": {o.label: o.keeps_from.isoformat() for o in outcomes}}))  # fmt: skip
        return
    verb = "would delete" if dry_run else "deleted"
    table = Table("table", "keeps from", verb, title=f"retention as of {day.isoformat()}" + (" (dry run)" if dry_run else ""))
    for o in outcomes:
        table.add_row(o.label, o.keeps_from.isoformat(), f"{o.rows:,}")
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add the data-protection commands to ``leap``."""
    app.command()(sar)
    app.command()(erase)
    app.add_typer(retention_app, name="retention")
