// The numerics: one tile per metric, greyed with its age when it is not fresh, so an old number
// is never mistaken for the patient's present state.

import { setText } from "../shared/dom.js";
import { ageText, clockTime, fmtValue, parseTime } from "../shared/format.js";
import { serverNow, state } from "./state.js";

// A value older than this is shown as stale even if its device still looks connected.
const STALE_AFTER_MS = { nibp: 20 * 60 * 1000, default: 30 * 1000 };
const CONTINUOUS = ["hr", "spo2", "pulse_rate", "resp_rate", "etco2", "perfusion_index"];
const NIBP = ["nibp_sys", "nibp_dia", "nibp_mean"];
const DEFAULT_CUFF_INTERVAL_MS = 10 * 60 * 1000;

/** Times (ms) of the cuff measurements seen this session, oldest first, no repeats. */
const cuffTimes = [];

export function noteCuffTime(ms) {
  // The same reading comes from the history (float seconds) and live (ISO text): within 1 s
  // it is one measurement.
  if (!Number.isFinite(ms) || cuffTimes.some((t) => Math.abs(t - ms) < 1000)) return;
  cuffTimes.push(ms);
  cuffTimes.sort((a, b) => a - b);
  if (cuffTimes.length > 50) cuffTimes.splice(0, cuffTimes.length - 50);
}

/**
 * When the next cuff reading is due: the last one plus the mean of the last two intervals
 * (the cuff runs on the monitor's own schedule, which the service does not report), 10 min
 * when fewer than two readings were seen. Intervals outside 1–60 min are not a schedule.
 */
export function nextCuffDue() {
  const n = cuffTimes.length;
  if (n === 0) return null;
  const intervals = [];
  for (let i = Math.max(1, n - 2); i < n; i++) intervals.push(cuffTimes[i] - cuffTimes[i - 1]);
  const usable = intervals.filter((ms) => ms >= 60_000 && ms <= 3_600_000);
  const interval = usable.length
    ? usable.reduce((a, b) => a + b, 0) / usable.length
    : DEFAULT_CUFF_INTERVAL_MS;
  return cuffTimes[n - 1] + interval;
}

function deviceOk(source) {
  const d = state.devices[source];
  return !d || d.availability === "connected";
}

/** Classes and the age line of one tile; returns whether the value is stale. */
function renderTile(tile, reading, staleAfterMs) {
  const ageEl = tile.querySelector(".age");
  if (!reading) {
    tile.classList.remove("stale", "questionable");
    setText(ageEl, "");
    return false;
  }
  const age = serverNow() - parseTime(reading.measured_at);
  const stale = !deviceOk(reading.source) || age > staleAfterMs;
  tile.classList.toggle("stale", stale);
  tile.classList.toggle("questionable", reading.validity === "questionable");
  let text = "";
  if (stale) text = `no fresh data · ${ageText(age)}`;
  else if (reading.validity === "questionable") text = "questionable signal";
  setText(ageEl, text);
  return stale;
}

export function renderVitals() {
  for (const metric of CONTINUOUS) {
    const tile = document.querySelector(`[data-metric="${metric}"]`);
    if (!tile) continue;
    const reading = state.vitals[metric];
    renderTile(tile, reading, STALE_AFTER_MS.default);
    setText(tile.querySelector(".value"), reading ? fmtValue(reading.value, metric) : "---");
  }
  renderNibp();
}

function renderNibp() {
  const tile = document.querySelector('[data-metric="nibp"]');
  const [sys, dia, mean] = NIBP.map((m) => state.vitals[m]);
  const stale = renderTile(tile, sys, STALE_AFTER_MS.nibp);
  setText(
    tile.querySelector(".value"),
    sys ? `${fmtValue(sys.value)}/${fmtValue(dia && dia.value)}` : "---/---",
  );
  setText(tile.querySelector(".mean"), mean && mean.value !== null ? `(${fmtValue(mean.value)})` : "");
  const now = serverNow();
  const next = tile.querySelector(".nibp-next");
  if (!sys) {
    setText(next, "");
    return;
  }
  const measured = parseTime(sys.measured_at);
  if (!stale) {
    setText(tile.querySelector(".age"), `measured ${clockTime(measured)} · ${ageText(now - measured)}`);
  }
  const due = nextCuffDue();
  if (due === null) setText(next, "");
  else if (due >= now) setText(next, `next due ~${clockTime(due)}`);
  else setText(next, `next was due ${clockTime(due)} · overdue`);
  tile.classList.toggle("overdue", due !== null && due < now);
}
