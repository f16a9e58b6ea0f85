// The pump panel: what is running into the patient, from the `pump` messages.

import { el, setText } from "../shared/dom.js";
import { ageText, duration, fmtMl, parseTime } from "../shared/format.js";
import { serverNow, state } from "./state.js";

const STALE_AFTER_MS = 30 * 1000;

function build(key) {
  const box = el("article", "pump");
  box.dataset.key = key;
  const head = el("div", "pump-head");
  head.append(el("span", "pump-name"), el("span", "pump-state"));
  const drug = el("div", "pump-drug");
  const grid = el("dl", "pump-grid");
  for (const [cls, label] of [
    ["rate", "Rate mL/h"], ["volume", "VI / VTBI mL"], ["left", "Time left"],
  ]) {
    const item = el("div", `pump-item pump-${cls}`);
    item.append(el("dt", "", label), el("dd", ""));
    grid.append(item);
  }
  box.append(head, drug, grid, el("div", "pump-conditions"), el("div", "age"));
  return box;
}

export function renderPumps() {
  const list = document.getElementById("pump-list");
  const seen = new Set();
  for (const [key, p] of state.pumps) {
    seen.add(key);
    let box = list.querySelector(`.pump[data-key="${CSS.escape(key)}"]`);
    if (!box) {
      box = build(key);
      list.append(box);
    }
    const pumpState = String(p.state || "unknown");
    box.dataset.state = pumpState;
    setText(box.querySelector(".pump-name"), `${p.source}${p.channel ? ` · channel ${p.channel}` : ""}`);
    setText(box.querySelector(".pump-state"), pumpState.toUpperCase());
    setText(
      box.querySelector(".pump-drug"),
      [p.drug, p.concentration].filter(Boolean).join(" · ") || "drug not reported",
    );
    const rate = p.rate_ml_h === null || p.rate_ml_h === undefined ? "---" : p.rate_ml_h.toFixed(1);
    setText(box.querySelector(".pump-rate dd"), rate);
    setText(box.querySelector(".pump-volume dd"), `${fmtMl(p.volume_infused_ml)} / ${fmtMl(p.vtbi_ml)}`);
    setText(box.querySelector(".pump-left dd"), duration(p.time_remaining_s));
    const conditions = p.conditions || [];
    setText(box.querySelector(".pump-conditions"), conditions.map((c) => `⚠ ${c.replaceAll("_", " ")}`).join("  "));
    const device = state.devices[p.source];
    const age = serverNow() - parseTime(p.at);
    const stale = (device && device.availability !== "connected") || age > STALE_AFTER_MS;
    box.classList.toggle("stale", Boolean(stale));
    setText(box.querySelector(".age"), stale ? `no fresh data · ${ageText(age)}` : "");
  }
  for (const box of [...list.querySelectorAll(".pump")]) {
    if (!seen.has(box.dataset.key)) box.remove();
  }
  document.getElementById("no-pump").hidden = state.pumps.size > 0;
}
