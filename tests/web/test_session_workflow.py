"""A whole infusion run from the sitter's tablet in a real browser: open the session, baseline
and BP gate, start with a nurse's override, quick notes, end, discharge check, the nurse's
signature, the printable report, and the history with the session's trends."""

from __future__ import annotations

import io
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from service.alarms.model import TabletCount
from tests.support import RunningServer
from tests.web.browsing import sign_in

pytestmark = pytest.mark.browser


def confirm_as_nurse(page: Page, pin: str = "222222") -> None:
    page.fill("#sd-nurse-user", "nurse")
    page.fill("#sd-nurse-pin", pin)
    page.click("#sd-submit")


def test_a_nurse_runs_a_whole_infusion_from_the_sitters_tablet(
    page: Page, serve: Callable[..., RunningServer]
) -> None:
    server = serve(session={"min_recovery_min": 0})
    runtime = server.app.state.runtime
    server.publish(TabletCount(1, runtime.clock.utcnow()))
    sign_in(page, server, "sitter")
    page.goto(server.url)
    panel = page.locator("#infusion")
    expect(panel).to_contain_text("No infusion session", timeout=5000)
    expect(page.locator("#infusion-notebar")).to_be_hidden()

    # Open the session: the plan's dose, volume and pump rate are shown before confirming.
    page.click("#session-new")
    dialog = page.locator("#session-dialog")
    expect(dialog).to_be_visible()
    page.fill("#sd-patient", "P-0042")
    page.fill("#sd-name", "Ada Example")
    page.fill("#sd-weight_kg", "72")
    page.fill("#sd-dose_mg_per_kg", "0.5")
    page.fill("#sd-concentration_mg_ml", "0.5")
    expect(page.locator("#sd-plan")).to_have_text(
        "36.0 mg = 72.0 mL over 40 min → pump rate 108.0 mL/h"
    )
    confirm_as_nurse(page, pin="0000")  # a wrong PIN: refused, the form stays
    expect(page.locator("#sd-error")).not_to_be_empty()
    expect(page.locator("#sd-nurse-pin")).to_have_value("")
    confirm_as_nurse(page)
    expect(dialog).to_be_hidden(timeout=5000)
    expect(panel).to_have_attribute("data-phase", "baseline", timeout=5000)
    expect(panel).to_contain_text("Baseline · P-0042 · ketamine 0.5 mg/kg · 108 mL/h")
    expect(page.locator("#infusion-detail")).to_contain_text("waiting for two cuff readings")

    # Two baseline readings above the gate: the panel says so (it polls every 10 s).
    server.cuff(150, 95, 72)
    server.cuff(150, 95, 76)
    gate = page.locator("#gate-status")
    expect(gate).to_have_text(
        "BP gate: baseline SBP 150 > 140; baseline DBP 95 > 90", timeout=15_000
    )
    expect(page.locator("#infusion-detail")).to_contain_text("Baseline 150/95, HR 74 (2 readings)")

    # Start: the gate refuses, the nurse overrides with a reason and their PIN.
    page.click("#session-start")
    expect(page.locator("#sd-intro")).to_contain_text("BP gate refuses the start")
    confirm_as_nurse(page)
    expect(page.locator("#sd-error")).to_have_text("Give the reason for starting above the gate.")
    page.fill("#sd-reason", "white-coat hypertension, usual for this patient")
    confirm_as_nurse(page)
    expect(panel).to_have_attribute("data-phase", "infusion", timeout=5000)
    expect(page.locator("#infusion-detail")).to_contain_text("Baseline 150/95, HR 74")

    # The sitter's quick notes: one tap, and free text.
    page.click('[data-note="nausea"]')
    expect(page.locator("#infusion-notes")).to_contain_text("Nausea (sitter)", timeout=5000)
    page.click('[data-note="other"]')
    page.fill("#sd-text", "asked for the blanket")
    page.click("#sd-submit")
    expect(page.locator("#infusion-notes")).to_contain_text("asked for the blanket (sitter)")

    # End the infusion; the discharge check follows the recovery readings.
    page.click("#session-end")
    confirm_as_nurse(page)
    expect(panel).to_have_attribute("data-phase", "recovery", timeout=5000)
    server.cuff(132, 84, 70)
    expect(page.locator("#discharge-ready")).to_have_text("Ready for discharge", timeout=15_000)
    criteria = page.locator("#discharge-criteria li")
    expect(criteria).to_have_count(3)

    # The nurse signs the discharge (always with the PIN); the report opens.
    page.click("#session-discharge")
    expect(page.locator("#sd-intro")).to_contain_text("Ready for discharge.")
    with page.expect_popup() as popup_info:
        confirm_as_nurse(page)
    report = popup_info.value
    report.wait_for_load_state()
    expect(report.locator("body")).to_contain_text("P-0042")
    expect(report.locator("body")).to_contain_text("by nurse")
    expect(report.locator("body")).to_contain_text("white-coat hypertension")
    report.close()
    expect(panel).to_have_attribute("data-phase", "none", timeout=5000)
    expect(panel).to_contain_text("No infusion session")

    # History: the session with its summary, notes, trends and downloads.
    page.click("#history-open")
    row = page.locator('#history-rows tr[data-session="1"]')
    expect(row).to_contain_text("P-0042")
    expect(row).to_contain_text("Ended")
    expect(page.locator(".bedview")).to_be_hidden()
    expect(page.locator(".alarms")).to_be_visible()  # alarms stay in view
    row.locator("button").click()
    detail = page.locator("#history-detail")
    expect(detail).to_contain_text("Session 1 · P-0042 (Ada Example) · Ended")
    expect(detail).to_contain_text("Peak SBP")
    expect(page.locator("#hd-notes")).to_contain_text("Nausea")
    expect(page.locator('#hd-trends [data-chart="bp"]')).to_have_attribute("data-points", "3")
    href = page.locator("#hd-pdf").get_attribute("href")
    assert href == "/api/v1/sessions/1/report.pdf"
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    pdf = httpx.get(server.url.rstrip("/") + href, cookies=cookies)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "P-0042" in text and "nurse" in text
    page.click("#history-close")
    expect(page.locator(".bedview")).to_be_visible()


def test_a_session_that_does_not_go_ahead_is_closed_with_a_reason(
    page: Page, serve: Callable[..., RunningServer]
) -> None:
    server = serve()
    sign_in(page, server, "nurse")  # a nurse signed in: no PIN to open, a PIN to sign
    page.goto(server.url)
    page.click("#session-new")
    expect(page.locator("#sd-nurse-user")).to_have_count(0)
    page.fill("#sd-patient", "P-7")
    page.fill("#sd-weight_kg", "60")
    page.fill("#sd-dose_mg_per_kg", "0.5")
    page.fill("#sd-concentration_mg_ml", "1")
    page.click("#sd-submit")
    panel = page.locator("#infusion")
    expect(panel).to_have_attribute("data-phase", "baseline", timeout=5000)
    page.click("#session-cancel")
    expect(page.locator("#sd-nurse-user")).to_have_value("nurse")
    page.fill("#sd-reason", "patient unwell today, rebooked")
    page.fill("#sd-nurse-pin", "222222")
    with page.expect_popup() as popup_info:
        page.click("#sd-submit")
    popup_info.value.close()
    expect(panel).to_have_attribute("data-phase", "none", timeout=5000)
    closed = server.login("nurse").get("/api/v1/sessions/1").json()
    assert closed["phase"] == "ended"
    assert closed["discharge_override_reason"] == "patient unwell today, rebooked"
