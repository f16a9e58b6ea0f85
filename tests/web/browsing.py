"""Helpers for the browser tests (the fixtures that use them are in conftest.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from playwright.sync_api import Page

from tests.support import RunningServer


@dataclass
class PageLog:
    """What a page did besides drawing: its requests, sockets and uncaught errors."""

    requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def sign_in(page: Page, server: RunningServer, username: str = "sitter") -> str:
    """Put a real session cookie (from the sign-in API) into the browser; returns its token."""
    token: str = server.login(username).cookies["vigil_session"]
    page.context.add_cookies(
        [{"name": "vigil_session", "value": token, "url": server.url, "httpOnly": True}]
    )
    return token


def wait_js(page: Page, expression: str, timeout: float = 2000) -> None:
    """Wait until ``expression`` is true in the page, polling every 20 ms for ``timeout`` ms.

    ``Page.wait_for_function`` cannot poll on these pages: their CSP (``default-src 'self'``)
    forbids the eval it polls with, so it passes only when the expression is already true.
    ``Page.evaluate`` is not subject to the page's CSP."""
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout:.0f} ms: {expression}")
        page.wait_for_timeout(20)
