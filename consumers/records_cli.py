"""The records' commands: ``leap staff``, ``notes``, ``objectives``, ``referrals``, ``queries``,
``alerts ack|action|dismiss``, ``record`` and ``access-log``.

Each acts ``--as`` a user, resolved through the staff directory or the roster (without it:
the person at the command line, as a LEAP administrator), through ``consumers.records``.
Text arguments given as ``-`` are read from standard input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from consumers import records
from consumers.cli import _connect, _operator, alerts_app
from leap.access import Actor
from leap.calendar import local_instant
from leap.console import err, fail, out
from leap.settings import get_settings

staff_app = typer.Typer(help="The staff directory: who may see which students' records.", no_args_is_help=True)
notes_app = typer.Typer(help="Notes about a student (the student sees every one).", no_args_is_help=True)
objectives_app = typer.Typer(help="Objectives set with a student.", no_args_is_help=True)
referrals_app = typer.Typer(help="Referrals to support services, and the student's consent.", no_args_is_help=True)
queries_app = typer.Typer(help="Data queries: a student challenges a record, staff resolve it.", no_args_is_help=True)

AsUser = Annotated[Optional[str], typer.Option("--as", help="Act as this user (staff directory or student id); default: you, as administrator.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def text_argument(value: str, stdin=None) -> str:  # type: ignore[no-untyped-def]
    """The text as given, or standard input's whole content for ``-`` (kept verbatim)."""
    return (stdin or sys.stdin).read() if value == "-" else value


