"""What every deployment (compose, Kubernetes, systemd) must agree on with LEAP itself.

The deployments drifted from the code before (issue 11): a command that no longer existed, a
setting nobody reads, a port nothing listened on. These helpers read the code's own truth (the
Typer app, the Settings model) so that drift fails a test instead of a deployment.
"""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import typer

try:  # typer 0.29 carries its own copy of click: leap's commands are that copy's objects
    from typer import _click as click
except ImportError:  # pragma: no cover - a typer built on the click package
    import click  # type: ignore[no-redef]

from leap.settings import SECRETS, Settings

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"

SETTINGS = frozenset("LEAP_" + name.upper() for name in Settings.model_fields) | {f"LEAP_{name.upper()}_FILE" for name in SECRETS}


def _policy_variables(table: dict) -> set[str]:
    """Variables the policy names for secrets of its own (``secret_env``: the webhook's key)."""
    found = set()
    for key, value in table.items():
        if isinstance(value, dict):
            found |= _policy_variables(value)
        elif key.endswith("_env") and isinstance(value, str):
            found.add(value)
    return found


KNOWN_VARIABLES = SETTINGS | _policy_variables(tomllib.loads((DEPLOY / "institution.toml").read_text()))
# An env var whose name holds one of these carries a credential: never a literal in a manifest.
SECRET_WORDS = ("SECRET", "PASSWORD", "KEY", "DSN", "DATABASE_URL", "REDIS_URL")
LONG_RUNNING = frozenset({"worker", "consume", "ingest serve", "portal serve", "tail moodle"})
ONE_SHOT = frozenset({"db migrate", "topics create"})


class NotALeapCommand(ValueError):
    """A command line the installed ``leap`` would refuse."""


def unknown_settings(text: str) -> list[str]:
    """``LEAP_*`` names in ``text`` (comments too) that are neither a setting nor named by the policy.

    ``LEAP_OIDC_*`` stands for the settings it starts.
    """
    names = set(re.findall(r"\bLEAP_[A-Z0-9_]+\b(?!\*)", text)) - KNOWN_VARIABLES
    prefixes = {p for p in re.findall(r"\bLEAP_[A-Z0-9_]*(?=\*)", text) if not any(k.startswith(p) for k in KNOWN_VARIABLES)}
    return sorted(names | {f"{p}*" for p in prefixes})


def is_secret_name(name: str) -> bool:
    return any(word in name.upper() for word in SECRET_WORDS)


@lru_cache(maxsize=1)
def _leap_command() -> click.Command:
    from leap.cli import app

    return typer.main.get_command(app)


def parse_leap(argv: list[str]) -> tuple[str, dict[str, object]]:
    """The subcommand (``"ingest serve"``) and parsed parameters of a ``leap`` command line.

    Raises ``NotALeapCommand`` when the installed ``leap`` would refuse it: an unknown
    subcommand, option or value.
    """
    if not argv or Path(argv[0]).name != "leap":
        raise NotALeapCommand(f"not a leap command: {argv!r}")
    command: click.Command = _leap_command()
    ctx = click.Context(command, info_name="leap")
    args, path = list(argv[1:]), []
    while hasattr(command, "get_command"):  # a group: the next word names a subcommand
        if not args:
            raise NotALeapCommand(f"'leap {' '.join(path)}' needs a subcommand")
        name = args.pop(0)
        sub = command.get_command(ctx, name)
        if sub is None:
            raise NotALeapCommand(f"no command 'leap {' '.join([*path, name])}'")
        path.append(name)
        command = sub
        ctx = click.Context(command, info_name=name, parent=ctx)
    try:
        parsed = command.make_context(path[-1], args, parent=ctx.parent)
    except click.ClickException as exc:
        raise NotALeapCommand(f"leap {' '.join(path)}: {exc.format_message()}") from None
    return " ".join(path), parsed.params


def listening_port(argv: list[str], env: dict[str, str]) -> int | None:
    """The port a long-running ``leap`` process serves /healthz, /readyz and /metrics on."""
    path, params = parse_leap(argv)
    for option in ("web_port", "metrics_port", "port"):
        if params.get(option):
            return int(params[option])  # type: ignore[call-overload]
    setting = {"ingest serve": "ingest_url", "portal serve": "portal_url"}.get(path)
    if setting is None:
        return None
    url = urlsplit(env.get(f"LEAP_{setting.upper()}") or Settings.model_fields[setting].default)
    return url.port or (443 if url.scheme == "https" else 80)
