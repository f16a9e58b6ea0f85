// One bed (/#bed=<name>): its alarms with the Acknowledge button, the last 4 h of HR, SpO2 and
// NIBP as charts (uPlot, vendored in web/vendor/uplot), and its alarm log. The bed's state is
// kept current by the live socket; the log and the trends are loaded from
// GET /api/v1/beds/{bed} when the view opens and every 30 s while it stays open.

import { api } from "./api.js";
import { MARKER, PRIORITY_LABEL, clockTime, el, parseTime, setText } from "./format.js";
import { alarmBlock, updateAlarm } from "./tiles.js";

const RELOAD_MS = 30_000;
const GAP_S = 15;
const COLOURS = { axis: "#8a96a3", grid: "#26313d", hr: "#2fbf71", spo2: "#19c3d6", sys: "#f4f7fa", dia: "#9fb3c8" };

function $(id) {
  return document.getElementById(id);
}

/** uPlot columns with a gap where a continuous metric went silent. */
function columns(points) {
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

class Chart {
  constructor(figure, series, yRange) {
    this.figure = figure;
    this.box = figure.querySelector(".chart-plot");
    this.plot = null;
    this.series = series;
    this.yRange = yRange;
    this.xRange = [0, 1];
  }

  set(data, xRange) {
    this.xRange = xRange;
    const uPlot = window.uPlot;
    if (!uPlot) return; // the vendored script failed to load: the rest of the page still works
    if (!this.plot) {
      const opts = {
        width: Math.max(200, this.box.clientWidth),
        height: Math.max(120, this.box.clientHeight),
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true, range: () => this.xRange }, y: { range: this.yRange } },
        axes: [
          { stroke: COLOURS.axis, grid: { stroke: COLOURS.grid, width: 1 }, size: 28,
            values: (u, splits) => splits.map((s) => clockTime(s * 1000)) },
          { stroke: COLOURS.axis, grid: { stroke: COLOURS.grid, width: 1 }, size: 40 },
        ],
        series: [{}, ...this.series],
      };
      this.plot = new uPlot(opts, data, this.box);
      new ResizeObserver(() => {
        if (this.box.clientWidth > 0) this.plot.setSize({ width: this.box.clientWidth, height: this.box.clientHeight });
      }).observe(this.box);
    } else {
      this.plot.setData(data, true);
    }
    this.figure.dataset.points = String(data[1].filter((v) => v !== null).length);
  }
}

export class Detail {
  constructor({ ctx, getBed }) {
    this.ctx = ctx;
    this.getBed = getBed;
    this.name = null;
    this.timer = null;
    this.blocks = new Map();
    const fig = (name) => document.querySelector(`#detail-trends [data-chart="${name}"]`);
    this.charts = {
      hr: new Chart(fig("hr"), [{ stroke: COLOURS.hr, width: 2 }], (u, lo, hi) => [Math.min(40, lo ?? 40) - 5, Math.max(160, hi ?? 0) + 10]),
      spo2: new Chart(fig("spo2"), [{ stroke: COLOURS.spo2, width: 2 }], (u, lo) => [Math.max(0, Math.min(80, lo ?? 80) - 2), 101]),
      bp: new Chart(fig("bp"), [
        { stroke: COLOURS.sys, width: 2, spanGaps: true, points: { show: true, size: 7, fill: COLOURS.sys } },
        { stroke: COLOURS.dia, width: 2, spanGaps: true, points: { show: true, size: 7, fill: COLOURS.dia } },
      ], (u, lo, hi) => [Math.min(40, lo ?? 40) - 5, Math.max(200, hi ?? 0) + 10]),
    };
  }

  open(name) {
    this.name = name;
    this.blocks.clear();
    $("detail-alarms").replaceChildren();
    $("detail-log").replaceChildren();
    setText($("detail-title"), name);
    this.render();
    this.load();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.load(), RELOAD_MS);
  }

  close() {
    this.name = null;
    clearInterval(this.timer);
  }

  async load() {
    const name = this.name;
    if (!name) return;
    let data;
    try {
      data = await api("GET", `/api/v1/beds/${encodeURIComponent(name)}`);
    } catch (err) {
      if (name === this.name) this.ctx.toast(`${name}: ${err.detail}`, "error");
      return;
    }
    if (name !== this.name) return;
    this.showLog(data.alarm_log || []);
    this.showTrends(data.trends || {});
  }

  showLog(rows) {
    const body = $("detail-log");
    body.replaceChildren(
      ...rows.map((r) => {
        const tr = el("tr", `prio-${r.priority}`);
        tr.append(
          el("td", "", clockTime(parseTime(r.at), true)),
          el("td", "", `${MARKER[r.priority] || ""} ${PRIORITY_LABEL[r.priority] || r.priority}`),
          el("td", "", r.event),
          el("td", "", r.message),
          el("td", "", r.user || ""),
        );
        return tr;
      }),
    );
  }

  showTrends(trends) {
    const metrics = trends.metrics || {};
    const nowS = this.ctx.now() / 1000;
    const since = parseTime(trends.since) / 1000;
    const xRange = [Number.isFinite(since) ? since : nowS - 4 * 3600, nowS + 60];
    const hrPoints = (metrics.hr || []).some(([, v]) => v !== null) ? metrics.hr : metrics.pulse_rate;
    this.charts.hr.set(columns(hrPoints), xRange);
    this.charts.spo2.set(columns(metrics.spo2), xRange);
    const sys = metrics.nibp_sys || [];
    const dia = new Map((metrics.nibp_dia || []).map(([t, v]) => [t, v]));
    this.charts.bp.set([sys.map(([t]) => t), sys.map(([, v]) => v), sys.map(([t]) => dia.get(t) ?? null)], xRange);
  }

  /** The live part: status and alarms, from the bed's current state. */
  render() {
    if (!this.name) return;
    const bed = this.getBed(this.name);
    const chip = $("detail-status");
    if (!bed) {
      setText(chip, "UNKNOWN");
      return;
    }
    chip.className = `status-chip status-${bed.status}`;
    setText(chip, bed.status.toUpperCase());
    const seen = parseTime(bed.last_seen);
    setText($("detail-seen"), Number.isNaN(seen) ? "" : `last heard ${this.ctx.since(this.ctx.now() - seen)} ago`);
    const list = $("detail-alarms");
    const ids = new Set(bed.alarms.map((a) => a.id));
    for (const [id, block] of this.blocks) {
      if (!ids.has(id)) {
        block.remove();
        this.blocks.delete(id);
      }
    }
    if (!bed.alarms.length) {
      if (!list.querySelector(".no-alarms")) list.append(el("div", "muted no-alarms", "No active alarms"));
    } else {
      const none = list.querySelector(".no-alarms");
      if (none) none.remove();
    }
    let prev = null;
    for (const alarm of bed.alarms) {
      let block = this.blocks.get(alarm.id);
      if (!block) {
        block = alarmBlock(this.ctx.acknowledge);
        this.blocks.set(alarm.id, block);
      }
      // The station's order (highest first); a row is moved only when it must be (moving it
      // would restart its flashing).
      const wanted = prev ? prev.nextElementSibling : list.firstElementChild;
      if (wanted !== block) list.insertBefore(block, wanted);
      prev = block;
      updateAlarm(block, bed.bed, alarm, this.ctx);
    }
  }
}
