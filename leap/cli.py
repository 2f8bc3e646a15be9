"""The ``leap`` command: every operation on LEAP, for operators and for the Makefile."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from leap.console import err, fail, out
from leap.dead_letters_cli import dead_letters_app
from leap.log import configure_logging, get_logger
from leap.settings import get_settings

app = typer.Typer(
    help="LEAP: real-time learner engagement. Settings come from LEAP_* environment variables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
topics_app = typer.Typer(help="Create and inspect LEAP's Kafka topics.", no_args_is_help=True)
sample_app = typer.Typer(help="Write synthetic exports in the real source formats.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(dead_letters_app, name="dead-letters")
app.add_typer(sample_app, name="sample")

log = get_logger("leap.cli")


@app.callback()
def _setup() -> None:
    configure_logging(get_settings())



@app.command()
def check(
    services: Annotated[Optional[list[str]], typer.Argument(help="kafka, redis, postgres (default: all)")] = None,
    wait: Annotated[float, typer.Option(help="Keep trying for up to this many seconds.")] = 0.0,
) -> None:
    """Check that Kafka, Redis and PostgreSQL answer (exit 1 naming any that does not)."""
    from leap.health import CHECKS

    settings = get_settings()
    names = services or list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        fail(f"unknown service(s) {', '.join(unknown)}; choose from {', '.join(CHECKS)}", 2)
    deadline = time.monotonic() + wait
    failed: dict[str, str] = {}
    for name in names:
        while True:
            try:
                detail = CHECKS[name](settings, 3.0)
                out.print(f"{name}: ok ({detail})")
                failed.pop(name, None)
                break
            except Exception as exc:  # any failure to answer is "not ready"; say which
                failed[name] = str(exc)
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.5)
    for name, reason in failed.items():
        err.print(f"{name}: [red]not reachable[/] ({reason})")
    if failed:
        raise typer.Exit(1)


@topics_app.command("create")
def topics_create() -> None:
    """Create LEAP's topics (idempotent) and apply their retention and compaction settings."""
    from leap.topics import create_topics

    try:
        for line in create_topics(get_settings()):
            out.print(line)
    except RuntimeError as exc:
        fail(str(exc))


@topics_app.command("list")
def topics_list(as_json: Annotated[bool, typer.Option("--json", help="One JSON object per topic.")] = False) -> None:
    """Show LEAP's topics with partitions, message counts and purpose."""
    from leap.topics import list_topics

    statuses = list_topics(get_settings())
    if as_json:
        for status in statuses:
            print(json.dumps(status.__dict__))
        return
    table = Table("topic", "partitions", "messages", "cleanup", "purpose")
    table.columns[0].no_wrap = True
    for s in statuses:
        table.add_row(s.name, str(s.partitions), f"{s.messages:,}", s.cleanup_policy, s.purpose)
    out.print(table)


