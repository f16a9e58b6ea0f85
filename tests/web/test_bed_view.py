"""The bed view in a real browser: live numerics, stale data, pump, trends, sound state, origin."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from simulator.devices.base import Fault
from simulator.model import PumpModelState
from tests.support import RunningServer, RunningSimulator
from tests.web.browsing import PageLog, sign_in, wait_js

pytestmark = pytest.mark.browser


def test_live_values_pump_trends_sound_state_and_nothing_leaves_the_origin(
    page: Page,
    page_log: PageLog,
    simulated: Callable[..., RunningSimulator],
    serve: Callable[..., RunningServer],
) -> None:
    sim = simulated("masimo-ascii", pump="bbraun-bcc")
    sim.scenario.pump = PumpModelState(
        rate_ml_h=48.0, volume_infused_ml=12.4, vtbi_ml=50.0, state="infusing"
    )
    server = serve(
        devices=[
            f"monitor:masimo-ascii={sim.devices['monitor'].link.path}",
            f"pump:bbraun-bcc={sim.devices['pump'].link.path}",
        ]
    )
    sign_in(page, server)
    page.goto(server.url)

    # Live numerics, then a change in the simulator reaches the screen.
    expect(page.locator('[data-metric="spo2"] .value')).to_have_text("98", timeout=5000)
    expect(page.locator('[data-metric="pulse_rate"] .value')).to_have_text("72")
    expect(page.locator("#connection")).to_have_text("Live")
    sim.scenario.vitals.spo2 = 95
    expect(page.locator('[data-metric="spo2"] .value')).to_have_text("95", timeout=5000)

    # The pump panel.
    pump = page.locator(".pump")
    expect(pump.locator(".pump-drug")).to_contain_text("Ketamine", timeout=10_000)
    expect(pump.locator(".pump-state")).to_have_text("INFUSING")
    expect(pump.locator(".pump-rate dd")).to_have_text("48.0")
    expect(pump.locator(".pump-volume dd")).to_have_text("12.4 / 50.0")
    expect(page.locator("#infusion")).to_contain_text("No infusion session")

    # Sound: blocked by the browser's autoplay policy until one tap enables it.
    sound = page.locator("#sound")
    expect(sound).to_contain_text(re.compile("sound off", re.I))
    expect(sound).to_have_attribute("data-state", "off")
    page.locator("#sound-enable").click()
    expect(sound).to_contain_text(re.compile("sound on", re.I))
    expect(sound).to_have_attribute("data-state", "on")
    expect(page.locator("#sound-enable")).to_be_hidden()

    # Trends: each chart has its canvas once the history is loaded, and grows live.
    expect(page.locator("#trends")).to_have_attribute("data-loaded", "true")
    for chart in ("bp", "hr", "spo2"):
        expect(page.locator(f'#trends [data-chart="{chart}"] canvas')).to_have_count(1)
    expect(page.locator('#trends [data-chart="hr"]')).to_have_attribute("data-metric", "pulse_rate")
    spo2_chart = page.locator('#trends [data-chart="spo2"]')
    expect(spo2_chart).to_have_attribute("data-points", re.compile(r"^([4-9]|\d\d+)$"))
    # The limits drawn are the service's, and follow a change made by a nurse.
    assert page.evaluate("window.__vigil.trends.limits.spo2_medium") == 90
    nurse = server.login("nurse")
    nurse.put("/api/v1/alarms/limits", json={"limits": {"spo2_medium": 92}}).raise_for_status()
    page.wait_for_function("window.__vigil.trends.limits.spo2_medium === 92", timeout=5000)

    # After a reload the stored history is back at once (not only what arrives live).
    stored = page.evaluate("window.__vigil.trends.data.spo2.length")
    page.reload()
    expect(page.locator("#trends")).to_have_attribute("data-loaded", "true", timeout=5000)
    assert page.evaluate("window.__vigil.trends.data.spo2.length") >= stored

    # Everything came from the service itself: no CDN, no font service, no phoning home.
    origin = urlsplit(server.url).netloc
    assert page_log.requests
    outside = [u for u in page_log.requests if not u.startswith(("data:", "blob:"))]
    outside = [u for u in outside if urlsplit(u).netloc != origin]
    assert outside == []
    assert page_log.websockets
    assert all(urlsplit(u).netloc == origin for u in page_log.websockets)


def test_stale_values_and_technical_alarm_then_recovery(
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
    expect(page.locator("#no-alarms")).to_be_visible()

    sim.devices["monitor"].set_fault(Fault.UNPLUG, True)
    alarm = page.locator('.alarm[data-kind="technical"]')
    expect(alarm).to_be_visible(timeout=10_000)
    expect(alarm).to_contain_text("monitor disconnected")
    expect(alarm.locator(".marker")).to_have_text("**")
    expect(alarm.locator(".kind")).to_have_text("TECHNICAL")
    expect(spo2).to_have_class(re.compile(r"\bstale\b"))
    expect(spo2.locator(".age")).to_contain_text("no fresh data")
    expect(page.locator('[data-source="monitor"]')).to_have_class(re.compile("device-disconnected"))

    sim.devices["monitor"].set_fault(Fault.UNPLUG, False)
    expect(page.locator("#no-alarms")).to_be_visible(timeout=10_000)
    expect(spo2).not_to_have_class(re.compile(r"\bstale\b"))


def test_low_spo2_is_a_flashing_yellow_medium_alarm_that_sounds_three_pulses(
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
    expect(alarm.locator(".prio")).to_have_text("MEDIUM")
    expect(alarm).to_have_css("border-left-color", "rgb(242, 194, 0)")
    # IEC 60601-1-8: MEDIUM flashes at 0.4–0.8 Hz (1.6 s period = 0.625 Hz).
    expect(alarm).to_have_css("animation-name", "flash-medium")
    expect(alarm).to_have_css("animation-duration", "1.6s")
    # A diamond, not only a colour.
    expect(alarm.locator("svg.icon polygon")).to_have_attribute("points", "12,1 23,12 12,23 1,12")
    wait_js(
        page,
        "window.__vigilSound.priority === 'medium' && window.__vigilSound.pulses === 3",
        timeout=2000,
    )


def test_infusion_session_panel_follows_the_session(
    page: Page, serve: Callable[..., RunningServer]
) -> None:
    server = serve()
    sign_in(page, server)
    page.goto(server.url)
    panel = page.locator("#infusion")
    expect(panel).to_contain_text("No infusion session", timeout=5000)
    nurse = server.login("nurse")
    created = nurse.post(
        "/api/v1/sessions",
        json={
            "patient": "P-042",
            "weight_kg": 70,
            "dose_mg_per_kg": 0.5,
            "concentration_mg_ml": 1,
            "duration_min": 40,
        },
    )
    assert created.status_code == 200, created.text
    expect(panel).to_have_attribute("data-phase", "baseline", timeout=5000)
    expect(panel).to_contain_text("Baseline · P-042 · ketamine 0.5 mg/kg · 52.5 mL/h")
    expect(page.locator("#infusion-planned")).to_have_text("40 min")
    started = nurse.post(
        f"/api/v1/sessions/{created.json()['id']}/start",
        json={"override_reason": "baseline cuff readings not taken in this test"},
    )
    assert started.status_code == 200, started.text
    expect(panel).to_have_attribute("data-phase", "infusion", timeout=5000)
    expect(page.locator("#infusion-elapsed")).to_have_text("0 min")
