// One bed (/#bed=<name>): its alarms with the Acknowledge button, the last 4 h of HR, SpO2 and
// NIBP as charts (uPlot, vendored in web/vendor/uplot), and its alarm log. The bed's state is
// kept current by the live socket; the log and the trends are loaded from
// GET /api/v1/beds/{bed} when the view opens and every 30 s while it stays open.

import { api } from "/shared/api.js";
import { Chart, SERIES, Y_RANGE, bpColumns, hrMetric, withGaps } from "/shared/chart.js";
import { byId as $, el, setText } from "/shared/dom.js";
import { MARKER, PRIORITY_LABEL, clockTime, parseTime } from "/shared/format.js";
import { alarmBlock, updateAlarm } from "./tiles.js";

const RELOAD_MS = 30_000;

/** One chart of the bed view (a large screen: bigger minimum, tick marks, a wider y axis). */
function chart(name) {
  const figure = document.querySelector(`#detail-trends [data-chart="${name}"]`);
  return new Chart(figure, { series: SERIES[name], yRange: Y_RANGE[name], minSize: [200, 120], ySize: 40 });
}

export class Detail {
  constructor({ ctx, getBed }) {
    this.ctx = ctx;
    this.getBed = getBed;
    this.name = null;
    this.timer = null;
    this.blocks = new Map();
    this.charts = { hr: chart("hr"), spo2: chart("spo2"), bp: chart("bp") };
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
    this.charts.hr.set(withGaps(metrics[hrMetric(metrics.hr)]), xRange);
    this.charts.spo2.set(withGaps(metrics.spo2), xRange);
    this.charts.bp.set(bpColumns(metrics.nibp_sys, metrics.nibp_dia), xRange);
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
