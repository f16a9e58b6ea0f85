"""Browser fixtures: Debian's Chromium driven by Playwright, one fresh context per test.

Every test page records the requests it makes (to prove nothing leaves the service's origin)
and fails the test on any uncaught JavaScript error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.web.browsing import PageLog

CHROMIUM = os.environ.get("VIGIL_CHROMIUM", "/usr/bin/chromium")
# As root the sandbox must be off; the networking flags stop Chromium phoning home, so any
# request a test sees comes from the page itself.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 800}  # the 10" landscape tablet


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (make test does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(browser: Browser, page_log: PageLog) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.on("request", lambda r: page_log.requests.append(r.url))
    page.on("websocket", lambda ws: page_log.websockets.append(ws.url))
    page.on("pageerror", lambda e: page_log.errors.append(str(e)))
    yield page
    context.close()
    assert not page_log.errors, f"uncaught JavaScript errors: {page_log.errors}"
