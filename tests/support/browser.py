"""Browser tests on Debian's chromium, driven by Playwright, checked with axe-core.

Playwright never downloads a browser here: it launches the distribution's /usr/bin/chromium
(`make test-tools` installs it; LEAP_CHROMIUM names another binary). axe-core comes from
tests/tools/node_modules, pinned by tests/tools/package-lock.json.

    with chromium() as browser:
        page = browser.new_page()
        page.goto(url)
        assert not axe_violations(page), format_violations(axe_violations(page))
        save_screenshot(page, "student-home")
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "tools" / "node_modules" / "axe-core" / "axe.min.js"
# As root (CI, this machine) chromium refuses to start with its sandbox; /dev/shm may be small
# in containers; there is no GPU.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu")


def chromium_path() -> str:
    """The chromium binary to launch: LEAP_CHROMIUM, else Debian's /usr/bin/chromium."""
    path = os.environ.get("LEAP_CHROMIUM", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"chromium not found at {path}; run `make test-tools` (Debian package chromium)")
    return path


@contextmanager
def chromium(**launch_options: Any) -> Iterator[Browser]:
    """A headless chromium for the block; `launch_options` go to Playwright's launch()."""
    options = {"headless": True, "args": list(CHROMIUM_ARGS), **launch_options}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), **options)
        try:
            yield browser
        finally:
            browser.close()


@cache
def _axe_source() -> str:
    if not AXE.is_file():
        raise RuntimeError(f"axe-core is not installed at {AXE}; run `make test-tools`")
    return AXE.read_text()


def axe_violations(
    page: Page, impacts: Sequence[str] | None = ("serious", "critical"), tags: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now, of these impacts (None: all).

    Each is {"id", "impact", "help", "help_url", "targets"}, targets being one CSS selector per
    offending element. `tags` limits the rules (e.g. ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"]);
    by default every rule runs, best practices included.
    """
    # Evaluated through the DevTools protocol rather than added as a <script>, so a page's
    # Content-Security-Policy (the portal has one) does not block it.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if tags:
        options["runOnly"] = {"type": "tag", "values": list(tags)}
    result = page.evaluate("options => window.axe.run(document, options)", options)
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "help_url": v["helpUrl"],
            "targets": [" ".join(map(str, node["target"])) for node in v["nodes"]],
        }
        for v in result["violations"]
        if impacts is None or v["impact"] in impacts
    ]


def format_violations(violations: list[dict[str, Any]]) -> str:
    """One line per violation, for an assertion message."""
    return "\n".join(f"{v['impact']}: {v['id']} ({v['help']}) at {', '.join(v['targets'])}" for v in violations)


def screenshot_dir() -> Path:
    """Where screenshots go: LEAP_SCREENSHOT_DIR, else .state/screenshots in the checkout."""
    return Path(os.environ.get("LEAP_SCREENSHOT_DIR") or ROOT / ".state" / "screenshots")


def save_screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    """Save a PNG of the page as NAME.png in screenshot_dir() and return its path."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name.removesuffix(".png")).strip("-.")
    if not stem:
        raise ValueError(f"screenshot name {name!r} has no usable characters")
    folder = screenshot_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
