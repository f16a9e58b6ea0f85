// The tablet's picture of the bed, rebuilt from every snapshot and kept current by the live
// messages (docs/api.md). One object, read by all views; only main.js writes to it.

export const RANK = { high: 3, medium: 2, low: 1 };

export const state = {
  user: null,               // {username, display_name, role} once signed in
  bed: "",
  vitals: {},               // metric -> latest vital reading
  devices: {},              // source -> {source, driver, availability, detail, ...}
  alarms: new Map(),        // key -> shown alarm (state "active")
  audible: new Map(),       // alarm id -> the service's `audible` (engine.audible), latest answer
  pumps: new Map(),         // "source/channel" -> latest pump message
  conditions: {},           // source -> {active: [...], at}
  audio: { paused_until: null, paused_by: null, paused_priority: null },
  limits: {},               // limit name -> value
  infusion: null,           // the bed's open infusion session (GET /sessions/current shape)
  baseline: null,           // {sys, dia, hr} when the service starts sending it
  tablets: 0,
  serverOffsetMs: 0,        // server clock minus tablet clock (from server_time)
};

/** The service's "now" in ms: every age and countdown is computed against the service clock. */
export function serverNow() {
  return Date.now() + state.serverOffsetMs;
}

/** Nurses and admins act on alarms themselves; a sitter needs a nurse's PIN. */
export function canActOnAlarms(user) {
  return Boolean(user) && (user.role === "nurse" || user.role === "admin");
}

/** True while an audio pause is running (the service sends no message when it simply ends). */
export function audioPaused(now = serverNow()) {
  const until = state.audio && state.audio.paused_until;
  return Boolean(until) && now < Date.parse(until);
}

/** Shown alarms, most urgent first: priority, then not yet acknowledged, then oldest. */
export function sortedAlarms() {
  const waiting = (a) => (a.signal === "acknowledged" ? 1 : 0);
  return [...state.alarms.values()].sort(
    (a, b) =>
      RANK[b.priority] - RANK[a.priority] ||
      waiting(a) - waiting(b) ||
      String(a.started_at).localeCompare(String(b.started_at)),
  );
}

/**
 * What the service says must sound now: the shown alarms it marks `audible` (its engine decides:
 * signal on, not covered by an audio pause), the highest priority among them (the service's own
 * `annunciation`) and their ids. The page applies no rule of its own here.
 */
export function audibleNow() {
  const loud = sortedAlarms().filter((a) => state.audible.get(a.id) === true);
  const priority = loud.length ? loud[0].priority : null;
  const ids = loud.filter((a) => a.priority === priority).map((a) => a.id);
  return { priority, ids, reason: priority ? "alarm" : null };
}
