"""Offline commands over exports, with the stream's own model: ``leap replay`` and ``leap evaluate``."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from leap.cli_exports import (
    EncodingOption,
    FormatOption,
    IdentitiesOption,
    SiteOption,
    TimeFormatOption,
    TimetableOption,
    TzOption,
    as_of_option,
    export_options,
    identity_map,
    print_read_counts,
    progress_bar,
    read_exports,
)
from leap.console import err, fail, out
from leap.settings import get_settings
from streams.evaluate import MIN_EACH, MIN_STUDENTS


def _identities(roster: Path | None, identities: Path | None):  # type: ignore[no-untyped-def]
    """The identity map from the roster's identity columns and an identities file (or fail with why)."""
    try:
        return identity_map(roster, identities)
    except ValueError as exc:
        fail(f"{identities}: {exc}")


def _policy_and_roster(roster: Path | None):  # type: ignore[no-untyped-def]
    """The engagement policy, the academic calendar it names, and the roster (or fail with why)."""
    from leap.calendar import CalendarError, load_calendar
    from leap.policy import PolicyError, load_policy
    from producers.roster import load_roster_file

    try:
        policy = load_policy(get_settings().policy_file)
        return policy.engagement, load_calendar(policy.alerts.calendar_file), (load_roster_file(roster) if roster else {})
    except (PolicyError, CalendarError, ValueError) as exc:
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
    site: SiteOption = "",
    time_format: TimeFormatOption = None,
    tz: TzOption = None,
    encoding: EncodingOption = "auto",
    timetable: TimetableOption = None,
    identities: IdentitiesOption = None,
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
    options = export_options(site, time_format, tz, settings.tz, encoding, timetable)
    policy, calendar, entries = _policy_and_roster(roster)
    known = _identities(roster, identities)
    read = ReadCounts()
    try:
        with progress_bar(True) as progress:
            results, counts = run_replay(read_exports(paths, fmt, options, read, progress, identities=known), entries, when, policy, settings.tz, calendar=calendar)
    except ExportError as exc:
        fail(str(exc))
    write_results(results, output)
    print_read_counts(read, counts.reasons)
    err.print(
        f"{len(results):,} students as of {when}: applied {counts.applied:,}, "
        f"duplicates {counts.duplicates:,}, outside the window {counts.outside:,}"
    )


def _event_days(events, tz) -> tuple[date, date] | None:  # type: ignore[no-untyped-def]
    """The first and last local days with events the model accepts a time of, or None without any."""
    from streams.model import InvalidEvent, event_day

    first = last = None
    for event in events:
        try:
            day = event_day(event["event_time"], tz) if event is not None else None
        except InvalidEvent:
            continue  # the replay rejects it, with the reason
        if day is not None:
            first, last = min(day, first or day), max(day, last or day)
    return None if first is None else (date.fromordinal(first), date.fromordinal(last))


