"""Signing in and out at the tablet, and connection honesty: lost, recovered, refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from service.auth.signins import token_hash
from service.auth.users import UserStore
from service.persistence.db import make_engine
from service.settings import Settings
from tests.support import RunningServer, RunningSimulator
from tests.web.browsing import sign_in, wait_js

pytestmark = pytest.mark.browser


def masimo_server(
    simulated: Callable[..., RunningSimulator], serve: Callable[..., RunningServer]
) -> tuple[list[str], RunningServer]:
    sim = simulated("masimo-ascii")
    devices = [f"monitor:masimo-ascii={sim.devices['monitor'].link.path}"]
    return devices, serve(devices=devices)


def test_sign_in_through_the_form_wrong_pin_then_sign_out(
    page: Page,
    simulated: Callable[..., RunningSimulator],
    serve: Callable[..., RunningServer],
) -> None:
    _, server = masimo_server(simulated, serve)
    page.goto(server.url)
    expect(page.locator("#signin")).to_be_visible(timeout=5000)
    expect(page.locator("#app")).to_be_hidden()
    expect(page.locator("#signin-pin")).to_have_attribute("inputmode", "numeric")

    page.locator("#signin-user").fill("sitter")
    page.locator("#signin-pin").fill("999999")
    page.locator("#signin-submit").click()
    # Verbatim from the API, which never says which part was wrong.
    expect(page.locator("#signin-error")).to_have_text("wrong user name or PIN")
    expect(page.locator("#signin-pin")).to_have_value("")

    page.locator("#signin-pin").fill("1111")
    page.locator("#signin-pin").press("Enter")
    expect(page.locator("#app")).to_be_visible(timeout=5000)
    expect(page.locator("#user-name")).to_have_text("Sitter")
    expect(page.locator('[data-metric="spo2"] .value')).to_have_text("98", timeout=5000)
    expect(page.locator("#connection")).to_have_text("Live")

    page.locator("#user-button").click()
    page.locator("#sign-out").click()
    expect(page.locator("#signin")).to_be_visible(timeout=5000)
    expect(page.locator("#lost")).to_be_hidden()
    assert page.request.get(f"{server.url}/api/v1/auth/me").status == 401


def test_connection_lost_within_5_s_sounds_and_recovers_by_itself(
    page: Page,
    simulated: Callable[..., RunningSimulator],
    serve: Callable[..., RunningServer],
) -> None:
    devices, server = masimo_server(simulated, serve)
    sign_in(page, server)
    page.goto(server.url)
    expect(page.locator("#connection")).to_have_text("Live", timeout=5000)
    expect(page.locator('[data-metric="spo2"] .value')).to_have_text("98", timeout=5000)

    server.stop()
    expect(page.locator("#lost")).to_be_visible(timeout=5000)
    expect(page.locator("#connection")).to_have_text("CONNECTION LOST")
    # The page's own technical alarm: the MEDIUM pattern, sounded locally.
    wait_js(
        page,
        "window.__vigilSound.reason === 'connection lost' && window.__vigilSound.pulses === 3",
        timeout=2000,
    )

    # The same port again: the page reconnects by itself, and the sign-in survived the restart.
    serve(devices=devices, port=server.port)
    expect(page.locator("#lost")).to_be_hidden(timeout=10_000)
    expect(page.locator("#connection")).to_have_text("Live")
    expect(page.locator('[data-metric="spo2"] .value')).to_have_text("98", timeout=5000)
    wait_js(page, "window.__vigilSound.sounding === null", timeout=2000)


def test_socket_refused_after_the_session_ended_shows_sign_in(
    page: Page,
    tmp_path: Path,
    simulated: Callable[..., RunningSimulator],
    serve: Callable[..., RunningServer],
) -> None:
    devices, server = masimo_server(simulated, serve)
    token = sign_in(page, server)
    page.goto(server.url)
    expect(page.locator("#connection")).to_have_text("Live", timeout=5000)

    # While the unit is down its stored sign-in goes away (as when it expires), so the restarted
    # unit refuses the page's socket.
    server.stop()
    engine = make_engine(Settings(data_dir=tmp_path / "data").database_url)
    UserStore(engine).delete_sign_in(token_hash(token))
    engine.dispose()
    serve(devices=devices, port=server.port)

    expect(page.locator("#signin")).to_be_visible(timeout=10_000)
    expect(page.locator("#signin-notice")).to_contain_text(re.compile("NOT showing"))
    expect(page.locator("#lost")).to_be_hidden()
    wait_js(page, "window.__vigilSound.sounding === null", timeout=2000)
