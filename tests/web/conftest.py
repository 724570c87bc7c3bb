"""Browser fixtures: Debian's Chromium driven headless by Playwright for each module, and per
test a desktop ``page`` or a ``phone_page`` in a fresh context. A test fails when its page
throws an uncaught JavaScript error; the pages' console errors come with that failure (and
with any other failure of the test) as a report section."""

from __future__ import annotations

import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from tests.web.browser import (
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    REPO,
    TIMEOUT_MS,
    PageErrors,
    chromium_executable,
)

# The collectors of the pages a test opened, for the check after its call.
_WATCHED = pytest.StashKey[list[PageErrors]]()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core, the accessibility rules engine, from the playground's pinned npm packages
    (scripts/web_assets.sh installs them once and prints where)."""
    modules = subprocess.run([str(REPO / "scripts" / "web_assets.sh")], capture_output=True,
                             text=True, check=True, timeout=600).stdout.strip()
    return (Path(modules) / "axe-core" / "axe.min.js").read_text()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for one test module (a launch costs about a second; contexts keep
    the tests apart). Without Chromium the tests fail, saying to run scripts/services.sh.
    While it lives, Playwright's sync API holds this thread's asyncio loop, so
    ``asyncio.run`` is refused: browser tests reach servers through subprocesses. It is
    closed at the end of the module, so other modules' tests are unaffected."""
    executable = chromium_executable()
    # expect()'s timeout is module-wide state, not a context's; a browser test needs it here
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def _open_page(browser: Browser, request: pytest.FixtureRequest, errors: PageErrors,
               options: dict[str, Any]) -> Iterator[Page]:
    """A page in a fresh context made with ``options``, its errors collected into ``errors``
    and checked after the test's call; the context is closed at teardown."""
    context = browser.new_context(**options)
    try:
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        errors.watch(page)
        request.node.stash.setdefault(_WATCHED, []).append(errors)
        yield page
    finally:
        context.close()


@pytest.fixture
def page_errors() -> PageErrors:
    """What ``page`` reported going wrong; a test may read its console errors."""
    return PageErrors("page")


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest,
         page_errors: PageErrors) -> Iterator[Page]:
    """A desktop page (1280x900) in a fresh browser context."""
    yield from _open_page(browser, request, page_errors, DESKTOP)


@pytest.fixture
def phone_page_errors() -> PageErrors:
    """What ``phone_page`` reported going wrong; a test may read its console errors."""
    return PageErrors("phone_page")


@pytest.fixture
def phone_page(browser: Browser, request: pytest.FixtureRequest,
               phone_page_errors: PageErrors) -> Iterator[Page]:
    """A phone page (390x844 CSS pixels at 3x, mobile, touch) in a fresh browser context."""
    yield from _open_page(browser, request, phone_page_errors, PHONE)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Fail the test (not its teardown) when one of its pages threw an uncaught error, and
    report every error its pages collected beside any failure."""
    watched = item.stash.get(_WATCHED, [])  # the page fixtures were set up before the call
    try:
        result = yield
    except BaseException:
        _report(item, watched)
        raise
    if any(errors.failure() for errors in watched):
        pytest.fail("the page threw uncaught JavaScript errors:\n" + _collected(watched),
                    pytrace=False)
    _report(item, watched)  # shown for passed tests too under -rP
    return result


def _collected(watched: list[PageErrors]) -> str:
    return "\n".join(text for errors in watched if (text := errors.report()))


def _report(item: pytest.Item, watched: list[PageErrors]) -> None:
    if report := _collected(watched):
        item.add_report_section("call", "browser errors", report)
