"""`leap status` prints the explanation in words for staff (no database: its reads are faked)."""

from __future__ import annotations

import contextlib
import json
from datetime import date

import typer
from typer.testing import CliRunner

from consumers import cli, records
from tests.unit.leap.test_explain import V1, V2


class _Conn:
    def __init__(self, autocommit=False):
        self.autocommit = autocommit

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def transaction(self):
        return contextlib.nullcontext()


def _run(monkeypatch, current, *args):
    found = {"student_id": "s1", "roster": {"programme": "BSC-CS", "year_of_study": 2, "status": "active", "personal_tutor": "tutor-a"},
             "current": current, "open_alerts": [], "exemptions": []}  # fmt: skip
    monkeypatch.setattr(cli, "_connect", _Conn)
    monkeypatch.setattr(records, "status_of", lambda conn, actor, student, purpose: found if actor.roles == {"admin"} else None)
    app = typer.Typer()
    app.command()(cli.status)
    return CliRunner().invoke(app, ["s1", *args])


def _current(explanation):
    return {"cohort": "BSC-CS/Y2", "score": 73.42, "band": "good", "days_since_last_activity": 0, "day": date(2026, 11, 29), "explanation": explanation}


def test_status_shows_the_explanation_for_staff_in_words(monkeypatch):
    result = _run(monkeypatch, _current(V2))
    assert result.exit_code == 0, result.output
    assert "Good — engagement score 73 out of 100 (Good is 60 to 79)." in result.output
    assert "  Moodle: 12 actions a day; typical student in the group 9 — counts in full." in result.output
    assert "measure" not in result.output and "cohort median" not in result.output


def test_status_fills_a_v1_record_from_its_row(monkeypatch):
    result = _run(monkeypatch, {**_current(V1), "band": "high"})
    assert result.exit_code == 0, result.output
    assert "High — engagement score 94 out of 100" in result.output and "Attendance: attended 8 of 10" in result.output


def test_status_json_is_unchanged(monkeypatch):
    result = _run(monkeypatch, _current(V2), "--json")
    assert json.loads(result.output)["current"]["explanation"] == V2
