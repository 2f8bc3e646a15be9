"""The portal as a real process (`leap portal serve`) for integration tests, and signed-in HTTP clients."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx

from tests.integration.conftest import LEAP
from tests.integration.engine_helpers import wait_until
from tests.integration.workers import free_port


class Portal:
    """`leap portal serve` on a free loopback port with the deployment's environment."""

    def __init__(self, env: dict[str, str], tmp: Path, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "LEAP_PORTAL_URL": self.url, "LEAP_PORTAL_SECRET": "test-secret-" + "x" * 32, **settings}
        self.log_path = tmp / f"portal-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Portal:
        log = self.log_path.open("w")
        self.process = subprocess.Popen([LEAP, "portal", "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._ready, 60, f"the portal at {self.url} (log {self.log_path})", interval=0.3)
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"the portal exited with {self.process.returncode}:\n{self.log()}")
        try:
            return httpx.get(self.url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return self.log_path.read_text()[-4000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def __enter__(self) -> Portal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def dev_client(portal: Portal, user_id: str) -> httpx.Client:
    """An HTTP client signed in as ``user_id`` through the development sign-in."""
    client = httpx.Client(base_url=portal.url, follow_redirects=False, timeout=20)
    page = client.get("/signin")
    response = client.post("/signin/dev", data={"csrf": csrf_of(page.text), "user_id": user_id})
    assert response.status_code == 303 and response.headers["location"] in ("/me", "/caseload"), (response.status_code, response.text[:500])
    return client
