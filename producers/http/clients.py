"""Who may send activity over HTTP, and what: the ingest clients file and the checks on each request.

The clients file (``LEAP_INGEST_CLIENTS_FILE``) is TOML, one table per sending system::

    [[client]]
    name = "moodle"                 # also the user name for HTTP basic auth
    kind = "xapi"                   # the endpoint it may use: xapi, caliper or events
    sources = ["vle", "coursework"] # the LEAP sources its activity may count as
    token_sha256 = "9f86d081..."    # SHA-256 (hex) of its token; or:
    # token_file = "/run/secrets/leap-moodle-token"   (the token itself, read at start)

The file holds no token, only its hash (``leap ingest token NAME`` makes a token and its
line), so it can live with the rest of the configuration; ``token_file`` points at a secret
mounted by the deployment. A client authenticates with ``Authorization: Bearer <token>`` or
with basic auth as ``name:token``. A client can only write its own kind and sources: the
attendance system's token cannot publish VLE activity.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from producers.outcome import SOURCES

KINDS = ("xapi", "caliper", "events")


class ClientsError(ValueError):
    """A clients file that cannot be used (the message names the file and the problem)."""


@dataclass(frozen=True)
class Client:
    """One system allowed to send activity."""

    name: str
    kind: str
    sources: frozenset[str]
    token_sha256: str


def token_hash(token: str) -> str:
    """The SHA-256 (hex) of a token, as the clients file holds it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(name: str) -> tuple[str, str]:
    """A fresh random token for client ``name`` and the clients-file line of its hash."""
    token = secrets.token_urlsafe(32)
    return token, f'token_sha256 = "{token_hash(token)}"  # {name}'


def parse_clients(data: Mapping[str, object], *, where: str, base: Path | None = None) -> dict[str, Client]:
    """Clients by name from the decoded TOML; ``ClientsError`` naming the first problem."""
    tables = data.get("client", [])
    if not isinstance(tables, list) or not tables:
        raise ClientsError(f"{where}: no [[client]] tables")
    clients: dict[str, Client] = {}
    for index, table in enumerate(tables, start=1):
        if not isinstance(table, dict):
            raise ClientsError(f"{where}: client {index} is not a table")
        name = table.get("name")
        label = f"{where}: client {name!r}" if isinstance(name, str) else f"{where}: client {index}"
        if not isinstance(name, str) or not name or ":" in name:
            raise ClientsError(f"{label}: name must be non-empty text without ':'")
        if name in clients:
            raise ClientsError(f"{label}: named twice")
        kind = table.get("kind")
        if kind not in KINDS:
            raise ClientsError(f"{label}: kind must be one of {', '.join(KINDS)}")
        sources = table.get("sources")
        if not isinstance(sources, list) or not sources or any(s not in SOURCES for s in sources):
            raise ClientsError(f"{label}: sources must be a non-empty list of {', '.join(SOURCES)}")
        clients[name] = Client(name, kind, frozenset(sources), _token_sha256(table, label, base))
    return clients


def _token_sha256(table: Mapping[str, object], label: str, base: Path | None) -> str:
    digest, path = table.get("token_sha256"), table.get("token_file")
    if (digest is None) == (path is None):
        raise ClientsError(f"{label}: give exactly one of token_sha256 and token_file")
    if isinstance(digest, str):
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
            raise ClientsError(f"{label}: token_sha256 must be 64 hex digits (leap ingest token NAME makes one)")
        return digest.lower()
    file = Path(str(path))
    file = file if file.is_absolute() or base is None else base / file
    try:
        token = file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ClientsError(f"{label}: cannot read token_file {file}: {exc.strerror}") from None
    if len(token) < 16:
        raise ClientsError(f"{label}: the token in {file} is shorter than 16 characters")
    return token_hash(token)


def load_clients(path: Path) -> dict[str, Client]:
    """The clients file at ``path``; ``ClientsError`` with one line saying what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ClientsError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ClientsError(f"{path}: not valid TOML: {exc}") from None
    return parse_clients(data, where=str(path), base=path.parent)


def authenticate(authorization: str | None, clients: Mapping[str, Client]) -> Client | None:
    """The client an ``Authorization`` header proves to be, or None.

    Compares hashes in constant time; every client is tried for a bearer token so the time
    taken does not tell which clients exist.
    """
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        offered = token_hash(credentials.strip())
        found = None
        for client in clients.values():
            if hmac.compare_digest(offered, client.token_sha256):
                found = client
        return found
    if scheme == "basic":
        try:
            name, _, token = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client = clients.get(name)
        offered = token_hash(token)
        return client if client is not None and hmac.compare_digest(offered, client.token_sha256) else None
    return None
