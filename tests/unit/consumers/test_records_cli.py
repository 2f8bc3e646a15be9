"""The records' commands and plain-text rendering, with storage faked: arguments, errors, verbatim text."""

from __future__ import annotations

import io
import json
import re
from contextlib import nullcontext
from datetime import date, datetime, timezone

import pytest
import typer
from typer.testing import CliRunner

from consumers import records, records_cli
from consumers.records import guard
from consumers.records_text import access_log_text, record_text
from leap.access import Actor, Relation, decide

TUTOR = Actor("tutor-a", frozenset({"personal_tutor"}))
AT = datetime(2026, 11, 29, 10, 30, tzinfo=timezone.utc)
SCRIPT = "<script>alert('x')</script>\n[bold]not markup[/]"


class _Conn:
    autocommit = True

    def __init__(self, autocommit=False):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def transaction(self):
        return nullcontext()


def _app() -> typer.Typer:
    app = typer.Typer()
    records_cli.register(app)
    app.add_typer(records_cli.alerts_app, name="alerts")
    return app


@pytest.fixture
def calls(monkeypatch):
    """Fake storage: who asked for what; the directory knows tutor-a and student s1 only."""
    seen: list[tuple] = []

    def actor_for(conn, user):
        if user == "tutor-a":
            return TUTOR
        if user == "s1":
            return Actor("s1", frozenset({"student"}), student_id="s1")
        raise records.UnknownUser(f"unknown user {user!r}")

    def recorder(name, result):
        def fake(conn, actor, *args, **kwargs):
            seen.append((name, actor.user_id, args, kwargs))
            return result

        return fake

    monkeypatch.setattr(records_cli, "_connect", _Conn)
    monkeypatch.setattr(records_cli, "_operator", lambda: "ops-person")
    monkeypatch.setattr(records, "actor_for", actor_for)
    monkeypatch.setattr(guard, "actor_for", actor_for)  # command_line_actor resolves --as through the guard
    monkeypatch.setattr(records, "add_note", recorder("add_note", 7))
    monkeypatch.setattr(records, "add_objective", recorder("add_objective", 8))
    monkeypatch.setattr(records, "record_consent", recorder("record_consent", {"status": "declined"}))
    monkeypatch.setattr(records, "resolve_query", recorder("resolve_query", {"status": "upheld"}))
    monkeypatch.setattr(records, "update_alert", recorder("update_alert", {"status": "dismissed"}))
    return seen


def test_a_note_from_standard_input_is_passed_verbatim_as_the_actor(calls):
    result = CliRunner().invoke(_app(), ["notes", "add", "s1", "-", "--as", "tutor-a", "--json"], input=SCRIPT + "\n")
    assert result.exit_code == 0, result.output
    assert calls == [("add_note", "tutor-a", ("s1", SCRIPT + "\n"), {"alert_id": None})]
    assert json.loads(result.output) == {"note_id": 7, "student_id": "s1", "author": "tutor-a"}


def test_without_as_the_operator_acts_as_administrator(calls):
    result = CliRunner().invoke(_app(), ["objectives", "add", "s1", "Attend two seminars", "--due", "2026-12-10"])
    assert result.exit_code == 0, result.output
    assert calls == [("add_objective", "ops-person", ("s1", "Attend two seminars"), {"due": date(2026, 12, 10)})]


def test_an_unknown_user_is_one_clear_error(calls):
    result = CliRunner().invoke(_app(), ["notes", "add", "s1", "hello", "--as", "nobody"])
    assert result.exit_code == 2 and "unknown user 'nobody'" in result.output and calls == []


def test_a_refusal_says_why_and_exits_3(calls, monkeypatch):
    def refused(conn, actor, *args, **kwargs):
        raise records.Forbidden("forbidden: tutor-a has no legitimate need to add note for this student")

    monkeypatch.setattr(records, "add_note", refused)
    result = CliRunner().invoke(_app(), ["notes", "add", "s2", "hello", "--as", "tutor-a"])
    assert result.exit_code == 3 and "forbidden: tutor-a has no legitimate need" in result.output


def test_a_bad_date_is_refused_before_anything_is_stored(calls):
    result = CliRunner().invoke(_app(), ["objectives", "add", "s1", "x", "--due", "10/12/2026"])
    assert result.exit_code == 2 and "not a date (YYYY-MM-DD)" in result.output and calls == []


@pytest.mark.parametrize(("flag", "consent"), [("--yes", True), ("--no", False)])
def test_consent_is_yes_or_no(calls, flag, consent):
    result = CliRunner().invoke(_app(), ["referrals", "consent", "12", flag, "--as", "s1"])
    assert result.exit_code == 0, result.output
    assert calls == [("record_consent", "s1", (12, consent), {})]


def test_consent_must_be_given_one_way_or_the_other(calls):
    result = CliRunner().invoke(_app(), ["referrals", "consent", "12", "--as", "s1"])
    assert result.exit_code != 0 and calls == []


