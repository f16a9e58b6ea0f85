"""The HIGH alarm as a sitter and a nurse see it, and the nurse's acknowledgement workflow.

A single GE cuff reading of 205/125 is a HIGH alarm at once (docs/alarms.md: SBP ≥ 200).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.support import PINS, RunningServer, RunningSimulator
from tests.web.browsing import sign_in, wait_js

pytestmark = pytest.mark.browser

HIGH = '.alarm[data-priority="high"]'


def hypertensive_bed(
    simulated: Callable[..., RunningSimulator], serve: Callable[..., RunningServer]
) -> RunningServer:
    sim = simulated("ge-dri")
    # A cuff result taken at simulator time 0: the GE sends it with the first record, fresh
    # (not "older than 60 s"), so it counts as a valid reading.
    sim.scenario.vitals.nibp = (205, 125, 152)
    sim.scenario.vitals.nibp_at = 0.0
    return serve(devices=[f"monitor:ge-dri={sim.devices['monitor'].link.path}"])


def pin_prompt(page: Page, username: str, pin: str) -> None:
    page.locator("#pin-user").fill(username)
    page.locator("#pin-pin").fill(pin)
    page.locator("#pin-confirm").click()


def test_high_alarm_sitter_pauses_audio_and_a_nurse_acknowledges_with_her_pin(
    page: Page,
    simulated: Callable[..., RunningSimulator],
    serve: Callable[..., RunningServer],
) -> None:
    server = hypertensive_bed(simulated, serve)
    sign_in(page, server, "sitter")
    page.goto(server.url)

    # IEC 60601-1-8 presentation: red, flashing at 2 Hz, marker, words and a triangle.
    alarm = page.locator(HIGH)
    expect(alarm).to_be_visible(timeout=10_000)
    expect(alarm.locator(".text")).to_have_text("SBP 205 ≥ 200")
    expect(alarm.locator(".marker")).to_have_text("***")
    expect(alarm.locator(".prio")).to_have_text("HIGH")
    expect(alarm.locator(".kind")).to_have_text("")  # physiological: no TECHNICAL label
    expect(alarm).to_have_css("border-left-color", "rgb(224, 32, 27)")
    expect(alarm).to_have_css("animation-name", "flash-high")
    expect(alarm).to_have_css("animation-duration", "0.5s")
    expect(alarm.locator("svg.icon polygon")).to_have_attribute("points", "12,2 23,21 1,21")
    # The top alarm is the banner.
    expect(page.locator("#alarm-banner .alarm")).to_have_attribute("data-priority", "high")
    expect(page.locator('[data-metric="nibp"] .value')).to_have_text("205/125")
    expect(page.locator('[data-metric="nibp"] .nibp-next')).to_contain_text("next due")
    # The page sounds the HIGH pattern: 10 pulses (decided even while the browser blocks audio).
    wait_js(
        page,
        "window.__vigilSound.priority === 'high' && window.__vigilSound.pulses === 10",
        timeout=2000,
    )

    # A sitter cannot acknowledge alone: the prompt asks for a nurse, and the sitter's own PIN
    # is refused by the service.
    alarm.locator(".ack").click()
    prompt = page.locator("#pin-prompt")
    expect(prompt).to_be_visible()
    expect(page.locator("#pin-detail")).to_have_text("*** SBP 205 ≥ 200")
    pin_prompt(page, "sitter", PINS["sitter"])
    expect(page.locator("#pin-error")).to_have_text("sitter is not a nurse")
    expect(alarm).to_have_attribute("data-signal", "on")
    page.locator("#pin-cancel").click()
    expect(prompt).to_be_hidden()
    # Nor can the sitter's own session do it behind the page's back.
    alarm_id = alarm.get_attribute("data-id")
    refused = page.request.post(f"{server.url}/api/v1/alarms/{alarm_id}/acknowledge")
    assert refused.status == 403
    assert refused.json()["detail"] == "a nurse must confirm with user name and PIN"

    # ...but a sitter can pause the audio: a countdown shows, and the page stops sounding.
    page.locator("#pause-audio").click()
    countdown = page.locator("#audio-countdown")
    expect(countdown).to_be_visible(timeout=3000)
    expect(countdown).to_have_text(re.compile(r"^[12]:\d\d \(up to HIGH\)$"))
    expect(page.locator("#resume-audio")).to_be_visible()
    expect(page.locator("#sound")).to_have_attribute("data-state", "paused")
    wait_js(page, "window.__vigilSound.sounding === null", timeout=2000)

    # The nurse walks up and acknowledges at the sitter's tablet with her name and PIN.
    alarm.locator(".ack").click()
    pin_prompt(page, "nurse", PINS["nurse"])
    expect(prompt).to_be_hidden(timeout=5000)
    expect(alarm).to_have_attribute("data-signal", "acknowledged", timeout=5000)
    expect(alarm.locator(".signal")).to_contain_text("acknowledged by nurse")
    expect(alarm).to_have_css("animation-name", "none")
    expect(page.locator("#user-name")).to_have_text("Sitter")  # nobody was signed out

    # The audit log names the nurse, not the sitter.
    audit = server.login("sitter").get("/api/v1/audit").json()
    assert any(a["action"] == "acknowledged" and a["user"] == "nurse" for a in audit), audit
    assert any(a["action"] == "audio_paused" and a["user"] == "sitter" for a in audit), audit

    # Resume ends the pause.
    page.locator("#resume-audio").click()
    expect(page.locator("#pause-audio")).to_be_visible(timeout=3000)
    expect(countdown).to_be_hidden()


def test_a_second_pause_needs_a_nurse_who_confirms_with_her_pin(
    page: Page,
    simulated: Callable[..., RunningSimulator],
    serve: Callable[..., RunningServer],
) -> None:
    server = hypertensive_bed(simulated, serve)
    sign_in(page, server, "sitter")
    page.goto(server.url)
    expect(page.locator(HIGH)).to_be_visible(timeout=10_000)
    pause, resume = page.locator("#pause-audio"), page.locator("#resume-audio")

    # The sitter pauses the HIGH alarm once, alone; then ends the pause.
    pause.click()
    expect(resume).to_be_visible(timeout=3000)
    resume.click()
    expect(pause).to_be_visible(timeout=3000)
    wait_js(page, "window.__vigilSound.sounding === 'high'", timeout=2000)

    # Again: the service refuses, and the tablet asks for a nurse; the alarm keeps sounding.
    pause.click()
    prompt = page.locator("#pin-prompt")
    expect(prompt).to_be_visible()
    expect(page.locator("#pin-title")).to_have_text("Pause audio again: nurse confirmation")
    expect(page.locator("#pin-detail")).to_have_text(
        "this alarm was paused once already: a nurse must confirm"
    )
    expect(pause).to_be_visible()
    wait_js(page, "window.__vigilSound.sounding === 'high'", timeout=2000)
    pin_prompt(page, "sitter", PINS["sitter"])
    expect(page.locator("#pin-error")).to_have_text("sitter is not a nurse")

    # The nurse confirms with her name and PIN: the pause is hers, the sitter stays signed in.
    pin_prompt(page, "nurse", PINS["nurse"])
    expect(prompt).to_be_hidden(timeout=5000)
    expect(page.locator("#audio-countdown")).to_have_text(re.compile(r"^[12]:\d\d \(up to HIGH\)$"))
    expect(page.locator("#sound")).to_have_attribute("data-state", "paused")
    wait_js(page, "window.__vigilSound.sounding === null", timeout=2000)
    expect(page.locator("#user-name")).to_have_text("Sitter")
    audit = [(a["action"], a["user"]) for a in server.login("nurse").get("/api/v1/audit").json()]
    assert ("audio_pause_refused", "sitter") in audit
    assert ("audio_paused", "nurse") in audit


def test_wrong_nurse_pins_at_the_tablet_are_slowed_never_locked(
    page: Page,
    simulated: Callable[..., RunningSimulator],
    serve: Callable[..., RunningServer],
) -> None:
    server = hypertensive_bed(simulated, serve)
    sign_in(page, server, "sitter")
    page.goto(server.url)
    page.locator(f"{HIGH} .ack").click(timeout=10_000)
    error = page.locator("#pin-error")
    for attempt in range(1, 5):
        pin_prompt(page, "nurse2", f"00000{attempt}")
        expect(error).to_have_text("wrong user name or PIN")
        # Cleared for the next try, and the prompt stays open.
        expect(page.locator("#pin-pin")).to_have_value("")
    # The fourth wrong PIN in a row makes this tablet wait (1 s, then doubling): the prompt
    # says so, and nothing is locked — the right PIN works as soon as the wait is over.
    pin_prompt(page, "nurse2", "000005")
    expect(error).to_have_text(
        re.compile(r"too many wrong PINs from this tablet: try again in \d+ s")
    )
    expect(page.locator(HIGH)).to_have_attribute("data-signal", "on")
    deadline = time.monotonic() + 10
    while page.locator("#pin-prompt").is_visible() and time.monotonic() < deadline:
        pin_prompt(page, "nurse2", PINS["nurse2"])
        page.wait_for_timeout(300)
    expect(page.locator(HIGH)).to_have_attribute("data-signal", "acknowledged", timeout=5000)


def test_nurse_acknowledges_in_one_tap_then_takes_responsibility_or_escalates(
    page: Page,
    simulated: Callable[..., RunningSimulator],
    serve: Callable[..., RunningServer],
) -> None:
    server = hypertensive_bed(simulated, serve)
    sign_in(page, server, "nurse")
    page.goto(server.url)
    alarm = page.locator(HIGH)
    expect(alarm).to_be_visible(timeout=10_000)
    ack = alarm.locator(".ack")
    expect(ack).to_have_text("Acknowledge")  # no PIN prompt for a signed-in nurse

    started = time.monotonic()
    ack.click()
    expect(alarm).to_have_attribute("data-signal", "acknowledged", timeout=5000)
    assert time.monotonic() - started < 5.0
    expect(page.locator("#pin-prompt")).to_be_hidden()
    expect(alarm.locator(".signal")).to_contain_text("acknowledged by nurse")
    expect(ack).to_be_hidden()
    wait_js(page, "window.__vigilSound.sounding === null", timeout=2000)

    alarm.locator(".accept").click()
    expect(alarm.locator(".signal")).to_contain_text("responsible: nurse", timeout=5000)

    # Can't attend: the alarm sounds again and escalates at once.
    alarm.locator(".reject").click()
    expect(alarm).to_have_attribute("data-escalated", "true", timeout=5000)
    expect(alarm.locator(".signal")).to_contain_text("ESCALATED")
    expect(alarm).to_have_attribute("data-signal", "on")
    wait_js(page, "window.__vigilSound.sounding === 'high'", timeout=2000)
