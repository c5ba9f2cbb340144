"""A reviewer at the review page, in headless Chromium (talk.browser: Debian's /usr/bin/chromium driven by
Playwright, the network cut off but for the review service's loopback origin), with the keyboard only:
sign in, open a case from the queue, override it with a written reason and a reason code. For the tests
and the notebook's screenshot."""

from __future__ import annotations

from pathlib import Path

from talk.browser import OfflinePage


def signed_out_status(url: str) -> tuple[int, str]:
    """The status and heading of the queue page without a credential."""
    with OfflinePage(allow_origin=url) as browser:
        response = browser.page.goto(url + "/", wait_until="load")
        return response.status, browser.page.inner_text("h1")


def override_by_keyboard(url: str, token: str, case_id: int, reason: str, code: str | None,
                         screenshot: Path | str | None = None) -> dict:
    """Sign in, open case ``case_id`` from the queue, override it, citing ``code`` when the result is a
    rejection; returns what the page showed, the requests it made and those that failed."""
    with OfflinePage(width=1100, height=900, allow_origin=url) as browser:
        page = browser.page
        page.goto(url + "/", wait_until="load")
        page.focus("#token")  # autofocus, unless the headless window has no focus
        page.keyboard.type(token)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        queue_heading = page.inner_text("h1")
        timing = page.evaluate("() => { const t = performance.getEntriesByType('navigation')[0];"
                               " return t.loadEventEnd - t.startTime; }")  # the queue page's load, ms
        page.focus(f'a[href="/cases/{case_id}"]')
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.focus('input[name="action"][value="override"]')
        page.keyboard.press("Space")
        page.focus("#reason")
        page.keyboard.type(reason)
        if code:
            page.focus(f'input[name="codes"][value="{code}"]')
            page.keyboard.press("Space")
        if screenshot:
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        page.focus('button[type="submit"]:has-text("Record the decision")')
        with page.expect_navigation():
            page.keyboard.press("Enter")
        return {"queue": queue_heading, "queue_load_ms": timing, "final": page.inner_text("#final"),
                "notice": page.inner_text("#notice"),
                "requests": list(browser.requests), "failed": list(browser.failed_requests),
                "errors": browser.exceptions + browser.console_errors}  # fmt: skip
