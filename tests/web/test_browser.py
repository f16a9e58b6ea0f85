"""The tablet page in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from simulator.devices.base import Fault
from tests.support import RunningServer, RunningSimulator

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("VIGIL_CHROMIUM", "/usr/bin/chromium")
# As root the sandbox must be off; the networking flags stop Chromium phoning home.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (make test does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def sign_in(page: Page, server: RunningServer, username: str = "sitter") -> None:
    """Put a real session cookie (from the sign-in API) into the browser context."""
    token = server.login(username).cookies["vigil_session"]
    page.context.add_cookies(
        [{"name": "vigil_session", "value": token, "url": server.url, "httpOnly": True}]
    )


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def test_live_spo2_then_stale_and_technical_alarm_then_recovery(
    page: Page,
    simulated: Callable[..., RunningSimulator],
    serve: Callable[..., RunningServer],
) -> None:
    sim = simulated("masimo-ascii")
    server = serve(devices=[f"monitor:masimo-ascii={sim.devices['monitor'].link.path}"])
    sign_in(page, server)
    page.goto(server.url)
    spo2 = page.locator('[data-metric="spo2"]')
    expect(spo2.locator(".value")).to_have_text("98", timeout=5000)
    expect(page.locator('[data-metric="pulse_rate"] .value')).to_have_text("72")
    expect(page.locator("#connection")).to_have_text("Live")
    expect(page.locator("#no-alarms")).to_be_visible()

    sim.devices["monitor"].set_fault(Fault.UNPLUG, True)
    alarm = page.locator('.alarm[data-kind="technical"]')
    expect(alarm).to_be_visible(timeout=10_000)
    expect(alarm).to_contain_text("monitor disconnected")
    expect(alarm.locator(".marker")).to_have_text("**")
    expect(spo2).to_have_class(re.compile(r"\bstale\b"))
    expect(spo2.locator(".age")).to_contain_text("no fresh data")
    expect(page.locator('[data-source="monitor"]')).to_have_class(re.compile("device-disconnected"))

    sim.devices["monitor"].set_fault(Fault.UNPLUG, False)
    expect(page.locator("#no-alarms")).to_be_visible(timeout=10_000)
    expect(spo2).not_to_have_class(re.compile(r"\bstale\b"))


def test_low_spo2_alarm_is_shown_with_its_priority(
    page: Page,
    simulated: Callable[..., RunningSimulator],
    serve: Callable[..., RunningServer],
) -> None:
    sim = simulated("masimo-ascii")
    sim.scenario.vitals.spo2 = 86
    server = serve(devices=[f"monitor:masimo-ascii={sim.devices['monitor'].link.path}"])
    sign_in(page, server)
    page.goto(server.url)
    alarm = page.locator('.alarm[data-priority="medium"]')
    # 86 % accumulates 4 %·s per second: the 25 %·s SatSeconds limit is reached in ~7 s.
    expect(alarm).to_be_visible(timeout=15_000)
    expect(alarm).to_contain_text("SpO2 86 < 90")
    expect(alarm).to_have_css("background-color", "rgb(242, 194, 0)")


def test_connection_lost_within_5_s_and_recovers_by_itself(
    page: Page,
    simulated: Callable[..., RunningSimulator],
    serve: Callable[..., RunningServer],
) -> None:
    sim = simulated("masimo-ascii")
    devices = [f"monitor:masimo-ascii={sim.devices['monitor'].link.path}"]
    server = serve(devices=devices)
    sign_in(page, server)
    page.goto(server.url)
    expect(page.locator("#connection")).to_have_text("Live", timeout=5000)
    server.stop()
    # 5 s of silence plus one check period of the page.
    expect(page.locator("#lost")).to_be_visible(timeout=6_500)
    expect(page.locator("#connection")).to_have_text("CONNECTION LOST")
    serve(devices=devices, port=server.port)
    expect(page.locator("#lost")).to_be_hidden(timeout=10_000)
    expect(page.locator('[data-metric="spo2"] .value')).to_have_text("98", timeout=5000)