def test_resolve_and_dismiss_pass_their_outcome_and_text(calls):
    runner = CliRunner()
    assert runner.invoke(_app(), ["queries", "resolve", "3", "upheld", "Mark corrected", "--as", "tutor-a"]).exit_code == 0
    assert runner.invoke(_app(), ["alerts", "dismiss", "a-1", "Known illness", "--as", "tutor-a"]).exit_code == 0
    (name, who, args, kwargs), dismissed = calls
    assert (name, who, args) == ("resolve_query", "tutor-a", (3, "upheld", "Mark corrected")) and set(kwargs) == {"on_upheld"}
    assert kwargs["on_upheld"]({"query_id": 3, "student_id": "s1"}) is None  # no missing activity stated: nothing is published
    assert dismissed == ("update_alert", "tutor-a", ("a-1", "dismissed", "Known illness"), {})


def test_text_argument_reads_standard_input_only_for_a_dash():
    assert records_cli.text_argument("-", io.StringIO("a\nb\n")) == "a\nb\n"
    assert records_cli.text_argument("--", io.StringIO("ignored")) == "--"


def _record() -> dict:
    note = {"note_id": 1, "author": "tutor-a", "created_at": AT, "body": SCRIPT, "alert_id": None}
    objective = {"objective_id": 2, "author": "tutor-a", "created_at": AT, "description": "Attend", "due": date(2026, 12, 10), "status": "open",
                 "progress": "Went to one", "updated_by": "s1", "updated_at": AT}  # fmt: skip
    referral = {"referral_id": 3, "author": "tutor-a", "created_at": AT, "service": "counselling", "reason": "Stress", "consent_to_contact": True,
                "status": "accepted", "consent_by": "s1", "consent_at": AT}  # fmt: skip
    query = {"query_id": 4, "author": "s1", "created_at": AT, "record_type": "attendance", "record_id": "2026-11-20", "description": "I was there",
             "status": "upheld", "resolution": "Register corrected", "resolved_by": "tutor-a", "resolved_at": AT, "correction_event_id": None}  # fmt: skip
    return {"student_id": "s1", "notes": [note], "objectives": [objective], "referrals": [referral], "exemptions": [], "alerts": [], "data_queries": [query]}


def test_the_record_shows_every_entry_with_author_and_date_and_text_verbatim():
    text = record_text(_record(), timezone.utc)
    assert "  #1 2026-11-29 10:30 by tutor-a\n    <script>alert('x')</script>\n    [bold]not markup[/]" in text
    assert "#2 2026-11-29 10:30 by tutor-a" in text and "[open] due 2026-12-10" in text and "progress (updated by s1" in text
    assert "to counselling [accepted]: consents to be contacted (s1," in text
    assert "#4 2026-11-29 10:30 by s1" in text and "upheld by tutor-a" in text and "Register corrected" in text
    assert "exemptions (0)" in text and "alerts (0)" in text


def test_the_record_command_prints_markup_as_characters(calls, monkeypatch):
    monkeypatch.setattr(records, "student_record", lambda conn, actor, student, purpose: _record())
    result = CliRunner().invoke(_app(), ["record", "s1", "--as", "s1"])
    assert result.exit_code == 0, result.output
    assert "<script>alert('x')</script>" in result.output and "[bold]not markup[/]" in result.output


def test_the_access_log_marks_refusals():
    rows = [{"at": AT, "actor": "tutor-b", "role": "personal_tutor", "action": "add_note", "record_type": "note", "record_id": None,
             "purpose": "no legitimate need", "allowed": False}]  # fmt: skip
    assert "tutor-b as personal_tutor: add_note note REFUSED (no legitimate need)" in access_log_text("s1", rows, timezone.utc)


def test_a_refusal_is_logged_before_forbidden_is_raised(monkeypatch):
    logged: list[dict] = []
    monkeypatch.setattr(guard, "relation_for", lambda conn, sid: Relation(sid, personal_tutor="tutor-a"))
    monkeypatch.setattr(guard, "audit", lambda conn, *args, **kwargs: logged.append({"args": args, **kwargs}))
    assert guard.allow(_Conn(), TUTOR, "add_note", "s1").role == "personal_tutor" and logged == []
    other = Actor("tutor-b", frozenset({"personal_tutor"}))
    why = decide(other, "add_note", Relation("s1", personal_tutor="tutor-a")).purpose  # the policy's words, whatever they become
    with pytest.raises(records.Forbidden, match=re.escape(f"forbidden: {why}")):
        guard.allow(_Conn(), other, "add_note", "s1", record_type="note")
    assert logged == [{"args": ("tutor-b", "personal_tutor", "add_note", why), "student_id": "s1", "record_type": "note", "record_id": None, "allowed": False}]


def test_records_refuse_a_connection_that_is_not_autocommit():
    conn = _Conn()
    conn.autocommit = False
    with pytest.raises(ValueError, match="autocommit"):
        guard.allow(conn, TUTOR, "add_note", "s1")


def test_an_error_quoting_user_input_is_printed_without_markup(calls, monkeypatch):
    def missing(conn, actor, alert, status, note):
        raise records.NotFound(f"no alert {alert}")

    monkeypatch.setattr(records, "update_alert", missing)
    result = CliRunner().invoke(_app(), ["alerts", "ack", "[bold]x[/bold]", "--as", "tutor-a"])
    assert result.exit_code == 2 and "no alert [bold]x[/bold]" in result.output
