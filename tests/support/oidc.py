"""A real OpenID Connect provider for tests: node-oidc-provider run from tests/tools/.

    users = [{"username": "s1001", "password": "pw", "name": "Ada Lovelace", "email": "ada@uni.example"}]
    clients = [{"client_id": "portal", "client_secret": "secret",
                "redirect_uris": ["http://127.0.0.1:8000/auth/callback"],
                "post_logout_redirect_uris": ["http://127.0.0.1:8000/"]}]
    with OidcProvider(users, clients) as op:
        op.issuer, op.discovery_url   # http://127.0.0.1:PORT, .../.well-known/openid-configuration

`make test-tools` (deploy/local/test-tools.sh) installs node's packages; tests/tools/oidc_provider.mjs
documents the provider itself (login page, consent, logout).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

TOOLS = Path(__file__).resolve().parents[1] / "tools"
SCRIPT = TOOLS / "oidc_provider.mjs"


class OidcProviderError(RuntimeError):
    """The provider could not be started (or was misconfigured); the message carries its output."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the OS's choice); the provider binds it right after."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class OidcProvider:
    """Starts node-oidc-provider with these users and clients; a context manager.

    `users`: dicts with username, password, name, email and optionally sub (default: username).
    `clients`: dicts of OpenID client metadata: client_id, client_secret, redirect_uris, and
    optionally post_logout_redirect_uris, token_endpoint_auth_method (client_secret_basic, the
    default, or client_secret_post). `port=None` picks a free port.
    """

    def __init__(
        self,
        users: list[dict[str, Any]],
        clients: list[dict[str, Any]],
        port: int | None = None,
        host: str = "127.0.0.1",
        startup_seconds: float = 30.0,
    ) -> None:
        self.users = users
        self.clients = clients
        self.host = host
        self.port = port or free_port(host)
        self.startup_seconds = startup_seconds
        self._process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def output(self) -> str:
        """Everything the provider printed so far (stdout and stderr)."""
        if self._tmp is None:
            return ""
        log = Path(self._tmp.name) / "provider.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def discovery(self) -> dict[str, Any]:
        """The provider's discovery document, fetched now."""
        response = httpx.get(self.discovery_url, timeout=5)
        response.raise_for_status()
        return response.json()

    def start(self) -> Self:
        """Start the provider and return once its discovery document answers with its issuer."""
        if self._process is not None:
            raise OidcProviderError("the OIDC provider is already running")
        node = shutil.which("node")
        if node is None:
            raise OidcProviderError("node is not on PATH; run `make test-tools` (Node.js 20+ is needed)")
        if not (TOOLS / "node_modules" / "oidc-provider").is_dir():
            raise OidcProviderError(f"oidc-provider is not installed in {TOOLS}; run `make test-tools`")
        self._tmp = tempfile.TemporaryDirectory(prefix="leap-oidc-")
        tmp = Path(self._tmp.name)
        (tmp / "users.json").write_text(json.dumps(self.users))
        (tmp / "clients.json").write_text(json.dumps(self.clients))
        # Output goes to a file, not a pipe nobody reads (a full pipe would block the provider).
        with open(tmp / "provider.log", "wb") as log:
            self._process = subprocess.Popen(
                [node, str(SCRIPT), "--host", self.host, "--port", str(self.port),
                 "--users", str(tmp / "users.json"), "--clients", str(tmp / "clients.json")],
                cwd=TOOLS, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_seconds
        last_error = "no answer yet"
        assert self._process is not None
        while time.monotonic() < deadline:
            try:
                issuer = self.discovery().get("issuer")
                if issuer == self.issuer:
                    return
                last_error = f"discovery names issuer {issuer!r}"
            except (httpx.HTTPError, ValueError) as exc:
                last_error = str(exc) or type(exc).__name__
            # Waiting on the process doubles as the pause between polls and notices a crash at once.
            try:
                code = self._process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            raise OidcProviderError(f"the OIDC provider exited with status {code}:\n{self.output()}")
        raise OidcProviderError(
            f"the OIDC provider did not answer {self.discovery_url} within {self.startup_seconds:g} s "
            f"({last_error}):\n{self.output()}"
        )

    def stop(self) -> None:
        """Stop the provider (terminate, then kill if it lingers) and remove its files."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