@sample_app.command("moodle")
def sample_moodle(
    path: Annotated[Path, typer.Argument(dir_okay=False, help="Where to write the CSV dump.")],
    rows: Annotated[int, typer.Option(min=1, help="Number of log rows.")] = 20_000,
    students: Annotated[int, typer.Option(min=1, help="Number of distinct students.")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same file.")] = 1,
    roster: Annotated[Optional[Path], typer.Option(exists=True, dir_okay=False, help="Use the Moodle user ids of this roster's moodle_user_id column (so the identity map knows them).")] = None,
) -> None:
    """Write a synthetic logstore_standard_log CSV dump in the real export format."""
    import csv

    from producers.moodle_sample import write_dump

    user_ids = None
    if roster is not None:
        with roster.open(newline="", encoding="utf-8-sig") as stream:
            user_ids = [int(row["moodle_user_id"]) for row in csv.DictReader(stream) if (row.get("moodle_user_id") or "").isdigit()]
        if not user_ids:
            fail(f"{roster} has no moodle_user_id column with numeric ids")
    intents = write_dump(path, rows, students=students, seed=seed, user_ids=user_ids)
    out.print(f"wrote {rows:,} rows to {path}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(intents.items())))


@app.command()
def worker(
    web_port: Annotated[int, typer.Option(help="Port of this worker's web server (/metrics). Each worker its own.")] = 6066,
    tick_seconds: Annotated[float, typer.Option(help="Clock tick interval of the elected leader; 0 disables ticks.")] = 5.0,
    datadir: Annotated[Optional[Path], typer.Option(help="This worker's data folder, its tables on disk with LEAP_ENGINE_STORE=rocksdb: start it again with the same folder to resume from them (default under LEAP_STATE_DIR, one per web port). Never two workers in one folder.")] = None,
    loglevel: Annotated[str, typer.Option(help="Faust log level.")] = "warning",
) -> None:
    """Run a stream worker: per-student state, cohort baselines, band changes. Run several to share partitions.

    Its tables are kept in its data folder (LEAP_ENGINE_STORE=rocksdb, the default), so a restart reads only the changelog written since; delete the folder to make it restore everything from the changelogs.
    """
    import faust
    import mode.loop

    # Before faust makes its loop: uvloop's cheaper callbacks and futures (docs/performance.md).
    mode.loop.use("uvloop")
    from streams.app import create_app

    settings = get_settings()
    engine_app = create_app(settings, web_port=web_port, datadir=datadir, tick_seconds=tick_seconds, loglevel=loglevel)
    faust.Worker(engine_app, loglevel=loglevel).execute_from_commandline()


@app.command()
def reset(
    yes: Annotated[bool, typer.Option("--yes", help="Really delete everything (there is no undo).")] = False,
) -> None:
    """Start this deployment afresh: delete its topics, empty its tables and Redis keys, remove the engine's local state.

    For development and `make run` only: every event, record and access-log line goes. Stop the workers, consumer and portal first.
    """
    import shutil

    from consumers.db import empty
    from consumers.live import Live
    from leap.topics import create_topics, delete_topics

    settings = get_settings()
    if not yes:
        fail(f"leap reset deletes every LEAP topic ({settings.topic_prefix}.*), table row and Redis key of this deployment: add --yes")
    with err.status("deleting topics"):
        topics = delete_topics(settings)
        create_topics(settings)
    tables = empty(settings)
    keys = Live.connect(settings).clear()
    engine_dir = settings.state_dir / "engine"
    shutil.rmtree(engine_dir, ignore_errors=True)
    log.info("reset", topics=len(topics), tables=len(tables), redis_keys=keys)
    out.print(f"reset: {len(topics)} topics deleted and LEAP's created empty, {len(tables)} tables emptied, {keys:,} Redis keys deleted, {engine_dir} removed")


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Argument(file_okay=False, help="Folder for events.jsonl, roster.csv, calendar.toml and outcomes.csv.")],
    students: Annotated[int, typer.Option(min=1, help="Number of students.")] = 1000,
    days: Annotated[int, typer.Option(min=1, help="Days of activity, ending now.")] = 35,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same university.")] = 1,
    end: Annotated[Optional[str], typer.Option(help="End instant, ISO 8601 (default: now).")] = None,
    exports: Annotated[bool, typer.Option("--exports", help="Also write exports/: the same activity as each source system's own export files, and identities.csv.")] = False,
) -> None:
    """Write a synthetic university: activity events (JSON lines), its roster, calendar and planted outcomes."""
    from producers.simulate import simulate as run_simulation

    settings = get_settings()
    end_at = _instant(end, settings.tz)
    with err.status(f"simulating {students:,} students over {days} days"):
        counts = run_simulation(out_dir, students=students, days=days, seed=seed, end=end_at, tz=settings.tz)
    out.print(
        f"wrote {counts.events:,} events for {counts.students:,} students to {out_dir}/events.jsonl "
        f"({counts.duplicates:,} duplicates, {counts.corrections:,} corrections, {counts.late_uploads:,} late attendance uploads) "
        f"with {out_dir}/roster.csv and {out_dir}/outcomes.csv"
    )
    if exports:
        from producers.simulate_exports import write_exports

        for name, path in write_exports(out_dir, settings.tz).items():
            out.print(f"wrote {path} (for {'leap identities load' if name == 'identities' else f'leap produce {name}'})", highlight=False, soft_wrap=True)


clock_app = typer.Typer(help="The engine's clock.", no_args_is_help=True)
app.add_typer(clock_app, name="clock")


@clock_app.command("tick")
def clock_tick(
    at: Annotated[Optional[str], typer.Option(help="The time the tick says it is, ISO 8601 (default: now).")] = None,
) -> None:
    """Send one tick to every engine partition (workers' leader does this every few seconds)."""
    from streams.clock import send_tick

    settings = get_settings()
    when = _instant(at, settings.tz)
    send_tick(settings, int(when.timestamp() * 1000))
    out.print(f"tick at {when.isoformat()} sent to {settings.partitions} partitions")


