"""The consumer's and the records' commands: ``leap db``, ``consume``, ``exemptions``, ``status``, ``alerts list|summary``.

The staff-facing records' commands are in ``consumers/records_cli.py``.
"""

from __future__ import annotations

import getpass
import json
import signal
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from leap.console import err, fail, out
from leap.health import serve_metrics
from leap.log import get_logger
from leap.settings import get_settings

db_app = typer.Typer(help="PostgreSQL: LEAP's system of record.", no_args_is_help=True)
exemptions_app = typer.Typer(help="Periods in which a student's alerts are suppressed.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts raised for tutors.", no_args_is_help=True)

log = get_logger("leap.cli")



def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _connect(autocommit: bool = False):  # type: ignore[no-untyped-def]
    import psycopg

    from consumers.db import connect

    try:
        return connect(get_settings(), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        fail(f"PostgreSQL is not reachable ({str(exc).strip()}); is it running (make up)?")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply the schema migrations not yet applied (idempotent; `make up` runs it)."""
    import psycopg

    from consumers.db import migrate

    try:
        done = migrate(get_settings())
    except psycopg.OperationalError as exc:
        fail(f"PostgreSQL is not reachable ({str(exc).strip()})")
    out.print(f"applied {', '.join(done)}" if done else "database schema is up to date")


@db_app.command("status")
def db_status() -> None:
    """List the migrations applied to the database."""
    from consumers.db import MIGRATIONS, applied

    done = set(applied(get_settings()))
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.name.endswith(".rollback.sql"):
            continue
        out.print(f"{'applied ' if path.stem in done else 'PENDING '} {path.stem}")


def consume(
    metrics_port: Annotated[int, typer.Option(help="Port of /metrics, /healthz (503 while storage is unreachable) and /readyz (503 also before partitions are assigned).")] = 9102,
) -> None:
    """Consume band changes, states, summaries and the roster into PostgreSQL and Redis; raise alerts."""
    from leap.calendar import CalendarError, load_calendar
    from consumers.consumer import AlertConsumer
    from leap.policy import PolicyError, load_policy

    settings = get_settings()
    try:
        policy = load_policy(settings.policy_file)
        calendar = load_calendar(policy.alerts.calendar_file)
    except (PolicyError, CalendarError) as exc:
        fail(str(exc))
    consumer = AlertConsumer(settings, policy.alerts, calendar, engagement=policy.engagement, names=policy.sources.display_names)
    serve_metrics(metrics_port, consumer.health, ready=consumer.readiness)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("consumer started", metrics=f"http://127.0.0.1:{metrics_port}/metrics", calendar=str(policy.alerts.calendar_file))
    consumer.run(stop)
    log.info("consumer stopped")


@exemptions_app.command("load")
def exemptions_load(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: student,from,to,reason[,note].")],
    as_user: Annotated[Optional[str], typer.Option("--as", help="Who records them (staff directory); default: you, as administrator.")] = None,
) -> None:
    """Store exemptions (authorised absence, placement, dissertation, interruption, withdrawn).

    Each student's exemption is allowed or refused by the access policy (department staff
    of the student, or an administrator) and written to that student's access log.
    """
    from consumers import records
    from consumers.exemptions import parse_exemptions

    rows, errors = parse_exemptions(path.read_text())
    for message in errors:
        err.print(f"[red]{path.name}[/] {message}")
    with _connect(autocommit=True) as conn:
        try:
            actor = records.command_line_actor(conn, as_user, _operator(), f"exemptions file {path.name}")
            added, existing, refused = records.add_exemptions(conn, actor, rows)
        except records.RecordError as exc:
            fail(str(exc), exc.exit_code)
    for message in refused:
        err.print(f"{path.name} {message}", markup=False)
    out.print(f"{added:,} exemptions added, {existing:,} already stored, {len(refused):,} refused, {len(errors):,} rejected")
    errors = errors + refused
    if errors:
        raise typer.Exit(1)


def status(
    student: Annotated[str, typer.Argument(help="Student id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    purpose: Annotated[str, typer.Option(help="Why you are looking (recorded in the access log).")] = "command-line status",
    as_user: Annotated[Optional[str], typer.Option("--as", help="Act as this user (staff directory or student id); default: you, as administrator.")] = None,
) -> None:
    """A student's band, score, explanation, days since last activity, open alerts and exemptions."""
    from consumers import records
    from leap.explain import explain
    from leap.policy import PolicyError, cached_policy

    try:
        policy = cached_policy(get_settings().policy_file)
    except PolicyError as exc:
        fail(str(exc))
    with _connect(autocommit=True) as conn:
        try:
            actor = records.command_line_actor(conn, as_user, _operator(), purpose)
            found = records.status_of(conn, actor, student, purpose)
        except records.RecordError as exc:
            fail(str(exc), exc.exit_code)
    if found is None:
        fail(f"no student {student!r} on the roster or in the engine's output", 2)
    if as_json:
        print(json.dumps(found, default=str))
        return
    current = found["current"]
    roster = found["roster"] or {}
    out.print(f"[bold]{student}[/] {roster.get('programme') or ''} year {roster.get('year_of_study') or '?'}, {roster.get('status', 'unknown')}, tutor {roster.get('personal_tutor') or '-'}")
    if current is None:
        out.print("no engagement score yet")
    else:
        row = {k: current[k] for k in ("band", "score", "cohort", "days_since_last_activity")}  # what a v1 record lacks
        viewer = "student" if as_user is not None and as_user == student else "staff"  # a student reading their own
        explained = explain(current["explanation"], viewer, engagement=policy.engagement, names=policy.sources.display_names, fill=row)
        out.print(explained.to_text(), markup=False, highlight=False, soft_wrap=True)
    for alert in found["open_alerts"]:
        out.print(f"open alert: {alert['kind']} ({alert['status']}) for {alert['recipient']} on {alert['day']}: {alert['reason']}")
    for exemption in found["exemptions"]:
        out.print(f"exemption: {exemption['reason']} {exemption['starts']} to {exemption['ends']}")


