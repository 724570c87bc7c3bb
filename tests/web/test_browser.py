"""The browser fixtures themselves, on small pages of their own (no server): a click changes
the page, screenshots land under test-artifacts/, uncaught errors are caught while console
errors only inform, and the phone page is phone-sized."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect
from tests.web.browser import DESKTOP, PageErrors, save_screenshot

CLICK_PAGE = """<!doctype html>
<title>smoke</title>
<button type="button" onclick="document.querySelector('p').textContent = 'Hello, Qwen'">
  Greet
</button>
<p></p>
"""

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_click_changes_the_page_and_a_screenshot_is_saved(page: Page) -> None:
    page.set_content(CLICK_PAGE)
    page.get_by_role("button", name="Greet").click()
    expect(page.locator("p")).to_have_text("Hello, Qwen")

    path = save_screenshot(page, "smoke-click")
    assert path.name == "smoke-click.png"
    assert path.parent.parts[-2:] == ("test-artifacts", "playground")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_uncaught_errors_are_collected_and_console_errors_only_reported(browser: Browser) -> None:
    # a page of its own: the ``page`` fixture would (rightly) fail this test for the throw
    context = browser.new_context(**DESKTOP)
    try:
        page = context.new_page()
        errors = PageErrors("probe")
        errors.watch(page)
        with page.expect_console_message():
            page.set_content("<script>console.error('logged, handled')</script>")
        assert errors.failure() is None  # a console error alone fails nothing

        with page.expect_event("pageerror"):
            page.evaluate("setTimeout(() => { throw new Error('nobody caught this'); })")
    finally:
        context.close()

    assert errors.console == ["logged, handled"]
    assert len(errors.uncaught) == 1
    assert "nobody caught this" in errors.uncaught[0]
    failure = errors.failure()
    assert failure is not None
    assert "probe: uncaught error:" in failure
    assert "nobody caught this" in failure
    assert "probe: console error: logged, handled" in failure


def test_a_console_error_does_not_fail_the_page_fixture(page: Page,
                                                         page_errors: PageErrors) -> None:
    with page.expect_console_message():
        page.set_content("<script>console.error('Failed to load resource: 401')</script>")
    assert page_errors.console == ["Failed to load resource: 401"]
    assert page_errors.uncaught == []


def test_phone_page_is_phone_sized(phone_page: Page) -> None:
    phone_page.set_content("<!doctype html><meta name=viewport content='width=device-width'>")
    assert phone_page.evaluate("window.innerWidth") == 390
    assert phone_page.evaluate("window.devicePixelRatio") == 3
    assert phone_page.evaluate("navigator.maxTouchPoints") > 0
