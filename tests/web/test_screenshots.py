"""The documentation's pictures of the bed view (docs/img/), taken in the real browser.

Runs only with VIGIL_SCREENSHOTS=1 (``VIGIL_SCREENSHOTS=1 pytest tests/web/test_screenshots.py``):
the normal test run must not rewrite files in docs/.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import insert

from service.persistence.models import ReadingRow
from simulator.model import PumpModelState
from tests.support import RunningServer, RunningSimulator
from tests.web.browsing import sign_in

pytestmark = pytest.mark.browser

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def store_history(server: RunningServer, minutes: int = 50) -> None:
    """An hour of plausible readings in the store, so the trend charts have something to show
    (a fresh test server has only seconds of data). Written straight to the readings table:
    through the bus they would also feed the alarm engine with old readings."""
    now = datetime.now(UTC)
    rows = []
    for s in range(minutes * 60, 30, -10):
        at = now - timedelta(seconds=s)
        phase = s / 600
        rows += [
            {"source": "monitor", "metric": "hr", "value": 74 + 6 * math.sin(phase), "at": at},
            {"source": "monitor", "metric": "spo2", "value": 97 + math.sin(phase * 3), "at": at},
        ]
    for i, s in enumerate(range(minutes * 60, 60, -600)):
        at = now - timedelta(seconds=s)
        rows += [
            {"source": "monitor", "metric": "nibp_sys", "value": 126 + 4 * i, "at": at},
            {"source": "monitor", "metric": "nibp_dia", "value": 80 + 2 * i, "at": at},
        ]
    with server.app.state.runtime.db.begin() as conn:
        conn.execute(
            insert(ReadingRow),
            [
                {
                    "source": r["source"],
                    "metric": r["metric"],
                    "value": r["value"],
                    "validity": "valid",
                    "measured_at": r["at"],
                }
                for r in rows
            ],
        )


@pytest.mark.skipif(os.environ.get("VIGIL_SCREENSHOTS") != "1", reason="set VIGIL_SCREENSHOTS=1")
def test_screenshots_of_the_bed_view(
    page: Page,
    simulated: Callable[..., RunningSimulator],
    serve: Callable[..., RunningServer],
) -> None:
    sim = simulated("ge-dri", pump="bbraun-bcc")
    sim.scenario.vitals.nibp = (148, 92, 111)
    sim.scenario.vitals.nibp_at = 0.0
    sim.scenario.pump = PumpModelState(
        rate_ml_h=48.0, volume_infused_ml=21.6, vtbi_ml=40.0, state="infusing"
    )
    server = serve(
        devices=[
            f"monitor:ge-dri={sim.devices['monitor'].link.path}",
            f"pump:bbraun-bcc={sim.devices['pump'].link.path}",
        ]
    )
    store_history(server)
    sign_in(page, server, "sitter")
    page.goto(server.url)
    page.locator("#sound-enable").click()
    expect(page.locator("#sound")).to_have_attribute("data-state", "on")
    expect(page.locator('[data-metric="nibp"] .value')).to_have_text("148/92", timeout=10_000)
    expect(page.locator(".pump-state")).to_have_text("INFUSING", timeout=10_000)
    # The stored hour is in the charts (hundreds of points, not the few live ones).
    expect(page.locator('#trends [data-chart="hr"]')).to_have_attribute(
        "data-points", re.compile(r"^\d{3,}$"), timeout=5000
    )
    expect(page.locator("#no-alarms")).to_be_visible()
    IMG.mkdir(parents=True, exist_ok=True)
    # Flashing stopped at its "on" phase so the picture shows the alarm colour.
    page.screenshot(path=IMG / "bed-view-normal.png", animations="disabled")

    # The next cuff reading is 205/125: a HIGH alarm at once.
    bp_points = page.locator('#trends [data-chart="bp"]').get_attribute("data-points") or "0"
    sim.scenario.vitals.nibp = (205, 125, 152)
    sim.scenario.vitals.nibp_at = sim.simulator.t
    expect(page.locator('.alarm[data-priority="high"]')).to_be_visible(timeout=15_000)
    expect(page.locator('#trends [data-chart="bp"]')).to_have_attribute(
        "data-points", str(int(bp_points) + 1), timeout=5000
    )
    page.screenshot(path=IMG / "bed-view-alarm.png", animations="disabled")
    for name in ("bed-view-normal.png", "bed-view-alarm.png"):
        assert (IMG / name).stat().st_size < 400_000
