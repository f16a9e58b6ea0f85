// Chart helpers shared by the tablet's trends and the central's bed view: uPlot (vendored in
// web/vendor/uplot, loaded by the page as the global `uPlot`), the colours, the y ranges and
// series of the BP, HR and SpO2 charts, and the gap rule of continuous metrics.

import { clockTime } from "./format.js";

export const GAP_S = 15; // a continuous metric silent this long is drawn with a gap, not a bridge

export const COLOURS = {
  axis: "#8a96a3", grid: "#26313d", sys: "#f4f7fa", dia: "#9fb3c8", hr: "#2fbf71",
  spo2: "#19c3d6", medium: "#f2c200", high: "#ff4d47", baseline: "#8a96a3",
};

/** uPlot series of each chart (the tablet and the central draw the same lines). */
export const SERIES = {
  bp: [
    { label: "SYS", stroke: COLOURS.sys, width: 2, spanGaps: true, points: { show: true, size: 7, fill: COLOURS.sys } },
    { label: "DIA", stroke: COLOURS.dia, width: 2, spanGaps: true, points: { show: true, size: 7, fill: COLOURS.dia } },
  ],
  hr: [{ label: "HR", stroke: COLOURS.hr, width: 2 }],
  spo2: [{ label: "SpO2", stroke: COLOURS.spo2, width: 2 }],
};

/** The y range of each chart from its data's min and max (null: no data) and any drawn lines
 * (limits, baseline) that must stay in view. */
export const Y_RANGE = {
  bp: (min, max, lines = []) => [Math.min(40, min ?? 40, ...lines) - 5, Math.max(200, max ?? 0, ...lines) + 10],
  hr: (min, max, lines = []) => [Math.min(40, min ?? 40, ...lines) - 5, Math.max(160, max ?? 0, ...lines) + 10],
  spo2: (min, _max, lines = []) => [Math.max(0, Math.min(80, min ?? 80, ...lines) - 2), 101],
};

export function finite(v) {
  return typeof v === "number" && Number.isFinite(v);
}

/** uPlot columns [xs, ys] from [[t, v], …], with a null inserted where the metric went silent. */
export function withGaps(points) {
  const xs = [];
  const ys = [];
  let prev = null;
  for (const [t, v] of points || []) {
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

/** BP columns [ts, sys, dia]: systolic and diastolic share the cuff's measurement time. */
export function bpColumns(sysPoints, diaPoints) {
  const sys = sysPoints || [];
  const dia = new Map((diaPoints || []).map(([t, v]) => [t, v]));
  return [sys.map(([t]) => t), sys.map(([, v]) => v), sys.map(([t]) => dia.get(t) ?? null)];
}

/** HR from the ECG when there is any value, else the oximeter's pulse rate (as the alarm rule
 * does): "hr" or "pulse_rate". */
export function hrMetric(hrPoints) {
  return (hrPoints || []).some(([, v]) => finite(v)) ? "hr" : "pulse_rate";
}

/**
 * One uPlot chart in a <figure> with a `.chart-plot` box, created on the first `set` (when the
 * page is visible and has a size) and resized with its box. Without uPlot (the vendored script
 * failed to load) the rest of the page still works. `figure.dataset.points` tells tests and the
 * eye how many values the chart holds.
 *
 * Options: `series` (uPlot series), `yRange(min, max)`, `minSize` [w, h], `ticks` (tick marks on
 * the axes), `ySize` (the y axis's width), `hooks` (uPlot hooks).
 */
export class Chart {
  constructor(figure, { series, yRange, minSize = [100, 80], ticks = true, ySize = 36, hooks = {} }) {
    this.figure = figure;
    this.box = figure; // the tablet's views read the figure as `box`
    this.plotBox = figure.querySelector(".chart-plot");
    this.series = series;
    this.yRange = yRange;
    this.minSize = minSize;
    this.ticks = ticks;
    this.ySize = ySize;
    this.hooks = hooks;
    this.plot = null;
    this.xRange = [0, 1];
  }

  axes() {
    const axis = { stroke: COLOURS.axis, grid: { stroke: COLOURS.grid, width: 1 } };
    if (!this.ticks) axis.ticks = { show: false };
    return [
      // Wall-clock hours and minutes only: the date line uPlot adds costs a third of the height.
      { ...axis, size: 28, values: (u, splits) => splits.map((s) => clockTime(s * 1000)) },
      { ...axis, size: this.ySize },
    ];
  }

  create(data) {
    const uPlot = window.uPlot; // the vendored IIFE build defines the global
    if (!uPlot) return null;
    const opts = {
      width: Math.max(this.minSize[0], this.plotBox.clientWidth),
      height: Math.max(this.minSize[1], this.plotBox.clientHeight),
      legend: { show: false },
      cursor: { show: false }, // no hover read-out to get stuck on a touch screen
      scales: {
        x: { time: true, range: () => this.xRange },
        y: { range: (u, min, max) => this.yRange(finite(min) ? min : null, finite(max) ? max : null) },
      },
      axes: this.axes(),
      series: [{}, ...this.series],
      hooks: this.hooks,
    };
    const plot = new uPlot(opts, data, this.plotBox);
    new ResizeObserver(() => this.resize()).observe(this.plotBox);
    return plot;
  }

  resize() {
    const w = this.plotBox.clientWidth;
    const h = this.plotBox.clientHeight;
    if (this.plot && w > 0 && h > 0) this.plot.setSize({ width: w, height: h });
  }

  /** New data (uPlot columns) over `xRange` [startS, endS]; `points`: how many values it holds
   * (default: the finite values of the first series). */
  set(data, xRange, points = data[1].filter(finite).length) {
    this.xRange = xRange;
    if (!this.plot) this.plot = this.create(data);
    else this.plot.setData(data, true);
    this.figure.dataset.points = String(points);
  }
}
