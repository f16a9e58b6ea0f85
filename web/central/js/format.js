// Small helpers for the views. Times from the station are ISO 8601 UTC.

export function parseTime(text) {
  return text ? Date.parse(text) : NaN;
}

/** "12 s", "4 min", "1 h 5 min". */
export function sinceText(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** "1 h 05 min" / "12 min" for a duration in seconds; "--" for none. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "--";
  const m = Math.max(0, Math.floor(seconds / 60));
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** A number as a monitor shows it: whole, "---" for none. */
export function fmtValue(value) {
  return typeof value === "number" && Number.isFinite(value) ? String(Math.round(value)) : "---";
}

export function clockTime(ms, seconds = false) {
  const opts = { hour: "2-digit", minute: "2-digit", hour12: false };
  if (seconds) opts.second = "2-digit";
  return new Date(ms).toLocaleTimeString([], opts);
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Set text only when it changed (no needless layout work on every tick). */
export function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

export function setData(node, key, value) {
  const text = String(value);
  if (node.dataset[key] !== text) node.dataset[key] = text;
}

export const PRIORITY_LABEL = { high: "HIGH", medium: "MEDIUM", low: "LOW" };
export const MARKER = { high: "***", medium: "**", low: "*" };
export const PHASES = { baseline: "Baseline", infusion: "Infusing", recovery: "Recovery", ended: "Ended" };
