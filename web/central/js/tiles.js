// One tile per bed on the overview. Tiles and their parts are created once and updated in
// place: re-creating them would restart the alarm flashing and move a button under a finger.

import { el, setData, setText } from "/shared/dom.js";
import { MARKER, PHASES, PRIORITY_LABEL, clockTime, duration, fmtValue, parseTime } from "/shared/format.js";

const FRESH_MS = 30_000; // HR/SpO2 older than this are shown grey
const UNACKNOWLEDGED = new Set(["on", "latched"]);
const DURATION = { whole: Math.floor, none: "--" }; // elapsed: whole minutes passed

function part(tile, cls) {
  return tile.querySelector(`.${cls}`);
}

function vital(metric, label) {
  const box = el("div", "bt-vital");
  box.dataset.metric = metric;
  box.append(el("span", "lbl", label), el("span", "val", "---"));
  return box;
}

/** The alarm block (tile and detail view share it). */
export function alarmBlock(onAck) {
  const box = el("div", "alarm");
  const head = el("div", "alarm-head");
  head.append(el("span", "marker"), el("span", "prio"), el("span", "text"), el("span", "more"));
  const foot = el("div", "alarm-foot");
  const ack = el("button", "btn ack", "Acknowledge");
  ack.type = "button";
  ack.addEventListener("click", (event) => {
    event.stopPropagation(); // not a click on the tile (which opens the bed)
    onAck(box.dataset.bed, box.dataset.alarmId, ack);
  });
  foot.append(el("span", "esc", "ESCALATED"), el("span", "signal-text"), el("span", "ack-result"), ack);
  box.append(head, foot);
  return box;
}

export function updateAlarm(box, bed, alarm, ctx, more = 0) {
  const central = alarm.central || {};
  const ack = central.ack;
  const cls = `alarm alarm-${alarm.priority}${box.classList.contains("bt-alarm") ? " bt-alarm" : ""}`;
  if (box.className !== cls) box.className = cls; // an unchanged class keeps the flashing in step
  setData(box, "bed", bed);
  setData(box, "alarmId", alarm.id);
  setData(box, "signal", alarm.signal);
  setData(box, "escalated", Boolean(central.escalated));
  setText(part(box, "marker"), MARKER[alarm.priority] || "");
  setText(part(box, "prio"), PRIORITY_LABEL[alarm.priority] || alarm.priority);
  setText(part(box, "text"), alarm.message || alarm.key);
  const moreNode = part(box, "more");
  setText(moreNode, more > 0 ? `+${more}` : "");
  moreNode.hidden = more <= 0;
  part(box, "esc").hidden = !central.escalated;

  let signal = "";
  if (alarm.signal === "acknowledged") signal = `acknowledged${alarm.acknowledged_by ? ` by ${alarm.acknowledged_by}` : ""}`;
  else if (alarm.signal === "latched") signal = "ended, not acknowledged";
  setText(part(box, "signal-text"), signal);

  const result = part(box, "ack-result");
  let resultText = "";
  if (ack && ack.state === "acknowledging") resultText = `acknowledging… (${ack.user})`;
  else if (ack && ack.state === "failed") resultText = `✗ acknowledge failed: ${ack.detail}`;
  else if (ack && ack.state === "ok" && alarm.signal === "acknowledged") resultText = `✓ ${ack.detail || "acknowledged"}`;
  setText(result, resultText);
  setData(result, "state", ack ? ack.state : "none");
  result.hidden = !resultText;

  const button = part(box, "ack");
  const pending = ack && ack.state === "acknowledging";
  button.hidden = !(ctx.canAck && UNACKNOWLEDGED.has(alarm.signal) && !pending);
}

function build(name, ctx) {
  const tile = el("article", "bed-tile");
  tile.tabIndex = 0;
  tile.dataset.bed = name;
  const head = el("header", "bt-head");
  head.append(el("h2", "bt-name", name), el("span", "status-chip bt-status"));
  const lost = el("div", "bt-lost");
  lost.append(el("div", "bt-lost-label"), el("div", "bt-lost-since"), el("div", "bt-lost-alarm"));
  const live = el("div", "bt-live");
  const vitals = el("div", "bt-vitals");
  vitals.append(vital("hr", "HR"), vital("spo2", "SpO₂"), vital("nibp", "NIBP"));
  const alarm = alarmBlock(ctx.acknowledge);
  alarm.classList.add("bt-alarm");
  const none = el("div", "bt-none", "No active alarms");
  const command = el("div", "bt-command");
  const infusion = el("footer", "bt-infusion");
  infusion.append(el("span", "phase"), el("span", "times"));
  live.append(vitals, alarm, none, command, infusion);
  tile.append(head, lost, live);
  const open = () => ctx.open(name);
  tile.addEventListener("click", open);
  tile.addEventListener("keydown", (event) => {
    if (event.key === "Enter") open();
  });
  return tile;
}

