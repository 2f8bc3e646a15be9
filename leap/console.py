"""The command line's consoles and its one way of failing, shared by every command module."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

out = Console()
err = Console(stderr=True)


def print_error(message: str) -> None:
    """Print ``message`` as one error line on standard error (no markup is read from it)."""
    # One line whatever the terminal's width, so logs and scripts get the whole error on one line.
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as an error and end the command with ``code``."""
    print_error(message)
    raise typer.Exit(code)
