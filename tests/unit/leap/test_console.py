"""The command line's one way of failing: one line, the message as written."""

from __future__ import annotations

import pytest
import typer

from leap import console


def test_a_long_error_stays_on_one_line_and_brackets_are_printed_not_read_as_markup(capsys):
    message = "file [2026] moodle_logstore.csv, row 12: " + "x" * 200
    with pytest.raises(typer.Exit) as exited:
        console.fail(message, code=3)
    printed = capsys.readouterr().err
    assert exited.value.exit_code == 3
    assert printed.splitlines() == [f"error: {message}"]