def evaluate(
    paths: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="A past term's export files, in any format `leap produce` reads.")],
    roster: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Roster CSV of that term.")],
    outcomes: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="CSV with student_id and outcome columns (other columns ignored).")],
    weeks: Annotated[Optional[str], typer.Option(help="Term weeks to judge: 2-12, 5 or 1,3,5-7 (default: every complete week with events).")] = None,
    term_start: Annotated[Optional[str], typer.Option(help="First day of term week 1, from the academic calendar (default: the first day with events).")] = None,
    bad: Annotated[Optional[list[str]], typer.Option(help="An outcome value that counts as bad (repeatable; default: fail and withdrawn).")] = None,
    min_students: Annotated[int, typer.Option(min=1, help="Fewer students than this in a group is too small to judge.")] = MIN_STUDENTS,
    min_each: Annotated[int, typer.Option(min=1, help="An AUC needs at least this many students with each outcome.")] = MIN_EACH,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    fmt: FormatOption = "auto",
    site: SiteOption = "",
    time_format: TimeFormatOption = None,
    tz: TzOption = None,
    encoding: EncodingOption = "auto",
    timetable: TimetableOption = None,
    identities: IdentitiesOption = None,
) -> None:
    """Check the bands against a past term's outcomes: do low scores pick out students who fail?

    For each week (as of its last day): the bad-outcome rate in each band, how many times
    likelier a bad outcome is in Low/Very low than in High/Good, and the AUC of the score, the
    term-to-date score and each source alone (the chance that a student with a bad outcome
    scores lower than one without; 0.5 is chance). Groups too small to judge say so. The
    exports are read twice: once to find the term's days, once to replay it.
    """
    from producers.exports import ExportError, ReadCounts
    from streams.evaluate import BAD_OUTCOMES, OutcomesError, WeekCollector, evaluation, load_outcomes, parse_weeks, week_end
    from leap.calendar import Calendar, Period
    from streams.replay import replay as run_replay

    settings = get_settings()
    options = export_options(site, time_format, tz, settings.tz, encoding, timetable)
    policy, _, entries = _policy_and_roster(roster)
    people = _identities(roster, identities)
    bad_values = tuple(bad) if bad else BAD_OUTCOMES
    try:
        known = load_outcomes(outcomes, bad_values)
        start = date.fromisoformat(term_start) if term_start else None
        wanted = parse_weeks(weeks) if weeks else None
    except (OutcomesError, ValueError) as exc:
        fail(str(exc))
    read = ReadCounts()
    try:
        with progress_bar(True) as progress:
            span = _event_days(read_exports(paths, fmt, options, ReadCounts(), progress, "scanning", people), settings.tz)
            if span is None:
                fail("no events in " + ", ".join(map(str, paths)))
            start = start or span[0]
            last_day = span[1]
            wanted = wanted or list(range(1, ((last_day - start).days + 1) // 7 + 1))
            in_data = [w for w in wanted if week_end(start, w) <= last_day]
            if not in_data:
                fail(f"no week {weeks or ''} of a term starting {start} ends by the last day with events, {last_day}")
            collector = WeekCollector(start, wanted)
            events = read_exports(paths, fmt, options, read, progress, "replaying", people)
            # The term being judged is the calendar: its term-to-date view starts on week 1.
            term = Calendar((Period("term", start, last_day),))
            _, counts = run_replay(events, entries, week_end(start, max(in_data)), policy, settings.tz, start=start, observe=collector, calendar=term)
    except ExportError as exc:
        fail(str(exc))
    report = evaluation(collector, known, last_day, bad_values, min_students=min_students, min_each=min_each)
    if as_json:
        print(json.dumps({**report.as_json(), "read": {**read.summary(), "rejected_by_reason": dict(read.rejected_by_reason + counts.reasons)}}))
        return
    print_read_counts(read, counts.reasons)
    _print_evaluation(report)


def _print_evaluation(report) -> None:  # type: ignore[no-untyped-def]
    from leap.explain import BAND_NAMES, DEFAULT_DISPLAY_NAMES
    from leap.policy import SOURCES
    from streams.evaluate import BANDS, cell

    names = BAND_NAMES
    # Weeks across, measures down: a term of weeks still fits a terminal.
    weeks = [f"week {row.week}\n{row.day:%-d %b}" for row in report.rows]
    rates = Table("band", *weeks, title=f"Bad-outcome rate by band ({', '.join(report.bad_values)}), term from {report.term_start:%-d %b %Y}")
    rates.add_row("all students", *(f"{100 * row.bad / row.students:.0f}% ({row.bad}/{row.students})" if row.students else "-" for row in report.rows))
    for band in BANDS:
        rates.add_row(names[band], *(cell(row.bands[band], percent=True) for row in report.rows))
    rates.add_row(
        "Low+Very low ÷ High+Good",
        *(f"{row.ratio.value:.1f}×" if row.ratio.value is not None else cell(row.ratio, percent=False) for row in report.rows),
        style="bold",
    )
    out.print(rates)
    aucs = Table("score", *weeks, title="AUC: chance a student with a bad outcome scores lower (0.5 = chance)")
    labels = {"score": "seven-day score", "term_to_date": "term to date", **{s: f"{DEFAULT_DISPLAY_NAMES[s]} alone" for s in SOURCES}}
    for name in ("score", "term_to_date", *SOURCES):
        aucs.add_row(labels[name], *(cell(row.aucs[name], percent=False) for row in report.rows))
    out.print(aucs)
    values = ", ".join(f"{v} {n:,}" for v, n in sorted(report.outcome_values.items()))
    out.print(f"outcomes: {values}; {report.outcomes_without_data:,} with an outcome but no data, {report.results_without_outcome:,} without an outcome (left out)")
    out.print(f"too small to judge: fewer than {report.min_students} students, or for an AUC fewer than {report.min_each} with either outcome")
    if report.weeks_beyond_data:
        out.print(f"weeks {', '.join(map(str, report.weeks_beyond_data))} end after the last day with events ({report.last_day}): not judged")
