"""What every command that reads source exports shares: its options, progress and counts.

``leap produce`` publishes exports; ``leap replay`` and ``leap evaluate`` read the same files
offline through the same adapters (``producers.exports``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Optional
from zoneinfo import ZoneInfo

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from leap.console import err, fail

FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        help="auto (detect each file from its start), or a source adapter's name (leap produce --help lists them).",
    ),
]
SiteOption = Annotated[str, typer.Option(help="Name of the source system (default: the adapter's, e.g. moodle); part of every event id, so two sites never share one.")]
TimeFormatOption = Annotated[
    Optional[list[str]],
    typer.Option(help="strptime format of times without one of their own: a Moodle Logs report's Time column, a Windows logons CSV's (repeatable; default: each adapter's)."),
]
TzOption = Annotated[Optional[str], typer.Option(help="Time zone of local times written without an offset (every adapter's local times: Moodle Logs report, registers, taps and timetable, Panopto's export, Windows CSV...; default LEAP_TIMEZONE).")]
IdentitiesOption = Annotated[
    Optional[Path],
    typer.Option(exists=True, dir_okay=False, help="Identities CSV (student_id and moodle_user_id, card_number, ...) to resolve source ids as the stream does; a roster's identity columns are used too."),
]
TimetableOption = Annotated[
    Optional[Path],
    typer.Option(exists=True, dir_okay=False, help="Timetable CSV (session, room, start, end, expected students) that card taps are joined to."),
]
EncodingOption = Annotated[
    str,
    typer.Option(help="Text encoding of the file: auto (UTF-8, or UTF-16 with its byte-order mark), or any codec name such as cp1252 (Excel on Windows) or latin-1."),
]


def progress_bar(enabled: bool) -> Progress:
    """A byte progress bar on standard error, gone when done."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not enabled,
        transient=True,
    )


def export_options(
    site: str, time_format: list[str] | None, tz: str | None, default_tz: ZoneInfo, encoding: str = "auto", timetable: Path | None = None
):  # type: ignore[no-untyped-def]
    """The adapters' options (``producers.sources.Options``) from the command line."""
    from producers.sources import Options

    try:
        zone = ZoneInfo(tz) if tz else default_tz
    except (ValueError, KeyError):
        fail(f"unknown time zone {tz!r}")
    return Options(tz=zone, site=site, time_formats=tuple(time_format or ()), timetable=timetable, encoding=encoding)


def as_of_option(text: str, tz: ZoneInfo):  # type: ignore[no-untyped-def]
    """``--as-of``: a day (meaning its end) or an instant, local to ``tz`` when it has no offset."""
    from datetime import date, datetime

    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--as-of {text!r} is neither a day (2026-11-20) nor an ISO 8601 instant (2026-11-20T00:30)")
    return when if when.tzinfo else when.replace(tzinfo=tz)


def identity_map(*files: Path | None):  # type: ignore[no-untyped-def]
    """The identity map of an offline run: the identities in the given files (rosters without such columns add none)."""
    from producers.identities import IdentityMap
    from producers.identity_map import has_identity_columns, read_identities_file

    known = IdentityMap()
    for path in files:
        if path is not None and has_identity_columns(path):
            read_identities_file(path, into=known)
    return known


def read_exports(paths: list[Path], fmt: str, options, counts, progress: Progress, label: str = "reading", identities=None):  # type: ignore[no-untyped-def]
    """Events of export files for an offline run, advancing ``progress`` by the bytes read."""
    from producers.exports import read_events

    names = ", ".join(p.name for p in paths[:3]) + (" ..." if len(paths) > 3 else "")
    task = progress.add_task(f"{label} {names}", total=sum(p.stat().st_size for p in paths))
    return read_events(paths, fmt, counts=counts, on_record=lambda r: progress.advance(task, len(r.raw)), options=options, identities=identities)


def print_read_counts(counts, rejected_by_model=None) -> None:  # type: ignore[no-untyped-def]
    """What reading the exports did, with skips and rejections by reason (to standard error).

    ``rejected_by_model`` counts, by reason, events the adapters accepted but the model refused.
    """
    from leap.dead_letter import reason_kind

    by_model: Counter[str] = Counter()
    for reason, n in (rejected_by_model or {}).items():
        by_model[reason_kind(reason)] += n
    files = sum(counts.formats.values())
    formats = ", ".join(label + (f" x{n}" if n > 1 else "") for label, n in counts.formats.items())
    err.print(
        f"read {counts.read:,} records from {files} file{'s' if files != 1 else ''} ({formats}): {counts.events:,} events, "
        f"skipped {counts.skipped:,}, rejected {counts.rejected + sum(by_model.values()):,}"
    )
    for reason, n in counts.skipped_by_reason.most_common():
        err.print(f"  skipped {n:,}: {reason}")
    if counts.unknown:
        err.print(f"  left out {counts.unknown:,} events of people not in the identity map (give --identities, or a roster with identity columns)")
    for reason, n in (counts.rejected_by_reason + by_model).most_common():
        err.print(f"  rejected {n:,}: {reason}")
