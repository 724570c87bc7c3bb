"""Helpers for the browser tests: where Chromium is, how it is launched, the contexts pages
open in, the collector of a page's JavaScript errors, and screenshots kept as artifacts."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Error, Page

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "playground"

# Waits and expect() assertions: a 2-core CPU machine generating text with a real model takes
# tens of seconds per answer, far past Playwright's 30 s (actions) and 5 s (expect) defaults.
TIMEOUT_MS = 60_000

# Playwright passes most of these already; they are stated so the browser runs the same way
# whatever Playwright's defaults become. The tests run as root in containers: no sandbox (it
# needs user namespaces), no GPU, and /tmp instead of a /dev/shm that is often 64 MB there.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-extensions",
    "--no-first-run",
    "--disable-sync",
    "--metrics-recording-only",
)

DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}


def chromium_executable() -> Path:
    """The Chromium the tests drive: ``$QWENCHAT_CHROMIUM`` if set, else ``chromium`` on PATH
    (Debian's package, which scripts/services.sh installs). Fails the test, saying what to
    do, when there is none: browser tests that silently skip would hide a broken playground."""
    configured = os.environ.get("QWENCHAT_CHROMIUM")
    found = configured or shutil.which("chromium")
    if found is None:
        pytest.fail("no chromium on PATH: run scripts/services.sh (installs Debian's chromium) "
                    "or set QWENCHAT_CHROMIUM to a Chromium executable", pytrace=False)
    path = Path(found)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"QWENCHAT_CHROMIUM={configured} is not an executable file: run "
                    "scripts/services.sh and point it at `command -v chromium`, or unset it",
                    pytrace=False)
    return path


@dataclass
class PageErrors:
    """What a page reported going wrong: uncaught exceptions and rejections (``pageerror``),
    which fail the test, and console messages of type error, which only inform, since the
    browser logs those for HTTP errors a page handles (a 401 is "Failed to load resource")."""

    name: str
    uncaught: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        """Collect ``page``'s errors from now on."""
        page.on("pageerror", self.on_page_error)
        page.on("console", self.on_console)

    def on_page_error(self, error: Error) -> None:
        # the stack names the script and line; the message alone rarely does
        self.uncaught.append(error.stack or f"{error.name}: {error.message}")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location
        at = f" ({where['url']}:{where['lineNumber']})" if where.get("url") else ""
        self.console.append(message.text + at)

    def report(self) -> str:
        """Everything collected, for a failure's report; empty when nothing was."""
        parts = [f"{self.name}: uncaught error:\n{error}" for error in self.uncaught]
        parts += [f"{self.name}: console error: {text}" for text in self.console]
        return "\n".join(parts)

    def failure(self) -> str | None:
        """Why the test fails (the uncaught errors, with the console's errors beside them), or
        None when no uncaught error happened."""
        return self.report() if self.uncaught else None


def save_screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot of ``page`` as test-artifacts/playground/<name>.png under
    the repository root (kept for people to look at after the run) and return its path."""
    path = SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True)
    return path
