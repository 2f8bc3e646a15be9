"""``leap tail``: follow a source system live (today: Moodle's log table)."""

from __future__ import annotations

import signal
from typing import Annotated, Optional

import typer

from leap.console import fail, out

tail_app = typer.Typer(help="Follow a source system live, publishing its activity as it happens.", no_args_is_help=True)


@tail_app.command("moodle")
def tail_moodle(
    dsn: Annotated[Optional[str], typer.Option(help="Moodle's database, postgresql://user:password@host/moodle (default LEAP_MOODLE_DSN; prefer the variable: a command line is visible to others).")] = None,
    site: Annotated[str, typer.Option(help="Name of the Moodle site; part of every event id, as with leap produce moodle.")] = "moodle",
    table_prefix: Annotated[str, typer.Option(help="Moodle's table prefix ($CFG->prefix).")] = "mdl_",
    poll_seconds: Annotated[float, typer.Option(min=0.1, help="Seconds between polls when there is nothing new.")] = 2.0,
    batch: Annotated[int, typer.Option(min=1, help="Rows per poll (and per Kafka transaction).")] = 5000,
    follow: Annotated[bool, typer.Option("--follow/--once", help="Keep polling (default), or stop once caught up (for cron and backfills).")] = True,
    metrics_port: Annotated[int, typer.Option(help="Port of /metrics, /healthz and /readyz (503 while the database or Kafka is unreachable).")] = 9104,
) -> None:
    """Publish Moodle's logstore_standard_log as it is written: each row once, exactly where the last run stopped.

    Rows are parsed as `leap produce moodle` parses an export, and published with the tail's
    position in one Kafka transaction: kill it at any moment and it resumes without losing or
    repeating a row.
    """
    from leap.health import serve_metrics
    from leap.settings import get_settings
    from producers.moodle_tail import MoodleTail, redact

    settings = get_settings()
    url = dsn or (settings.moodle_dsn.get_secret_value() if settings.moodle_dsn else None)
    if not url:
        fail("no Moodle database: set LEAP_MOODLE_DSN (or --dsn) to postgresql://user:password@host/moodle", 2)
    if not url.startswith(("postgresql://", "postgres://")):
        fail(f"{redact(url)}: only PostgreSQL is supported so far (postgresql://...)", 2)
    try:
        tail = MoodleTail(settings, url, site=site, table_prefix=table_prefix, batch=batch)
    except ValueError as exc:
        fail(str(exc), 2)
    serve_metrics(metrics_port, tail.health)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: tail.stop.set())
    out.print(f"tailing {tail.adapter.location} as {tail.name} (metrics and /healthz on http://127.0.0.1:{metrics_port})")
    tail.run(follow=follow, poll_seconds=poll_seconds)
    out.print(f"{tail.name}: stopped at id {tail.position.high:,} ({len(tail.position.gaps)} ids awaited below it)")
