"""The ``leap`` command: every operation on LEAP, for operators and for the Makefile."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Optional
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from leap.log import configure_logging, get_logger
from leap.settings import get_settings

app = typer.Typer(
    help="LEAP: real-time learner engagement. Settings come from LEAP_* environment variables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
topics_app = typer.Typer(help="Create and inspect LEAP's Kafka topics.", no_args_is_help=True)
produce_app = typer.Typer(help="Publish source systems' exports as activity events.", no_args_is_help=True)
sample_app = typer.Typer(help="Write synthetic exports in the real source formats.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(produce_app, name="produce")
app.add_typer(sample_app, name="sample")

out = Console()
err = Console(stderr=True)
log = get_logger("leap.cli")


@app.callback()
def _setup() -> None:
    configure_logging(get_settings())


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


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
        _fail(f"unknown service(s) {', '.join(unknown)}; choose from {', '.join(CHECKS)}", 2)
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
        _fail(str(exc))


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


def _progress(total: int, enabled: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not enabled,
        transient=True,
    )


@produce_app.command("moodle")
def produce_moodle(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="logstore_standard_log CSV dump or Logs report CSV.")],
    site: Annotated[str, typer.Option(help="Name of the Moodle site; part of every event id.")] = "moodle",
    time_format: Annotated[
        Optional[list[str]],
        typer.Option(help="strptime format of the Logs report's Time column (repeatable; default: Moodle English)."),
    ] = None,
    tz: Annotated[Optional[str], typer.Option(help="Time zone of the Logs report's Time column (default LEAP_TIMEZONE).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line of counts.")] = False,
) -> None:
    """Publish a Moodle log export: one activity event per row that is a student's own engagement.

    The format (table dump or Logs report) is detected from the first row. Malformed rows go
    to the dead-letter topic with file, line and reason; the counts satisfy
    read = published + skipped + rejected.
    """
    from leap.kafka import Publisher
    from producers import moodle
    from producers.ingest import CsvRecord, open_text, publish_records, read_csv
    from schemas.codec import default_codec

    settings = get_settings()
    zone = ZoneInfo(tz) if tz else settings.tz
    with open_text(path) as stream:
        records = read_csv(stream)
        first = next(records, None)
        if first is None or first.fields is None:
            _fail(f"{path}: empty or unreadable first row")
        try:
            fmt, is_header = moodle.detect_format(first.fields)
        except ValueError as exc:
            _fail(f"{path}: {exc}")
        parse_row = moodle.row_parser(
            fmt,
            first.fields,
            site=site,
            location=str(path),
            tz=zone,
            time_formats=tuple(time_format) if time_format else moodle.DEFAULT_REPORT_TIME_FORMATS,
        )
        body = records if is_header else _prepend(first, records)
        size = path.stat().st_size
        with _progress(size, size > 5_000_000 and not as_json) as progress, Publisher(settings) as publisher:
            task = progress.add_task(f"{path.name} ({fmt})", total=size)

            def advance(record: CsvRecord) -> None:
                progress.advance(task, len(record.raw))

            counts = publish_records(
                body,
                lambda record: parse_row(record.fields, record.line),
                source="moodle",
                location=str(path),
                settings=settings,
                publisher=publisher,
                codec=default_codec(),
                on_record=advance,
            )
    log.info("moodle export published", file=str(path), format=fmt, **counts.summary())
    if not as_json:
        table = Table("read", "published", "skipped", "rejected", title=f"{path.name} ({fmt})")
        table.add_row(*(f"{v:,}" for v in counts.summary().values()))
        out.print(table)
        for reason, n in counts.skipped_by_reason.most_common():
            out.print(f"  skipped {n:,}: {reason}")
        for reason, n in counts.rejected_by_reason.most_common():
            out.print(f"  rejected {n:,}: {reason} (see {settings.topic('dead-letter')})")
    else:
        print(json.dumps(counts.summary()))


def _prepend(first, rest):  # type: ignore[no-untyped-def]
    yield first
    yield from rest


@sample_app.command("moodle")
def sample_moodle(
    path: Annotated[Path, typer.Argument(dir_okay=False, help="Where to write the CSV dump.")],
    rows: Annotated[int, typer.Option(min=1, help="Number of log rows.")] = 20_000,
    students: Annotated[int, typer.Option(min=1, help="Number of distinct students.")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same file.")] = 1,
) -> None:
    """Write a synthetic logstore_standard_log CSV dump in the real export format."""
    from producers.moodle_sample import write_dump

    intents = write_dump(path, rows, students=students, seed=seed)
    out.print(f"wrote {rows:,} rows to {path}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(intents.items())))


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    sys.exit(main())
