"""Helpers for the browser tests (the fixtures that use them are in conftest.py)."""

from __future__ import annotations

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
