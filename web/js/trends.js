// Trend charts (uPlot, vendored in web/vendor/uplot): BP, HR (pulse when there is no ECG HR)
// and SpO2 over the session. Loaded from GET /api/v1/readings/history and extended live.
// The alarm limits are drawn as horizontal lines so a sitter sees how close a value runs to
// a limit; the patient's baseline (snapshot key `baseline`, when the service sends it) too.

import { Chart, COLOURS, SERIES, Y_RANGE, bpColumns, finite, hrMetric, withGaps } from "../shared/chart.js";

export const HISTORY_MINUTES = 240;
const WINDOW_S = HISTORY_MINUTES * 60;
const MIN_SPAN_S = 30 * 60; // early in a session, show 30 min rather than stretch 2 points
const REDRAW_MS = 2000; // live points are batched: 1 Hz SpO2 does not need 1 Hz redraws
const TRACKED = ["hr", "pulse_rate", "spo2", "nibp_sys", "nibp_dia"];

/** Limit lines per chart: [limit name, label, colour, dash]. */
const LIMIT_LINES = {
  bp: [
    ["sbp_high", "SBP high", COLOURS.high, [6, 4]],
    ["sbp_medium", "SBP", COLOURS.medium, [6, 4]],
    ["dbp_medium", "DBP", COLOURS.medium, [2, 4]],
  ],
  hr: [
    ["hr_high", "high", COLOURS.high, [6, 4]],
    ["hr_medium", "", COLOURS.medium, [6, 4]],
  ],
  spo2: [
    ["spo2_medium", "", COLOURS.medium, [6, 4]],
    ["spo2_high", "high", COLOURS.high, [6, 4]],
  ],
};

/** A trend chart with horizontal lines (limits, baseline) drawn under the data. */
function lineChart(figure, name, lines) {
  const lineValues = () => lines().map((l) => l.value).filter(finite);
  return new Chart(figure, {
    series: SERIES[name],
    yRange: (min, max) => Y_RANGE[name](min, max, lineValues()),
    ticks: false,
    // Drawn after the grid and before the data, so values stay on top of the lines.
    hooks: { drawAxes: [(u) => drawLines(u, lines())] },
  });
}

function drawLines(u, lines) {
  const ctx = u.ctx;
  const px = window.uPlot.pxRatio || 1;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  ctx.lineWidth = 1.5 * px;
  ctx.font = `${Math.round(11 * px)}px system-ui, sans-serif`;
  ctx.textAlign = "left";
  for (const line of lines) {
    if (!finite(line.value)) continue;
    const y = Math.round(u.valToPos(line.value, "y", true)) + 0.5;
    if (y < top || y > top + height) continue;
    ctx.strokeStyle = line.colour;
    ctx.fillStyle = line.colour;
    ctx.setLineDash(line.dash.map((d) => d * px));
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
    ctx.fillText(`${line.label} ${line.value}`.trim(), left + 4 * px, y - 3 * px);
  }
  ctx.restore();
}

export class Trends {
  /** `live: false` draws a fixed window (a past session) instead of following the clock. */
  constructor(root, { live = true } = {}) {
    this.root = root;
    this.live = live;
    this.window = null; // [startS, endS] when not live
    this.data = Object.fromEntries(TRACKED.map((m) => [m, []])); // metric -> [[t, v], ...]
    this.limits = {};
    this.baseline = null;
    this.dirty = true;
    this.lastDraw = 0;
    this.hrMetric = "hr";

    const limitLines = (name) => () => {
      const out = LIMIT_LINES[name].map(([key, label, colour, dash]) => ({
        value: this.limits[key], label, colour, dash,
      }));
      return out.concat(this.baselineLines(name));
    };
    const figure = (name) => root.querySelector(`[data-chart="${name}"]`);
    this.charts = {
      bp: lineChart(figure("bp"), "bp", limitLines("bp")),
      hr: lineChart(figure("hr"), "hr", limitLines("hr")),
      spo2: lineChart(figure("spo2"), "spo2", limitLines("spo2")),
    };
    if (live) setInterval(() => this.flush(), REDRAW_MS);
  }

