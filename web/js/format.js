// Small formatting helpers shared by the views. Times from the service are ISO 8601 UTC.

export function parseTime(text) {
  return text ? Date.parse(text) : NaN;
}

/** "12 s ago", "4 min ago", "1 h 5 min ago". */
export function ageText(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ago` : `${Math.floor(m / 60)} h ${m % 60} min ago`;
}

/** A value as a bedside monitor shows it: whole numbers, PI with two decimals, "---" for none. */
export function fmtValue(value, metric) {
  if (value === null || value === undefined || Number.isNaN(value)) return "---";
  return metric === "perfusion_index" ? value.toFixed(2) : String(Math.round(value));
}

export function fmtMl(value) {
  return value === null || value === undefined ? "---" : value.toFixed(1);
}

/** "14:05" in the tablet's local time (the clinic's wall clock), 24-hour as on the monitors. */
export function clockTime(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
}

/** "14:05:09", the top bar's clock. */
export function clockSeconds(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

/** "1:05" for a countdown in seconds (minutes:seconds). */
export function countdown(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** "1 h 05 min" / "12 min" for a duration in seconds. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "---";
  const m = Math.max(0, Math.round(seconds / 60));
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** Create an element with a class and optional text (keeps the views short). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Set text only when it changed: avoids needless layout work on every tick. */
export function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}
