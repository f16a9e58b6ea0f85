"""The session report as a PDF (fpdf2): the HTML report's content plus a trend chart.

The core PDF fonts are Latin-1 only, so text is reduced to Latin-1 (a "?" for anything else)
rather than embedding a font file in the appliance.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from service.infusions import views
from service.infusions.exports import ALARM_HEAD, alarm_rows, note_rows, title
from service.infusions.logic import Sample
from service.infusions.manager import Collected

if TYPE_CHECKING:
    # fpdf2 (with Pillow and fontTools) is ~35 MB of memory: imported only to print a report.
    from fpdf import FPDF

#: Series drawn in the chart: metric -> (label, RGB colour).
SERIES = {
    "nibp_sys": ("SBP", (200, 30, 30)),
    "nibp_dia": ("DBP", (30, 30, 200)),
    "hr": ("HR", (30, 140, 30)),
}
CHART_W, CHART_H = 180.0, 60.0


def latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _line(pdf: FPDF, text: str, size: float = 10, bold: bool = False) -> None:
    pdf.set_font("Helvetica", "B" if bold else "", size)
    pdf.multi_cell(0, size * 0.5, latin1(text), new_x="LMARGIN", new_y="NEXT")


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(2)
    _line(pdf, text, 12, bold=True)


def _table(pdf: FPDF, head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    width = (pdf.w - pdf.l_margin - pdf.r_margin) / len(head)
    pdf.set_font("Helvetica", "B", 8)
    for h in head:
        pdf.cell(width, 5, latin1(h), border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 8)
    for row in rows:
        for cell in row:
            # Long messages are cut to the cell: the HTML report and the API have them whole.
            text = latin1(cell)
            while text and pdf.get_string_width(text) > width - 1:
                text = text[:-1]
            pdf.cell(width, 5, text, border=1)
        pdf.ln()


def _points(samples: list[Sample], metric: str) -> list[tuple[datetime, float]]:
    return [(s.at, s.value) for s in samples if s.metric == metric]


def chart(pdf: FPDF, samples: list[Sample]) -> None:
    """SBP, DBP and HR against time, on one axis (mmHg and bpm share a 0-250 range)."""
    shown = [s for s in samples if s.metric in SERIES]
    if not shown:
        _line(pdf, "No readings to chart.")
        return
    x0, y0 = pdf.l_margin, pdf.get_y() + 2
    start = min(s.at for s in shown)
    span = max((max(s.at for s in shown) - start).total_seconds(), 1.0)
    top = max(250.0, max(s.value for s in shown))

    def xy(at: datetime, value: float) -> tuple[float, float]:
        x = x0 + (at - start).total_seconds() / span * CHART_W
        return x, y0 + CHART_H - value / top * CHART_H

    pdf.set_draw_color(0, 0, 0)
    pdf.rect(x0, y0, CHART_W, CHART_H)
    pdf.set_font("Helvetica", "", 7)
    for level in (50, 100, 150, 200):
        _, y = xy(start, level)
        pdf.set_draw_color(210, 210, 210)
        pdf.line(x0, y, x0 + CHART_W, y)
        pdf.text(x0 + 1, y - 0.5, str(level))
    for n, (metric, (label, rgb)) in enumerate(SERIES.items()):
        pdf.set_draw_color(*rgb)
        pdf.set_text_color(*rgb)
        pts = [xy(at, v) for at, v in _points(shown, metric)]
        for (xa, ya), (xb, yb) in itertools.pairwise(pts):
            pdf.line(xa, ya, xb, yb)
        for x, y in pts:
            pdf.line(x - 0.6, y, x + 0.6, y)  # a tick marks each reading (a lone cuff too)
        pdf.text(x0 + CHART_W - 30 + n * 10, y0 + 4, label)
    pdf.set_text_color(0, 0, 0)
    pdf.set_draw_color(0, 0, 0)
    pdf.text(x0, y0 + CHART_H + 4, latin1(views.clock(start)))
    pdf.set_y(y0 + CHART_H + 6)


def report_pdf(c: Collected) -> bytes:
    r, s = c.record, c.summary
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(latin1(title(r)))
    pdf.add_page()
    _line(pdf, title(r), 14, bold=True)
    _heading(pdf, "Dose and volume")
    for text in views.dose_lines(r, s):
        _line(pdf, text)
    _heading(pdf, "Baseline and peaks")
    _table(pdf, ("measure", "baseline", "peak", "at"), views.summary_rows(s))
    _heading(pdf, "Trend")
    samples = [
        Sample(x.metric, x.value, x.measured_at)
        for x in c.readings
        if x.value is not None and x.validity == "valid"
    ]
    chart(pdf, samples)
    _heading(pdf, "Alarms")
    if c.alarms:
        _table(pdf, ALARM_HEAD, alarm_rows(c))
    else:
        _line(pdf, "No alarms.")
    _heading(pdf, "Notes")
    if c.notes:
        _table(pdf, ("at", "by", "kind", "text"), note_rows(c))
    else:
        _line(pdf, "No notes.")
    _heading(pdf, "Signatures")
    for text in views.signature_lines(r):
        _line(pdf, text)
    return bytes(pdf.output())