  /** A past session: its readings (GET /sessions/{id}/trends) over [startS, endS]. */
  showWindow(history, startS, endS) {
    const metrics = (history && history.metrics) || {};
    for (const m of TRACKED) this.data[m] = (metrics[m] || []).map(([t, v]) => [t, v]);
    this.window = [startS, Math.max(endS, startS + 60)];
    for (const chart of Object.values(this.charts)) chart.resize();
    this.redrawNow();
  }

  /** Hook for the patient's baseline: {sys, dia, hr} (grey lines), or null. */
  setBaseline(baseline) {
    this.baseline = baseline || null;
    this.redrawNow();
  }

  baselineLines(chart) {
    const b = this.baseline;
    if (!b) return [];
    const line = (value, label) => ({ value, label, colour: COLOURS.baseline, dash: [1, 3] });
    if (chart === "bp") return [line(b.sys, "baseline SYS"), line(b.dia, "baseline DIA")];
    if (chart === "hr") return [line(b.hr, "baseline")];
    return [];
  }

  setLimits(limits) {
    if (!limits) return;
    this.limits = { ...limits };
    this.redrawNow();
  }

  /** Replace with the stored history, keeping live points newer than the history's last. */
  load(history) {
    const metrics = (history && history.metrics) || {};
    for (const m of TRACKED) {
      const stored = (metrics[m] || []).map(([t, v]) => [t, v]);
      const lastStored = stored.length ? stored[stored.length - 1][0] : -Infinity;
      const live = this.data[m].filter(([t]) => t > lastStored);
      this.data[m] = stored.concat(live);
    }
    this.redrawNow();
  }

  /** A live `vital` message. */
  add(reading) {
    if (!TRACKED.includes(reading.metric)) return;
    const t = Date.parse(reading.measured_at) / 1000;
    if (!Number.isFinite(t)) return;
    const series = this.data[reading.metric];
    const last = series[series.length - 1];
    if (last && t <= last[0]) return; // repeated or out of order: the chart is time-ordered
    series.push([t, reading.value]);
    this.dirty = true;
  }

  redrawNow() {
    this.dirty = true;
    this.flush();
  }

  flush(nowS = Date.now() / 1000) {
    // The time axis moves even without data, so redraw at least every 10 s.
    if (!this.dirty && Date.now() - this.lastDraw < 10_000) return;
    this.dirty = false;
    this.lastDraw = Date.now();
    let xRange;
    if (this.live) {
      const since = nowS - WINDOW_S;
      for (const m of TRACKED) {
        if (this.data[m].length && this.data[m][0][0] < since) {
          this.data[m] = this.data[m].filter(([t]) => t >= since);
        }
      }
      const first = Math.min(
        ...TRACKED.map((m) => (this.data[m].length ? this.data[m][0][0] : Infinity)),
      );
      xRange = [Math.min(Number.isFinite(first) ? first : nowS, nowS - MIN_SPAN_S), nowS + 30];
    } else {
      if (!this.window) return;
      xRange = this.window;
    }

    this.charts.bp.set(bpColumns(this.data.nibp_sys, this.data.nibp_dia), xRange);

    // HR from the ECG when there is any, else the oximeter's pulse rate (as the alarm rule does).
    this.hrMetric = hrMetric(this.data.hr);
    const hr = withGaps(this.data[this.hrMetric]);
    this.charts.hr.box.dataset.metric = this.hrMetric;
    this.charts.hr.box.querySelector(".chart-title").textContent =
      this.hrMetric === "hr" ? "HR /min" : "Pulse /min";
    this.charts.hr.set(hr, xRange);

    this.charts.spo2.set(withGaps(this.data.spo2), xRange);
  }
}