def parse_day(value: str | None) -> date | None:
    """An ISO date (YYYY-MM-DD) or None; a bad one ends the command with a clear error."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{value!r} is not a date (YYYY-MM-DD)", 2)


def local_time(value: str | None) -> datetime | None:
    """A local date and time (the university's time zone) or None; a bad one ends the command."""
    if value is None:
        return None
    try:
        return local_instant(value, get_settings().tz)
    except ValueError as exc:
        fail(str(exc), 2)


@contextmanager
def session(as_user: str | None, purpose: str | None = None) -> Iterator[tuple[object, Actor]]:
    """An autocommit connection and the actor; any refusal ends the command with its one-line error."""
    with _connect(autocommit=True) as conn:
        try:
            actor = records.command_line_actor(conn, as_user, _operator(), purpose)
            yield conn, actor
        except records.RecordError as exc:
            fail(str(exc), exc.exit_code)


def _emit(as_json: bool, data: dict, message: str) -> None:
    print(json.dumps(data, default=str)) if as_json else out.print(message, markup=False, highlight=False)


@staff_app.command("load")
def staff_load(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: user_id,roles[,departments][,service][,programmes]; several values separated by ;.")],
    replace: Annotated[bool, typer.Option(help="Also remove users not in the file (leavers lose access); not done if any line is bad.")] = False,
    as_user: AsUser = None,
) -> None:
    """Store the staff directory (a user already stored is replaced); each bad line is named."""
    from consumers.staff import parse_staff

    rows, errors = parse_staff(path.read_text())
    for message in errors:
        err.print(f"{path.name} {message}", markup=False, highlight=False)
    with session(as_user) as (conn, actor):
        stored, removed = records.load_staff(conn, actor, rows, source=path.name, replace=replace and not errors)
    out.print(f"{stored:,} staff stored, {removed:,} removed, {len(errors):,} rejected" + (" (nobody removed: fix the bad lines first)" if replace and errors else ""))
    if errors:
        raise typer.Exit(1)


@notes_app.command("add")
def notes_add(
    student: Annotated[str, typer.Argument(help="Student id.")],
    text: Annotated[str, typer.Argument(help="The note, stored as given (- reads standard input).")],
    alert: Annotated[Optional[str], typer.Option(help="The alert this note is about.")] = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Add a note about a student."""
    body = text_argument(text)
    with session(as_user) as (conn, actor):
        note = records.add_note(conn, actor, student, body, alert_id=alert)
    _emit(as_json, {"note_id": note, "student_id": student, "author": actor.user_id}, f"note {note} added for {student}")


@notes_app.command("list")
def notes_list(student: Annotated[str, typer.Argument(help="Student id.")], as_user: AsUser = None, as_json: AsJson = False) -> None:
    """A student's notes, oldest first, verbatim."""
    from consumers.records_text import section_lines

    with session(as_user) as (conn, actor):
        rows = records.list_notes(conn, actor, student)
    if as_json:
        for row in rows:
            print(json.dumps(row, default=str))
        return
    print("\n".join(section_lines("notes", rows, get_settings().tz)))


@objectives_app.command("add")
def objectives_add(
    student: Annotated[str, typer.Argument(help="Student id.")],
    description: Annotated[str, typer.Argument(help="The objective (- reads standard input).")],
    due: Annotated[Optional[str], typer.Option(help="Due date, YYYY-MM-DD.")] = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Set a student an objective."""
    text, day = text_argument(description), parse_day(due)
    with session(as_user) as (conn, actor):
        objective = records.add_objective(conn, actor, student, text, due=day)
    _emit(as_json, {"objective_id": objective, "student_id": student, "author": actor.user_id}, f"objective {objective} added for {student}")


@objectives_app.command("update")
def objectives_update(
    objective: Annotated[int, typer.Argument(help="Objective id.")],
    progress: Annotated[Optional[str], typer.Option(help="Progress so far (a student may change only this, on their own).")] = None,
    status: Annotated[Optional[str], typer.Option(help="open, met, not_met or withdrawn.")] = None,
    description: Annotated[Optional[str], typer.Option(help="A new description.")] = None,
    due: Annotated[Optional[str], typer.Option(help="A new due date, YYYY-MM-DD.")] = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Change an objective: its progress, status, description or due date."""
    changes = {"progress": progress, "status": status, "description": description, "due": parse_day(due)}
    with session(as_user) as (conn, actor):
        row = records.update_objective(conn, actor, objective, **changes)
    _emit(as_json, row, f"objective {objective} updated: {row['status']}")


@referrals_app.command("add")
def referrals_add(
    student: Annotated[str, typer.Argument(help="Student id.")],
    service: Annotated[str, typer.Option(help="The service referred to (as in the staff directory).")],
    reason: Annotated[str, typer.Option(help="Why (- reads standard input).")],
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Refer a student to a support service; the student then chooses whether to be contacted."""
    text = text_argument(reason)
    with session(as_user) as (conn, actor):
        referral = records.add_referral(conn, actor, student, service, text)
    _emit(as_json, {"referral_id": referral, "student_id": student, "service": service}, f"referral {referral} of {student} to {service} made")


@referrals_app.command("consent")
def referrals_consent(
    referral: Annotated[int, typer.Argument(help="Referral id.")],
    consent: Annotated[bool, typer.Option("--yes/--no", help="Whether the student agrees to be contacted by the service.")],
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Record the student's choice to be contacted by the service they were referred to."""
    with session(as_user) as (conn, actor):
        row = records.record_consent(conn, actor, referral, consent)
    _emit(as_json, row, f"referral {referral}: {row['status']}")


@referrals_app.command("close")
def referrals_close(
    referral: Annotated[int, typer.Argument(help="Referral id.")],
    outcome: Annotated[str, typer.Option(help="What came of it, in words the student will read (- reads standard input).")],
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Close a referral with its outcome (the service it was made to, or the student's pastoral staff)."""
    text = text_argument(outcome)
    with session(as_user) as (conn, actor):
        row = records.close_referral(conn, actor, referral, text)
    _emit(as_json, row, f"referral {referral}: closed")


@queries_app.command("raise")
def queries_raise(
    student: Annotated[str, typer.Argument(help="Student id.")],
    description: Annotated[str, typer.Argument(help="What is wrong (- reads standard input).")],
    record_type: Annotated[str, typer.Option(help="What is challenged: missing_activity, band, note, objective, ...")],
    record_id: Annotated[str, typer.Option(help="Which one (a record id), if it has one.")] = "",
    source: Annotated[Optional[str], typer.Option(help="Missing activity: its source (attendance, vle, ...).")] = None,
    at: Annotated[Optional[str], typer.Option(help="Missing activity: when, local time, e.g. 2026-12-01T10:00.")] = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Challenge a record (a student about their own, or an administrator for them)."""
    text = text_argument(description)
    when = local_time(at)
    with session(as_user) as (conn, actor):
        query = records.raise_query(conn, actor, student, record_type, record_id, text, activity_source=source, activity_at=when)
    _emit(as_json, {"query_id": query, "student_id": student}, f"data query {query} raised for {student}")


@queries_app.command("withdraw")
def queries_withdraw(
    query: Annotated[int, typer.Argument(help="Data query id.")],
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Withdraw a data query you raised, while it is still open."""
    with session(as_user) as (conn, actor):
        row = records.withdraw_query(conn, actor, query)
    _emit(as_json, row, f"data query {query}: withdrawn")


@queries_app.command("resolve")
def queries_resolve(
    query: Annotated[int, typer.Argument(help="Data query id.")],
    outcome: Annotated[str, typer.Argument(help="upheld or rejected.")],
    resolution: Annotated[str, typer.Argument(help="What was decided and why, for the student (- reads standard input).")],
    source: Annotated[Optional[str], typer.Option(help="Upheld missing activity: its source, if not the one the student gave.")] = None,
    at: Annotated[Optional[str], typer.Option(help="Upheld missing activity: when (local time), if not what the student gave.")] = None,
    amends: Annotated[Optional[str], typer.Option(help="The event id of the register mark the correction replaces (e.g. an 'absent').")] = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Uphold or reject an open data query; an upheld one about missing activity publishes the correction, and the engine re-scores."""
    from leap.kafka import Publisher
    from producers.corrections import CorrectionError, correction_hook
    from schemas.codec import default_codec

    text = text_argument(resolution)
    when = local_time(at)
    settings = get_settings()
    with Publisher(settings, client_id="leap-corrections") as publisher, session(as_user) as (conn, actor):
        hook = correction_hook(settings, publisher, default_codec(), source=source, at=when, amends=amends)
        try:
            row = records.resolve_query(conn, actor, query, outcome, text, on_upheld=hook)
        except CorrectionError as exc:
            fail(str(exc))
    _emit(as_json, row, f"data query {query} {row['status']}")


@queries_app.command("list")
def queries_list(
    student: Annotated[Optional[str], typer.Argument(help="Only this student's (default: every student you may see).")] = None,
    include: Annotated[str, typer.Option(help="Statuses to show, comma-separated.")] = "open",
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Data queries, oldest first."""
    with session(as_user) as (conn, actor):
        rows = records.list_queries(conn, actor, student, include.split(","))
    if as_json:
        for row in rows:
            print(json.dumps(row, default=str))
        return
    print(f"{len(rows)} data queries")
    for row in rows:
        print(f"  #{row['query_id']} {row['student_id']} [{row['status']}] about {row['record_type']} {row['record_id']} by {row['author']}: {row['description']}")


def _alert_command(status: str, alert: str, note: str | None, as_user: str | None, as_json: bool) -> None:
    text = None if note is None else text_argument(note)
    with session(as_user) as (conn, actor):
        row = records.update_alert(conn, actor, alert, status, text)
    _emit(as_json, row, f"alert {alert} {status} by {actor.user_id}")


@alerts_app.command("ack")
def alerts_ack(
    alert: Annotated[str, typer.Argument(help="Alert id.")],
    note: Annotated[Optional[str], typer.Option(help="An optional remark.")] = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Acknowledge an alert: you have seen it and are on it."""
    _alert_command("acknowledged", alert, note, as_user, as_json)


@alerts_app.command("action")
def alerts_action(
    alert: Annotated[str, typer.Argument(help="Alert id.")],
    what: Annotated[str, typer.Argument(help="What was done (- reads standard input).")],
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Close an alert as actioned, saying what was done."""
    _alert_command("actioned", alert, what, as_user, as_json)


@alerts_app.command("dismiss")
def alerts_dismiss(
    alert: Annotated[str, typer.Argument(help="Alert id.")],
    why: Annotated[str, typer.Argument(help="Why nothing needs doing (- reads standard input).")],
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Close an alert as dismissed, saying why."""
    _alert_command("dismissed", alert, why, as_user, as_json)


def record(
    student: Annotated[str, typer.Argument(help="Student id.")],
    purpose: Annotated[Optional[str], typer.Option(help="Why you are looking (recorded in the access log).")] = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Everything recorded about a student: notes, objectives, referrals, exemptions, alerts, data queries."""
    from consumers.records_text import record_text

    with session(as_user, purpose) as (conn, actor):
        found = records.student_record(conn, actor, student, purpose)
    print(json.dumps(found, default=str) if as_json else record_text(found, get_settings().tz))


def access_log(student: Annotated[str, typer.Argument(help="Student id.")], as_user: AsUser = None, as_json: AsJson = False) -> None:
    """Who looked at or changed a student's records, and who was refused."""
    from consumers.records_text import access_log_text

    with session(as_user) as (conn, actor):
        rows = records.access_log_of(conn, actor, student)
    if as_json:
        for row in rows:
            print(json.dumps(row, default=str))
        return
    print(access_log_text(student, rows, get_settings().tz))


def register(app: typer.Typer) -> None:
    """Add the records' commands to ``leap``."""
    app.add_typer(staff_app, name="staff")
    app.add_typer(notes_app, name="notes")
    app.add_typer(objectives_app, name="objectives")
    app.add_typer(referrals_app, name="referrals")
    app.add_typer(queries_app, name="queries")
    app.command()(record)
    app.command("access-log")(access_log)
