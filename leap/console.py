"""The command line's consoles and its one way of failing, shared by every command module."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as an error and end the command with ``code``."""
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)
