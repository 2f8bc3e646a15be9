"""``leap produce`` and ``leap roster load``: publish source exports through their adapters.

Both fail fast with one line when Kafka cannot be reached (exit 4), print what happened to
every record (read, published, skipped, rejected, quarantined, with reasons), and are safe
to run again: event ids come from the records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from leap.cli_exports import EncodingOption, SiteOption, TimeFormatOption, TimetableOption, TzOption, export_options, progress_bar
from leap.console import err, fail, out
from leap.log import get_logger
from leap.settings import get_settings

log = get_logger("leap.produce")


def _sources_help() -> str:
    from producers.sources import adapters

    return "\n\n".join(f"[bold]{name}[/]: {cls.summary}" for name, cls in adapters().items())


PRODUCE_HELP = f"""Publish a source system's export through its adapter: one activity event per record that is a student's own engagement.

Records that are not (a teacher's view, a machine account) are skipped and counted; malformed
ones go to the dead-letter topic with file, position and reason, and the rest go on. The
counts satisfy read + derived = published + skipped + rejected + quarantined (quarantined:
the person is not in the identity map yet; `leap identities retry` publishes them once it
is). Publishing a file again is harmless: event ids come from the records. docs/sources.md
describes every source.

Sources:

{_sources_help()}
"""


def produce(
    source: Annotated[str, typer.Argument(help="The source adapter (listed above).")],
    paths: Annotated[list[Path], typer.Argument(exists=True, help="Export files (or, with --follow, one folder).")],
    site: SiteOption = "",
    time_format: TimeFormatOption = None,
    tz: TzOption = None,
    encoding: EncodingOption = "auto",
    timetable: TimetableOption = None,
    follow: Annotated[bool, typer.Option("--follow", help="PATHS is one folder: publish each export dropped in it once, as it arrives, until stopped.")] = False,
    poll_seconds: Annotated[float, typer.Option(min=0.1, help="With --follow: seconds between looks at the folder; a file must be unchanged this long to be read.")] = 10.0,
    metrics_port: Annotated[int, typer.Option(help="With --follow: port of /metrics, /healthz and /readyz.")] = 9105,
    as_json: Annotated[bool, typer.Option("--json", help="End each file with one JSON line of counts.")] = False,
) -> None:
    from producers.sources import adapters

    settings = get_settings()
    if source not in adapters():
        fail(f"no source adapter {source!r}; choose from {', '.join(adapters())}")
    options = export_options(site, time_format, tz, settings.tz, encoding, timetable)
    if follow:
        if len(paths) != 1 or not paths[0].is_dir():
            fail("--follow takes one folder to watch")
        _follow(source, paths[0], options, poll_seconds, metrics_port, as_json)
        return
    if folders := [str(p) for p in paths if p.is_dir()]:
        fail(f"{folders[0]} is a folder: name the export files, or watch it with --follow")
    identities = _identity_map(settings) if adapters()[source].identity != "student_id" else None
    for path in paths:
        _publish_file(source, path, options, identities, as_json)


def _publish_file(source, path, options, identities, as_json, *, exit_on_error: bool = True):  # type: ignore[no-untyped-def]
    """Publish one export and print its counts; a file of the wrong format or a Kafka failure is one line (exit, or returned)."""
    from leap.kafka import DeliveryError
    from producers.exports import ExportError, open_export

    settings = get_settings()
    try:
        with open_export(path, source, options) as export:
            counts = _publish_with_progress(path, export, identities, as_json)
    except ExportError as exc:
        if exit_on_error:
            fail(str(exc))
        return exc
    except DeliveryError as exc:
        if exit_on_error:
            fail(_delivery_failure(exc), 4)
        return exc
    _print_counts(path, export.label, counts, settings, as_json)
    return None


def _follow(source, folder, options, poll_seconds, metrics_port, as_json) -> None:  # type: ignore[no-untyped-def]
    """Publish exports as they are dropped in ``folder`` until SIGTERM or Ctrl-C (``producers.folder_watch``)."""
    import hashlib
    import signal
    import threading
    import time

    from prometheus_client import Counter as Metric

    from leap.dead_letter import DeadLetters
    from leap.health import Health, serve_metrics
    from leap.kafka import DeliveryError, Publisher
    from producers.folder_watch import DoneFiles, list_folder, ready_files
    from producers.identities import IdentityMap
    from producers.identity_map import follow_identities
    from producers.readers import ExportError
    from schemas.codec import default_codec

    settings = get_settings()
    files = Metric("leap_follow_files_total", "Exports read from a followed folder, by source and outcome", ["source", "outcome"])
    health, stop, ready = Health(), threading.Event(), threading.Event()
    identities = IdentityMap()
    threading.Thread(target=follow_identities, args=(settings, identities, ready, stop), daemon=True, name="identity-map").start()
    serve_metrics(metrics_port, health)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    key = hashlib.sha256(f"{source}:{folder.resolve()}".encode()).hexdigest()[:16]
    done = DoneFiles(settings.state_dir / "follow" / f"{source}-{key}.json")
    ready.wait(60)
    out.print(f"following {folder} for {source} exports (every {poll_seconds:g} s; done files in {done.path}; metrics on :{metrics_port})")
    while not stop.is_set():
        listing = {name: (size, mtime) for name, size, mtime in list_folder(folder)}
        for name in ready_files(((n, *v) for n, v in listing.items()), done.files, time.time_ns(), poll_seconds):
            problem = _publish_file(source, folder / name, options, identities, as_json, exit_on_error=False)
            if isinstance(problem, DeliveryError):
                health.set(False, f"Kafka: {problem}")
                files.labels(source, "retrying").inc()
                break  # Kafka is down: try this file again next time
            if isinstance(problem, ExportError):
                err.print(f"[red]{problem}[/]", soft_wrap=True)
                with Publisher.for_command(settings) as publisher:  # the whole file, kept: it may be the wrong folder
                    raw = (folder / name).read_bytes()[:65536]
                    DeadLetters(settings, publisher, default_codec()).reject(source=source, location=str(folder / name), position="file", reason=str(problem), raw=raw)
            files.labels(source, "refused" if problem else "published").inc()
            health.set(True)
            done.mark(name, *listing[name])
        stop.wait(poll_seconds)


roster_app = typer.Typer(help="Load the student roster (cohorts, mode of study, tutors).", no_args_is_help=True)


@roster_app.command("load")
def roster_load(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Roster CSV (see producers/roster.py).")],
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line of counts.")] = False,
) -> None:
    """Publish the roster to the compacted roster topic, keyed by student id.

    A roster with identity columns (moodle_user_id, username, email, card_number,
    panopto_user_id, windows_account) also loads them into the identity map, as
    `leap identities load` does.
    """
    from leap.kafka import DeliveryError
    from producers.identities_cli import identities_retry
    from producers.identity_map import has_identity_columns, publish_identities
    from producers.ingest import publish_roster

    settings = get_settings()
    try:
        counts = publish_roster(path, settings)
        identities = publish_identities(path, settings, source="roster") if has_identity_columns(path) else None
    except ValueError as exc:
        fail(f"{path}: {exc}")
    except DeliveryError as exc:
        fail(_delivery_failure(exc), 4)
    _print_counts(path, "roster", counts, settings, as_json)
    if identities is not None:
        if not as_json:
            out.print(f"identities of {identities.published:,} students loaded into the identity map ({identities.rejected:,} rows rejected)")
        identities_retry(as_json=as_json)



def _identity_map(settings):  # type: ignore[no-untyped-def]
    """The identity map from Kafka, or one clear line (exit 4) when Kafka cannot be read."""
    from producers.identity_map import load_identity_map

    try:
        with err.status("reading the identity map"):
            return load_identity_map(settings, timeout=10.0)
    except Exception as exc:  # any failure to read the map: say which, never publish unresolved
        fail(f"cannot read the identity map from {settings.topic('identities')}: {exc}", 4)


def _publish_with_progress(path, export, identities, as_json):  # type: ignore[no-untyped-def]
    """Publish an opened export with a progress bar on large files (not with --json)."""
    from leap.kafka import Publisher
    from producers.ingest import publish_export
    from schemas.codec import default_codec

    settings = get_settings()
    size = path.stat().st_size
    with progress_bar(size > 5_000_000 and not as_json) as progress, Publisher.for_command(settings) as publisher:
        task = progress.add_task(f"{path.name} ({export.label})", total=size)
        return publish_export(export, settings=settings, publisher=publisher, codec=default_codec(), identities=identities,
                              on_record=lambda r: progress.advance(task, len(r.raw)))  # fmt: skip


def _delivery_failure(exc: Exception) -> str:
    """The error, what had been read and sent when it happened, and that running again is safe."""
    counts = getattr(exc, "counts", None)
    if counts is None:
        return str(exc)
    acknowledged = getattr(exc, "acknowledged", 0)
    done = f"read {counts.read:,} (queued {counts.published:,}, skipped {counts.skipped:,}, rejected {counts.rejected:,}), Kafka acknowledged {acknowledged:,}"
    return f"{exc}; before it: {done}; publishing the file again is safe (event ids make repeats harmless)"


def _print_counts(path, label, counts, settings, as_json) -> None:  # type: ignore[no-untyped-def]
    log.info(f"{label} published", file=str(path), **counts.summary())
    if as_json:
        print(json.dumps(counts.summary()))
        return
    summary = {k: v for k, v in counts.summary().items() if v or k in ("read", "published", "skipped", "rejected")}
    table = Table(*summary, title=f"{path.name} ({label})")
    table.add_row(*(f"{v:,}" for v in summary.values()))
    out.print(table)
    for reason, n in counts.skipped_by_reason.most_common():
        out.print(f"  skipped {n:,}: {reason}")
    for reason, n in getattr(counts, "quarantined_by_reason", {}).items():
        out.print(f"  quarantined {n:,}: {reason} (waiting in {settings.topic('identity-quarantine')}; load the identities, then leap identities retry)")
    for reason, n in counts.rejected_by_reason.most_common():
        out.print(f"  rejected {n:,}: {reason} (see {settings.topic('dead-letter')})")
    from producers.readers import NOT_UTF8

    if NOT_UTF8 in counts.rejected_by_reason:
        out.print("  saved by Excel on Windows? publish it again with --encoding cp1252", soft_wrap=True)




def dead_letters_replay(
    source: Annotated[Optional[str], typer.Option(help="Only this source's dead letters (moodle, panopto, ingest-xapi, engine...).")] = None,
    start: Annotated[Optional[int], typer.Option("--from", min=0, help="From this offset (leap dead-letters list shows them).")] = None,
    stop: Annotated[Optional[int], typer.Option("--to", min=0, help="Up to (not including) this offset.")] = None,
    site: SiteOption = "",
    time_format: TimeFormatOption = None,
    tz: TzOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would happen; publish nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line of counts.")] = False,
) -> None:
    """Read dead letters again through their adapters (after a fix, or with the option their file needed) and publish what now reads.

    Records that still do not read stay where they are (nothing is dead-lettered twice); the
    engine's dead letters are re-published as they were. Publishing twice is harmless: event
    ids come from the records. Give the same --site as when the file was first published.
    """
    from collections import Counter

    from leap.dead_letter import read_dead_letters, reason_kind
    from leap.kafka import Publisher
    from producers.dead_letter_replay import ENGINE, reread
    from producers.ingest import Sink
    from producers.outcome import Event, Reject, Skip
    from schemas.codec import CodecError, default_codec

    settings = get_settings()
    codec = default_codec()
    options = export_options(site, time_format, tz, settings.tz)
    letters = [x for x in read_dead_letters(settings, codec, start=start, stop=stop) if source is None or x["source"] == source]
    counts: Counter[str] = Counter()
    why: Counter[str] = Counter()
    publisher = None if dry_run else Publisher.for_command(settings)
    sink = None if publisher is None else Sink(settings, publisher, codec, source="dead-letters-replay", location=settings.topic("dead-letter"),
                                              identities=_identity_map(settings))  # fmt: skip
    for letter in letters:
        counts["read"] += 1
        if letter["source"] == ENGINE:
            try:
                event = codec.decode(letter["raw"], expect="activity_event")
            except CodecError as exc:
                counts["not replayable"] += 1
                why[f"not an activity event: {reason_kind(str(exc))}"] += 1
                continue
            if publisher is not None:
                publisher.send(settings.topic("activity"), letter["raw"], key=event["student_id"])
            counts["republished"] += 1
            continue
        outcome = reread(letter, options)
        if isinstance(outcome, str):
            counts["not replayable"] += 1
            why[outcome] += 1
        elif isinstance(outcome, Reject):
            counts["still rejected"] += 1
            why[f"still: {reason_kind(outcome.reason)}"] += 1
        elif isinstance(outcome, Skip):
            counts["skipped"] += 1
        elif isinstance(outcome, Event) and sink is not None:
            sink.put(None, outcome)  # type: ignore[arg-type]
        else:
            counts["would publish"] += 1
    if publisher is not None and sink is not None:
        publisher.flush()
        counts.update({k: v for k, v in (("republished", sink.counts.published), ("quarantined", sink.counts.quarantined)) if v})
    log.info("dead letters replayed", dry_run=dry_run, **counts)
    if as_json:
        print(json.dumps(dict(counts)))
        return
    out.print(("dry run: " if dry_run else "") + ", ".join(f"{k} {v:,}" for k, v in counts.items()) if counts else "no dead letters in that range")
    for reason, n in why.most_common():
        out.print(f"  {n:,}: {reason}")
