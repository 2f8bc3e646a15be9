"""The data-protection commands' argument checks, which refuse before touching any storage."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from consumers.protection import cli


def _app() -> typer.Typer:
    app = typer.Typer()
    cli.register(app)
    return app


def _run(*args: str):
    return CliRunner().invoke(_app(), list(args))


def _flat(result) -> str:
    return " ".join(result.output.split())


def test_erase_needs_a_reason_and_confirmation_off_a_terminal():
    missing = _run("erase", "s1")
    assert missing.exit_code == 2 and "--reason" in _flat(missing)
    unconfirmed = _run("erase", "s1", "--reason", "request 7")
    assert unconfirmed.exit_code == 2 and "pass --yes" in _flat(unconfirmed)


def test_retention_refuses_a_day_after_today_and_a_bad_day():
    future = _run("retention", "run", "--today", "2999-01-01")
    assert future.exit_code == 2 and "is after today" in _flat(future)
    bad = _run("retention", "run", "--today", "yesterday")
    assert bad.exit_code == 2 and "is not a date" in _flat(bad)


def test_sar_never_overwrites_a_file(tmp_path):
    existing = tmp_path / "out.zip"
    existing.write_bytes(b"keep me")
    result = _run("sar", "s1", "--out", str(existing))
    assert result.exit_code == 2 and "already exists" in _flat(result)
    assert existing.read_bytes() == b"keep me"


def test_every_command_has_help():
    for args in (["sar", "--help"], ["erase", "--help"], ["retention", "run", "--help"]):
        result = _run(*args)
        assert result.exit_code == 0 and "Usage" in result.output, args