@alerts_app.command("list")
def alerts_list(
    tutor: Annotated[Optional[str], typer.Option(help="Only this recipient's alerts.")] = None,
    include: Annotated[str, typer.Option(help="Statuses to show, comma-separated.")] = "new,acknowledged,held",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per alert.")] = False,
    as_user: Annotated[Optional[str], typer.Option("--as", help="Act as this user: only alerts about students they may see.")] = None,
) -> None:
    """Alerts needing attention, newest first (each student shown is in their access log)."""
    from consumers import records

    with _connect(autocommit=True) as conn:
        try:
            actor = records.command_line_actor(conn, as_user, _operator())
            rows = records.alerts_for(conn, actor, tutor, include.split(","))
        except records.RecordError as exc:
            fail(str(exc), exc.exit_code)
    if as_json:
        for row in rows:
            print(json.dumps(row, default=str))
        return
    table = Table("day", "student", "kind", "status", "recipient", "band", "reason", title=f"{len(rows):,} alerts")
    for row in rows:
        table.add_row(str(row["day"]), row["student_id"], row["kind"], row["status"], row["recipient"], row["band"] or "", row["reason"])
    out.print(table)


@alerts_app.command("summary")
def alerts_summary(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    wait: Annotated[float, typer.Option(help="First wait up to this many seconds for `leap consume` to have stored everything published.")] = 0.0,
) -> None:
    """How many alerts of each kind are in each status, and how many were suppressed (counts only)."""
    import time

    from consumers.consumer import TOPICS
    from consumers.records import alert_summary
    from leap.topics import consumer_group, group_lag

    settings = get_settings()
    if wait > 0:
        deadline = time.monotonic() + wait
        topics = [settings.topic(name) for name in TOPICS]
        with err.status("waiting for the consumer to store everything"):
            while (lag := group_lag(settings, consumer_group(settings.topic_prefix), topics)) > 0:
                if time.monotonic() > deadline:
                    fail(f"the consumer still has {lag:,} messages to store after {wait:.0f} s")
                time.sleep(1.0)
    with _connect() as conn:
        rows = alert_summary(conn)
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("kind", "status", "alerts", title="alerts")
    for row in rows:
        table.add_row(row["kind"], row["status"], f"{row['n']:,}")
    out.print(table)
