"""Offline commands over exports, with the stream's own model: ``leap replay`` and ``leap evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from leap.cli_exports import (
    FormatOption,
    SiteOption,
    TimeFormatOption,
    TzOption,
    as_of_option,
    export_options,
    print_read_counts,
    progress_bar,
    read_exports,
)
from leap.console import err, fail
from leap.settings import get_settings


def _policy_and_roster(roster: Path | None):  # type: ignore[no-untyped-def]
    from leap.policy import PolicyError, load_policy
    from streams.replay import load_roster_file

    try:
        return load_policy(get_settings().policy_file).engagement, (load_roster_file(roster) if roster else {})
    except (PolicyError, ValueError) as exc:
        fail(str(exc))


def replay(
    paths: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Export files, in any format `leap produce` reads.")],
    as_of: Annotated[
        str,
        typer.Option(
            "--as-of",
            help="A day (2026-11-20: as of its end) or an instant (2026-11-20T00:30, local to LEAP_TIMEZONE "
            "without an offset: what the stream shows at that moment).",
        ),
    ],
    roster: Annotated[Optional[Path], typer.Option(exists=True, dir_okay=False, help="Roster CSV.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write JSON lines here (default stdout).")] = None,
    fmt: FormatOption = "auto",
    site: SiteOption = "moodle",
    time_format: TimeFormatOption = None,
    tz: TzOption = None,
) -> None:
    """Compute every student's band, score and explanation offline, with the stream's own model.

    Reads the exports `leap produce` reads, through the same adapters, so a backfill of real
    exports can be compared with the stream. Counts (records read, skipped and rejected by
    reason; events applied, duplicates) go to standard error.
    """
    from producers.exports import ExportError, ReadCounts
    from streams.replay import replay as run_replay
    from streams.replay import write_results

    settings = get_settings()
    when = as_of_option(as_of, settings.tz)
    options = export_options(site, time_format, tz, settings.tz)
    policy, entries = _policy_and_roster(roster)
    read = ReadCounts()
    try:
        with progress_bar(True) as progress:
            results, counts = run_replay(read_exports(paths, fmt, options, read, progress), entries, when, policy, settings.tz)
    except ExportError as exc:
        fail(str(exc))
    write_results(results, output)
    print_read_counts(read, counts.rejected - read.rejected)
    err.print(
        f"{len(results):,} students as of {when}: applied {counts.applied:,}, "
        f"duplicates {counts.duplicates:,}, outside the window {counts.outside:,}"
    )
