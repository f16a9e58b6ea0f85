// Formatting shared by the tablet and the central overview. Times from the services are ISO 8601
// UTC; everything is shown in the device's local time (the clinic's wall clock), 24-hour as on
// the monitors.

export const PRIORITY_LABEL = { high: "HIGH", medium: "MEDIUM", low: "LOW" };
export const MARKER = { high: "***", medium: "**", low: "*" };
export const PHASES = { baseline: "Baseline", infusion: "Infusing", recovery: "Recovery", ended: "Ended" };

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

/** "12 s ago", "4 min ago", "1 h 5 min ago". */
export function ageText(ms) {
  return `${sinceText(ms)} ago`;
}

/** A value as a bedside monitor shows it: whole numbers, PI with two decimals, "---" for none. */
export function fmtValue(value, metric) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "---";
  return metric === "perfusion_index" ? value.toFixed(2) : String(Math.round(value));
}

export function fmtMl(value) {
  return value === null || value === undefined ? "---" : value.toFixed(1);
}

/** "14:05" (or "14:05:09" with `seconds`). */
export function clockTime(ms, seconds = false) {
  const opts = { hour: "2-digit", minute: "2-digit", hour12: false };
  if (seconds) opts.second = "2-digit";
  return new Date(ms).toLocaleTimeString([], opts);
}

/** "14:05:09", the tablet's top-bar clock. */
export function clockSeconds(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

/** "1:05" for a countdown in seconds (minutes:seconds). */
export function countdown(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * "1 h 05 min" / "12 min" for a duration in seconds. The tablet rounds to the minute and shows
 * "---" for no value; the central's tiles pass `{whole: Math.floor, none: "--"}`.
 */
export function duration(seconds, { whole = Math.round, none = "---" } = {}) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return none;
  const m = Math.max(0, whole(seconds / 60));
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}
