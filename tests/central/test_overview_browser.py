"""The overview page at the nurses' station, in Chromium (Playwright), against a real central
station, Mosquitto and simulated bedside units: sign in, one tile per bed, an alarm in its IEC
colour, an OFFLINE tile, the Acknowledge button's round trip, the bed view, CONNECTION LOST.

Chromium is Debian's, launched as tests/web/conftest.py does. The page is driven from a thread of
its own: Playwright's synchronous API runs one event loop per thread, and the session-wide
browser of tests/web (not visible here: conftest files of sibling folders are not shared) may be
running in the main thread of the same test session.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.central.infra import Mosquitto
from tests.central.test_station import Bed, Central, alarm, beds, run_central, transition
from tests.web.conftest import ARGS, CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# Fixtures of tests/central/test_station.py used here.
__all__ = ["beds", "run_central"]

VIEWPORT = {"width": 1920, "height": 1080}  # the nurses' station's screen


def in_browser(drive: Callable[[Page], None], timeout: float = 120) -> None:
    """Run ``drive(page)`` with a fresh Chromium page in a thread of its own; re-raise what it
    raised, and fail on any uncaught JavaScript error of the page."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (make test does)")
    errors: list[str] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    page = browser.new_context(viewport=VIEWPORT).new_page()
                    page.on("pageerror", lambda e: errors.append(str(e)))
                    drive(page)
                finally:
                    browser.close()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="playwright", daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"the browser test did not finish within {timeout} s"
    if failure:
        raise failure[0]
    assert not errors, f"uncaught JavaScript errors: {errors}"


def test_the_overview_shows_every_bed_its_alarm_and_an_offline_bed(
    mosquitto: Mosquitto,
    tmp_path: Path,
    run_central: Callable[..., Central],
    beds: Callable[[str], Bed],
) -> None:
    central = run_central(mosquitto, f"sqlite:///{tmp_path / 'central.db'}")
    alarming, quiet, gone = beds("bed-1"), beds("bed-2"), beds("bed-3")
    alarming.probe.subscribe(f"{alarming.root}/cmd/#")
    for unit in (alarming, quiet, gone):
        unit.online()
    alarming.state([alarm("spo2_low@1", "high"), alarm("rr_low@1", "low")])
    quiet.state([alarm("nibp_overdue@1", "medium")])
    gone.state([])
    gone.die()

    def drive(page: Page) -> None:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(central.url + "/")
        page.fill("#signin-user", "nurse")
        page.fill("#signin-pin", "222222")
        page.click("#signin-submit")

        tiles = page.locator(".bed-tile")
        expect(tiles).to_have_count(3)
        one = page.locator('.bed-tile[data-bed="bed-1"]')
        expect(one.locator(".bt-alarm")).to_have_class("alarm alarm-high bt-alarm")
        expect(one.locator(".bt-alarm .text")).to_have_text("spo2_low alarm")
        expect(one.locator(".bt-alarm .more")).to_have_text("+1")
        expect(one.locator(".bt-vital[data-metric='hr'] .val")).to_have_text("72")
        two = page.locator('.bed-tile[data-bed="bed-2"]')
        expect(two.locator(".bt-alarm")).to_have_class("alarm alarm-medium bt-alarm")
        three = page.locator('.bed-tile[data-bed="bed-3"]')
        expect(three).to_have_attribute("data-status", "offline")
        expect(three.locator(".bt-lost-label")).to_have_text("OFFLINE")
        expect(three.locator(".bt-lost-label")).to_be_visible()
        expect(three.locator(".bt-lost-since")).to_contain_text("last heard")
        expect(three.locator(".bt-vitals")).to_be_hidden()
        expect(page.locator("#station-faults .fault")).to_have_count(0)
        expect(page.locator("#connection")).to_have_text("Live")
        # The tablet's shared modules (web/shared), served by the station itself.
        for module in ("api", "dom", "format", "live", "signin", "chart"):
            assert f"{central.url}/shared/{module}.js" in requests, requests

        # Acknowledge at the central: "acknowledging…", the bed answers, then the result.
        one.locator(".bt-alarm .ack").click()
        expect(one.locator(".ack-result")).to_contain_text("acknowledging…")
        sent = json.loads(alarming.probe.wait_message(f"{alarming.root}/cmd/acknowledge").payload)
        alarming.event("command_result", {"command_id": sent["command_id"], "ok": True,
                                          "detail": "acknowledged by nurse@central"})  # fmt: skip
        acked = transition("acknowledged", alarm_id="spo2_low@1", signal="acknowledged",
                           acknowledged_by="nurse@central")  # fmt: skip
        alarming.event("alarm", acked)
        expect(one.locator(".bt-alarm")).to_have_attribute("data-signal", "acknowledged")
        expect(one.locator(".ack-result")).to_contain_text("✓ acknowledged by nurse@central")
        expect(one.locator(".bt-alarm .ack")).to_be_hidden()

        # The drill-down: the bed's alarms and its alarm log.
        one.locator(".bt-name").click()
        expect(page.locator("#detail")).to_be_visible()
        expect(page.locator("#detail-title")).to_have_text("bed-1")
        expect(page.locator("#detail-log tr")).to_have_count(1)  # the acknowledged transition
        page.click("#detail-back")
        expect(page.locator("#detail")).to_be_hidden()

        # The central stops: the page says so over everything within about 5 s.
        central.stop()
        expect(page.locator("#lost")).to_be_visible(timeout=10_000)

    in_browser(drive)