function setVital(tile, metric, text, old) {
  const box = tile.querySelector(`.bt-vital[data-metric="${metric}"]`);
  setText(box.querySelector(".val"), text);
  box.classList.toggle("old", old);
}

/** Create or update the tile of `bed` (the station's bed JSON) in `container`. */
export function renderTile(container, bed, ctx) {
  let tile = container.querySelector(`.bed-tile[data-bed="${CSS.escape(bed.bed)}"]`);
  if (!tile) {
    tile = build(bed.bed, ctx);
    container.append(tile);
  }
  const now = ctx.now();
  const top = bed.top_alarm;
  setData(tile, "status", bed.status);
  setData(tile, "priority", top ? top.priority : "none");
  setData(tile, "escalated", Boolean(top && bed.alarms.some((a) => a.central && a.central.escalated)));
  const chip = part(tile, "bt-status");
  chip.className = `status-chip bt-status status-${bed.status}`;
  setText(chip, bed.status.toUpperCase());

  const seen = parseTime(bed.last_seen);
  const since = Number.isNaN(seen) ? "never heard from" : `last heard ${ctx.since(now - seen)} ago`;
  setText(part(tile, "bt-lost-label"), bed.status === "offline" ? "OFFLINE" : "STALE");
  setText(part(tile, "bt-lost-since"), since);
  setText(part(tile, "bt-lost-alarm"), top ? `last known: ${MARKER[top.priority]} ${top.message}` : "");

  const v = bed.vitals || {};
  const fresh = (r) => r && now - parseTime(r.measured_at) < FRESH_MS;
  const hr = v.hr && v.hr.value !== null ? v.hr : v.pulse_rate;
  setVital(tile, "hr", fmtValue(hr && hr.value), !fresh(hr));
  setVital(tile, "spo2", fmtValue(v.spo2 && v.spo2.value), !fresh(v.spo2));
  const sys = v.nibp_sys;
  const dia = v.nibp_dia;
  const nibp = sys ? `${fmtValue(sys.value)}/${fmtValue(dia && dia.value)}` : "---/---";
  setVital(tile, "nibp", nibp, false);
  const nibpLabel = tile.querySelector('.bt-vital[data-metric="nibp"] .lbl');
  setText(nibpLabel, sys ? `NIBP ${clockTime(parseTime(sys.measured_at))}` : "NIBP");

  const alarmBox = part(tile, "bt-alarm");
  alarmBox.hidden = !top;
  part(tile, "bt-none").hidden = Boolean(top);
  if (top) updateAlarm(alarmBox, bed.bed, top, ctx, bed.alarms.length - 1);

  // A command whose alarm is gone: its result still tells the nurse what happened.
  const command = part(tile, "bt-command");
  const shown = new Set(bed.alarms.map((a) => a.id));
  const last = (bed.commands || []).filter((c) => !shown.has(c.alarm_id)).pop();
  const recent = last && now - parseTime(last.result_at || last.sent_at) < 120_000;
  setData(command, "state", recent ? last.state : "none");
  setText(
    command,
    recent
      ? `Acknowledge by ${last.user}: ${last.state === "acknowledging" ? "acknowledging…" : `${last.state}${last.detail ? ` (${last.detail})` : ""}`}`
      : "",
  );
  command.hidden = !recent;

  const infusion = part(tile, "bt-infusion");
  const s = bed.infusion;
  setData(infusion, "phase", s ? s.phase : "none");
  if (!s) {
    setText(part(infusion, "phase"), "No infusion session");
    setText(part(infusion, "times"), "");
  } else {
    const started = parseTime(s.started_at);
    const ended = parseTime(s.infusion_ended_at);
    const end = Number.isNaN(ended) ? now : ended;
    const elapsed = Number.isNaN(started) ? "--" : duration((end - started) / 1000, DURATION);
    setText(part(infusion, "phase"), PHASES[s.phase] || s.phase);
    setText(part(infusion, "times"), `${elapsed} / ${duration(s.duration_min * 60, DURATION)} planned`);
  }
  return tile;
}
