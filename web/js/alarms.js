// Alarm presentation after IEC 60601-1-8 (reference §2): HIGH red flashing at 2 Hz, MEDIUM
// yellow at 0.625 Hz, LOW cyan steady. Colour is never the only cue: each alarm also has its
// marker (*** / ** / *), the word HIGH/MEDIUM/LOW and an icon of its own shape (triangle,
// diamond, circle). The most urgent alarm is shown as a large banner readable from 4 m.
//
// Rows are keyed and updated in place: re-creating them on every tick would restart the CSS
// flashing (and move a button away from a finger about to tap it).

import { el, setText } from "../shared/dom.js";
import { PRIORITY_LABEL, ageText, parseTime } from "../shared/format.js";
import { canActOnAlarms, serverNow, sortedAlarms, state } from "./state.js";

const FLASH_MS = { high: 500, medium: 1600 }; // keep in step with app.css
const SVG = "http://www.w3.org/2000/svg";

/** An icon whose shape (not only its colour) tells the priority. */
function icon(priority) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  const shape = document.createElementNS(SVG, priority === "low" ? "circle" : "polygon");
  if (priority === "high") shape.setAttribute("points", "12,2 23,21 1,21");
  else if (priority === "medium") shape.setAttribute("points", "12,1 23,12 12,23 1,12");
  else {
    shape.setAttribute("cx", "12");
    shape.setAttribute("cy", "12");
    shape.setAttribute("r", "10");
  }
  shape.setAttribute("class", "icon-shape");
  const mark = document.createElementNS(SVG, "text");
  mark.setAttribute("x", "12");
  mark.setAttribute("y", priority === "high" ? "19" : "17");
  mark.setAttribute("text-anchor", "middle");
  mark.setAttribute("class", "icon-mark");
  mark.textContent = priority === "low" ? "i" : "!";
  svg.append(shape, mark);
  return svg;
}

function button(cls, text, handler) {
  const b = el("button", `btn ${cls}`, text);
  b.type = "button";
  b.addEventListener("click", handler);
  return b;
}

function build(alarm, actions) {
  const row = el("div", "alarm");
  row.dataset.key = alarm.key;
  const body = el("div", "alarm-body");
  const head = el("div", "alarm-head");
  head.append(
    el("span", "marker"), el("span", "prio"), el("span", "kind"), el("span", "text"),
  );
  const meta = el("div", "alarm-meta");
  meta.append(el("span", "signal"), el("span", "since"));
  body.append(head, meta);
  const buttons = el("div", "actions");
  const current = () => state.alarms.get(row.dataset.key);
  buttons.append(
    button("ack", "Acknowledge", () => current() && actions.acknowledge(current())),
    button("accept", "Take responsibility", () => current() && actions.accept(current())),
    button("reject", "Can't attend", () => current() && actions.reject(current())),
  );
  row.append(el("span", "icon-box"), body, buttons);
  return row;
}

function update(row, alarm) {
  const priority = alarm.priority;
  if (row.dataset.priority !== priority) {
    row.dataset.priority = priority;
    row.classList.remove("alarm-high", "alarm-medium", "alarm-low");
    row.classList.add(`alarm-${priority}`);
    row.querySelector(".icon-box").replaceChildren(icon(priority));
    // Every flashing alarm in the same phase: the delay aligns it with the page's time origin.
    const period = FLASH_MS[priority];
    row.style.animationDelay = period ? `-${Math.round(performance.now() % period)}ms` : "";
  }
  row.dataset.kind = alarm.kind;
  row.dataset.signal = alarm.signal || "on";
  row.dataset.escalated = String(Boolean(alarm.escalated));
  row.dataset.id = alarm.id || "";
  setText(row.querySelector(".marker"), alarm.marker || "");
  setText(row.querySelector(".prio"), PRIORITY_LABEL[priority] || priority);
  setText(row.querySelector(".kind"), alarm.kind === "technical" ? "TECHNICAL" : "");
  setText(row.querySelector(".text"), alarm.message);

  const signal = [];
  if (alarm.signal === "acknowledged") {
    signal.push(`✓ acknowledged${alarm.acknowledged_by ? ` by ${alarm.acknowledged_by}` : ""}`);
  } else if (alarm.signal === "latched") {
    signal.push("LATCHED: ended, awaiting acknowledgement");
  }
  if (alarm.responsible) signal.push(`responsible: ${alarm.responsible}`);
  if (alarm.escalated) signal.push("⬆ ESCALATED");
  setText(row.querySelector(".signal"), signal.join(" · "));
  setText(row.querySelector(".since"), `since ${ageText(serverNow() - parseTime(alarm.started_at))}`);

  // Acting on an alarm: a nurse (or admin) directly; a sitter's tablet asks for a nurse's PIN.
  const nurse = canActOnAlarms(state.user);
  const ack = row.querySelector(".ack");
  ack.hidden = alarm.signal === "acknowledged";
  setText(ack, nurse ? "Acknowledge" : "Acknowledge (nurse PIN)");
  row.querySelector(".accept").hidden = !nurse || Boolean(alarm.responsible);
  row.querySelector(".reject").hidden = !nurse;
}

/** Put `rows` into `box` in this order, moving only what is out of place. */
function place(box, rows) {
  const current = [...box.children].filter((c) => c.classList.contains("alarm"));
  if (current.length === rows.length && current.every((c, i) => c === rows[i])) return;
  for (const row of rows) box.append(row);
}

const rowsByKey = new Map();

export function renderAlarms(actions) {
  const alarms = sortedAlarms();
  const banner = document.getElementById("alarm-banner");
  const list = document.getElementById("alarm-list");
  const rows = [];
  for (const alarm of alarms) {
    let row = rowsByKey.get(alarm.key);
    if (!row) {
      row = build(alarm, actions);
      rowsByKey.set(alarm.key, row);
    }
    update(row, alarm);
    rows.push(row);
  }
  for (const [key, row] of rowsByKey) {
    if (!state.alarms.has(key)) {
      row.remove();
      rowsByKey.delete(key);
    }
  }
  rows.forEach((row, i) => row.classList.toggle("alarm-top", i === 0));
  place(banner, rows.slice(0, 1));
  place(list, rows.slice(1));
  document.getElementById("no-alarms").hidden = rows.length > 0;
  renderNurseNeeded(alarms);
}

/** Escalation notifies: "Nurse needed" on every tablet while an escalated alarm is still
 * unacknowledged (its priority is whatever its own rule says). */
function renderNurseNeeded(alarms) {
  const box = document.getElementById("nurse-needed");
  const waiting = alarms.filter((a) => a.escalated && (a.signal || "on") === "on");
  box.hidden = waiting.length === 0;
  if (!waiting.length) return;
  const first = waiting[0];
  const more = waiting.length > 1 ? ` (+${waiting.length - 1} more)` : "";
  const since = ageText(serverNow() - parseTime(first.started_at));
  setText(box, `NURSE NEEDED — not acknowledged: ${first.message}, for ${since}${more}`);
}