@app.command()
def bands(
    wait_for: Annotated[int, typer.Option(help="Wait until this many students have a state and the engine has read all activity and settled its baselines.")] = 0,
    timeout: Annotated[float, typer.Option(help="Give up waiting after this many seconds.")] = 600.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per cohort.")] = False,
) -> None:
    """How many students of each cohort are in each band now (aggregate counts only)."""
    from streams.outputs import BAND_COLUMNS, bands_by_cohort, latest_states, pooled_size

    settings = get_settings()
    deadline = time.monotonic() + timeout
    with err.status("reading students' current state") as status:
        while True:
            states = latest_states(settings)
            enough = len(states) >= wait_for
            if enough and (not wait_for or _engine_caught_up(settings)):
                break
            if time.monotonic() > deadline:
                if not enough:
                    fail(f"only {len(states):,} of {wait_for:,} students have a state after {timeout:.0f} s")
                fail(f"the engine has not settled (input left to read, or baselines not yet applied) after {timeout:.0f} s")
            status.update(f"{len(states):,} of {wait_for:,} students scored" + ("; waiting for the engine to settle" if enough else ""))
            time.sleep(1.0)
    from leap.policy import PolicyError, load_policy

    try:
        min_size = load_policy(settings.policy_file).engagement.min_cohort_size
    except PolicyError as exc:
        fail(str(exc))
    table_data = bands_by_cohort(states, min_size)
    if as_json:
        for cohort, counts in table_data.items():
            print(json.dumps({"cohort": cohort, **({b: counts.get(b, 0) for b in BAND_COLUMNS} if counts is not None else {"withheld": pooled_size(states, table_data)})}))
        return
    table = Table("cohort", *BAND_COLUMNS, "students", title=f"Bands by cohort ({len(states):,} students)")
    totals: dict[str, int] = {b: 0 for b in BAND_COLUMNS}
    for cohort, counts in table_data.items():
        if counts is None:
            table.add_row(cohort, *("-" for _ in BAND_COLUMNS), str(pooled_size(states, table_data)))
            continue
        table.add_row(cohort, *(str(counts.get(b, 0)) for b in BAND_COLUMNS), str(sum(counts.values())))
        for b in BAND_COLUMNS:
            totals[b] += counts.get(b, 0)
    table.add_row("all shown", *(str(totals[b]) for b in BAND_COLUMNS), str(sum(totals.values())), style="bold")
    out.print(table)
    if any(c is None for c in table_data.values()):
        out.print(f"Counts of groups under {min_size} students are withheld (min_cohort_size): they could identify someone.")


def _instant(text, tz):  # type: ignore[no-untyped-def]
    """An ISO 8601 instant (local to ``tz`` when it has no offset), or now."""
    from datetime import datetime

    try:
        when = datetime.fromisoformat(text) if text else datetime.now(tz)
    except ValueError:
        fail(f"{text!r} is not an ISO 8601 date and time")
    return when if when.tzinfo else when.replace(tzinfo=tz)


def _engine_caught_up(settings) -> bool:  # type: ignore[no-untyped-def]
    """Whether the engine has read everything published and its baselines have settled.

    Settled: no activity, roster or group contribution left to read, and on the clock topic
    at most the latest tick per partition (ticks keep coming; a baseline broadcast not yet
    applied is one message per partition per group, more than that).
    """
    from leap.topics import engine_group, group_lag

    group = engine_group(settings.topic_prefix)
    try:
        inputs = group_lag(settings, group, [settings.topic("activity"), settings.topic("roster"), settings.topic("cohort-contributions")])
        return inputs == 0 and group_lag(settings, group, [settings.topic("clock")]) <= 2 * settings.partitions
    except Exception:  # the group does not exist yet
        return False


def _add_record_commands() -> None:
    from consumers.cli import alerts_app, consume, db_app, exemptions_app, status
    from consumers.protection.cli import register as register_protection
    from consumers.records_cli import register as register_records
    from portal.cli import portal_app
    from producers.http.cli import ingest_app
    from producers.produce_cli import PRODUCE_HELP, dead_letters_replay, produce, roster_app
    from producers.identities_cli import identities_app
    from producers.tail_cli import tail_app
    from streams.cli import evaluate, replay

    app.add_typer(db_app, name="db")
    app.add_typer(portal_app, name="portal")
    app.add_typer(identities_app, name="identities")
    app.add_typer(roster_app, name="roster")
    app.command(help=PRODUCE_HELP)(produce)
    dead_letters_app.command("replay")(dead_letters_replay)
    app.add_typer(ingest_app, name="ingest")
    app.add_typer(tail_app, name="tail")
    app.add_typer(exemptions_app, name="exemptions")
    app.add_typer(alerts_app, name="alerts")
    app.command()(consume)
    app.command()(status)
    app.command()(replay)
    app.command()(evaluate)
    register_records(app)
    register_protection(app)


_add_record_commands()


def main() -> None:
    """Console entry point."""
    from pydantic import ValidationError

    from leap.console import print_error
    from leap.settings import Settings, settings_problem

    try:
        app()
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        print_error(f"bad setting: {settings_problem(exc)}")  # a typo in the environment, not a bug
        sys.exit(2)


if __name__ == "__main__":
    sys.exit(main())
