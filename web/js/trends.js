// Trend charts (uPlot, vendored in web/vendor/uplot): BP, HR (pulse when there is no ECG HR)
// and SpO2 over the session. Loaded from GET /api/v1/readings/history and extended live.
// The alarm limits are drawn as horizontal lines so a sitter sees how close a value runs to
// a limit; the patient's baseline (snapshot key `baseline`, when the service sends it) too.

import { clockTime } from "./format.js";

const uPlot = window.uPlot; // the vendored IIFE build defines the global

export const HISTORY_MINUTES = 240;
const WINDOW_S = HISTORY_MINUTES * 60;
const MIN_SPAN_S = 30 * 60; // early in a session, show 30 min rather than stretch 2 points
const GAP_S = 15; // a continuous metric silent this long is drawn with a gap, not a bridge
const REDRAW_MS = 2000; // live points are batched: 1 Hz SpO2 does not need 1 Hz redraws
const TRACKED = ["hr", "pulse_rate", "spo2", "nibp_sys", "nibp_dia"];

const COLOURS = {
  axis: "#8a96a3", grid: "#26313d", sys: "#f4f7fa", dia: "#9fb3c8", hr: "#2fbf71",
  spo2: "#19c3d6", medium: "#f2c200", high: "#ff4d47", baseline: "#8a96a3",
};

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

function finite(v) {
  return typeof v === "number" && Number.isFinite(v);
}

class Chart {
  constructor(box, { series, yRange, lines }) {
    this.box = box;
    this.plotBox = box.querySelector(".chart-plot");
    this.lines = lines; // () => [{value, label, colour, dash}]
    this.yRange = yRange; // (dataMin, dataMax, lineValues) => [lo, hi]
    this.xRange = [0, 1];
    const opts = {
      width: Math.max(100, this.plotBox.clientWidth),
      height: Math.max(80, this.plotBox.clientHeight),
      legend: { show: false },
      cursor: { show: false }, // a touch tablet: no hover read-out to get stuck on screen
      scales: {
        x: { time: true, range: () => this.xRange },
        y: { range: (u, min, max) => this.range(min, max) },
      },
      axes: [
        {
          stroke: COLOURS.axis,
          grid: { stroke: COLOURS.grid, width: 1 },
          ticks: { show: false },
          size: 28,
          // Wall-clock hours and minutes only: the date line uPlot adds costs a third of the height.
          values: (u, splits) => splits.map((s) => clockTime(s * 1000)),
        },
        { stroke: COLOURS.axis, grid: { stroke: COLOURS.grid, width: 1 }, ticks: { show: false }, size: 36 },
      ],
      series: [{}, ...series],
      // Drawn after the grid and before the data, so values stay on top of the lines.
      hooks: { drawAxes: [(u) => this.drawLines(u)] },
    };
    this.plot = new uPlot(opts, [[], ...series.map(() => [])], this.plotBox);
    new ResizeObserver(() => this.resize()).observe(this.plotBox);
  }

  range(min, max) {
    const values = this.lines().map((l) => l.value).filter(finite);
    return this.yRange(finite(min) ? min : null, finite(max) ? max : null, values);
  }

  resize() {
    const w = this.plotBox.clientWidth;
    const h = this.plotBox.clientHeight;
    if (w > 0 && h > 0) this.plot.setSize({ width: w, height: h });
  }

  set(data, xRange, points) {
    this.xRange = xRange;
    this.plot.setData(data, true);
    // For tests and for the eye: how many values the chart holds.
    this.box.dataset.points = String(points);
  }

  drawLines(u) {
    const ctx = u.ctx;
    const px = uPlot.pxRatio || 1;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.lineWidth = 1.5 * px;
    ctx.font = `${Math.round(11 * px)}px system-ui, sans-serif`;
    ctx.textAlign = "left";
    for (const line of this.lines()) {
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
    this.charts = {
      bp: new Chart(root.querySelector('[data-chart="bp"]'), {
        series: [
          { label: "SYS", stroke: COLOURS.sys, width: 2, spanGaps: true, points: { show: true, size: 7, fill: COLOURS.sys } },
          { label: "DIA", stroke: COLOURS.dia, width: 2, spanGaps: true, points: { show: true, size: 7, fill: COLOURS.dia } },
        ],
        yRange: (min, max, lines) => [
          Math.min(40, min ?? 40, ...lines) - 5,
          Math.max(200, max ?? 0, ...lines) + 10,
        ],
        lines: limitLines("bp"),
      }),
      hr: new Chart(root.querySelector('[data-chart="hr"]'), {
        series: [{ label: "HR", stroke: COLOURS.hr, width: 2 }],
        yRange: (min, max, lines) => [
          Math.min(40, min ?? 40, ...lines) - 5,
          Math.max(160, max ?? 0, ...lines) + 10,
        ],
        lines: limitLines("hr"),
      }),
      spo2: new Chart(root.querySelector('[data-chart="spo2"]'), {
        series: [{ label: "SpO2", stroke: COLOURS.spo2, width: 2 }],
        yRange: (min, _max, lines) => [Math.max(0, Math.min(80, min ?? 80, ...lines) - 2), 101],
        lines: limitLines("spo2"),
      }),
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

    // BP: systolic and diastolic share the cuff's measurement time.
    const dia = new Map(this.data.nibp_dia.map(([t, v]) => [t, v]));
    const sys = this.data.nibp_sys;
    this.charts.bp.set(
      [sys.map(([t]) => t), sys.map(([, v]) => v), sys.map(([t]) => dia.get(t) ?? null)],
      xRange,
      sys.filter(([, v]) => finite(v)).length,
    );

    // HR from the ECG when there is any, else the oximeter's pulse rate (as the alarm rule does).
    this.hrMetric = this.data.hr.some(([, v]) => finite(v)) ? "hr" : "pulse_rate";
    const hr = withGaps(this.data[this.hrMetric]);
    this.charts.hr.box.dataset.metric = this.hrMetric;
    this.charts.hr.box.querySelector(".chart-title").textContent =
      this.hrMetric === "hr" ? "HR /min" : "Pulse /min";
    this.charts.hr.set(hr, xRange, hr[1].filter(finite).length);

    const spo2 = withGaps(this.data.spo2);
    this.charts.spo2.set(spo2, xRange, spo2[1].filter(finite).length);
  }
}

/** uPlot columns [xs, ys] with a null inserted where a continuous metric went silent. */
function withGaps(points) {
  const xs = [];
  const ys = [];
  let prev = null;
  for (const [t, v] of points) {
    if (prev !== null && t - prev > GAP_S) {
      xs.push(prev + 1);
      ys.push(null);
    }
    xs.push(t);
    ys.push(v);
    prev = t;
  }
  return [xs, ys];
}
