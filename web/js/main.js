// Vigil tablet page: the sitter's bed view and the nurse's alarm actions.
// Protocol: docs/api.md (REST + /api/v1/live). Plain ES modules, no build step, no request ever
// leaves the service's origin (uPlot is vendored, fonts are the system's).

import { api, setUnreachableText } from "../shared/api.js";
import { setText, showToast } from "../shared/dom.js";
import { PHASES, clockSeconds, countdown, duration, parseTime } from "../shared/format.js";
import { LiveLink } from "../shared/live.js";
import { initSignIn, showSignedIn, showSignIn } from "../shared/signin.js";
import { renderAlarms } from "./alarms.js";
import { closePinPrompt, initPinPrompt, openPinPrompt } from "./prompt.js";
import { renderPumps } from "./pumps.js";
import { initSessions, renderSessionPanel, resetSessions, sessionChanged } from "./sessions.js";
import { Annunciator } from "./sound.js";
import { audibleNow, audioPaused, canActOnAlarms, RANK, serverNow, state } from "./state.js";
import { HISTORY_MINUTES, Trends } from "./trends.js";
import { noteCuffTime, renderVitals } from "./vitals.js";

const TICK_MS = 250;
const SESSION_ENDED =
  "Your sign-in has ended: this screen is NOT showing the bed's alarms. Sign in again.";
const $ = (id) => document.getElementById(id);

setUnreachableText("the Vigil unit cannot be reached");
const annunciator = new Annunciator();
const trends = new Trends($("trends"));
const link = new LiveLink({
  path: "/api/v1/live",
  onMessage: handle,
  onSignedOut: () => signedOut(SESSION_ENDED),
});

// -- messages from the service ---------------------------------------------------------------

function handle(msg) {
  if (msg.server_time) state.serverOffsetMs = parseTime(msg.server_time) - Date.now();
  switch (msg.type) {
    case "snapshot":
      applySnapshot(msg);
      break;
    case "vital":
      state.vitals[msg.metric] = msg;
      trends.add(msg);
      if (msg.metric === "nibp_sys") noteCuffTime(parseTime(msg.measured_at));
      break;
    case "availability": {
      const d = state.devices[msg.source] || { source: msg.source };
      state.devices[msg.source] = { ...d, availability: msg.availability, detail: msg.detail, since: msg.at };
      break;
    }
    case "conditions":
      state.conditions[msg.source] = msg;
      break;
    case "pump":
      state.pumps.set(`${msg.source}/${msg.channel}`, msg);
      break;
    case "alarm":
      if (msg.state === "active") state.alarms.set(msg.key, msg);
      else state.alarms.delete(msg.key);
      if (typeof msg.audible === "boolean") state.audible.set(msg.id, msg.audible);
      else refreshAudible(); // ask the service what sounds now (see "sound" below)
      decideSound();
      break;
    case "action":
      if (msg.audio) state.audio = msg.audio;
      // A pause, its end or its narrowing changes what sounds: the action says what now does.
      if (msg.audible && typeof msg.audible === "object") {
        state.audible = new Map(Object.entries(msg.audible).map(([id, on]) => [id, on === true]));
      } else {
        refreshAudible();
      }
      if (msg.limits) {
        state.limits = msg.limits;
        trends.setLimits(msg.limits);
      }
      // Signed out on another screen with the same sign-in? Ask rather than guess.
      if (msg.action === "signed_out" && state.user && msg.user === state.user.username) {
        checkSignedIn();
      }
      decideSound();
      break;
    case "tablets":
      state.tablets = msg.count;
      break;
    case "infusion":
      applyInfusion(msg.session || null);
      break;
    default:
      break; // heartbeat (its server_time is used above), service_fault (arrives as an alarm)
  }
  scheduleRender();
}

function applySnapshot(msg) {
  state.bed = msg.bed;
  state.vitals = msg.vitals || {};
  state.devices = {};
  for (const d of msg.devices || []) state.devices[d.source] = d;
  state.alarms = new Map((msg.alarms || []).map((a) => [a.key, a]));
  state.audible = new Map((msg.alarms || []).map((a) => [a.id, a.audible === true]));
  annunciator.setTable(msg.annunciation_table);
  state.pumps = new Map((msg.pumps || []).map((p) => [`${p.source}/${p.channel}`, p]));
  state.conditions = msg.conditions || {};
  state.audio = msg.audio || state.audio;
  state.limits = msg.limits || {};
  state.tablets = msg.tablets || 0;
  applyInfusion(msg.infusion || null);
  if (state.vitals.nibp_sys) noteCuffTime(parseTime(state.vitals.nibp_sys.measured_at));
  trends.setLimits(state.limits);
  // Hook for the patient's baseline: drawn as soon as the service sends it.
  if ("baseline" in msg) {
    state.baseline = msg.baseline;
    trends.setBaseline(msg.baseline);
  }
  decideSound();
  // Every (re)connection refills the trends: the gap while the link was down is in the store.
  loadHistory();
}

let historyLoading = false;
async function loadHistory() {
  if (historyLoading) return;
  historyLoading = true;
  try {
    const history = await api("GET", `/api/v1/readings/history?minutes=${HISTORY_MINUTES}`);
    for (const [t] of (history.metrics && history.metrics.nibp_sys) || []) noteCuffTime(t * 1000);
    trends.load(history);
    $("trends").dataset.loaded = "true";
  } catch (err) {
    if (err.status === 401) checkSignedIn();
  } finally {
    historyLoading = false;
  }
  scheduleRender();
}

// -- sound --------------------------------------------------------------------------------------
//
// The service decides what is audible (its engine: an alarm's signal is on and no audio pause
// covers it) and says so: each alarm of the snapshot, every `alarm` message and every `action`
// message (for all shown alarms) carries `audible`, so the page never waits for a request to
// know what to sound. Only a message without it (an older service) makes the page ask
// GET /api/v1/alarms. The page decides only what the service cannot know: that this screen has
// lost its link.

let lost = false;
let audibleWanted = false; // a refresh was asked for while one was running (or failed)
let audibleLoading = false;

async function refreshAudible() {
  audibleWanted = true;
  if (audibleLoading || !state.user) return;
  audibleLoading = true;
  try {
    while (audibleWanted && state.user) {
      audibleWanted = false;
      const alarms = await api("GET", "/api/v1/alarms");
      if (!state.user) break; // signed out meanwhile
      state.audible = new Map(alarms.map((a) => [a.id, a.audible === true]));
      decideSound();
    }
  } catch (err) {
    audibleWanted = true; // asked again on the next tick
    if (err.status === 401) checkSignedIn();
  } finally {
    audibleLoading = false;
  }
}

function decideSound() {
  if (!state.user) {
    annunciator.update({ priority: null });
    return;
  }
  if (lost) {
    // The page's own technical alarm: it no longer knows what the alarms are.
    annunciator.update({ priority: "medium", reason: "connection lost", ids: ["connection"] });
    return;
  }
  annunciator.update(audibleNow());
}

function renderSound() {
  const box = $("sound");
  const status = annunciator.status;
  const paused = audioPaused();
  let text;
  let cls;
  if (status === "unsupported") {
    text = "Sound off: not available on this device";
    cls = "sound-off";
  } else if (status === "blocked") {
    text = "Sound off";
    cls = "sound-off";
  } else if (paused) {
    text = "Audio paused";
    cls = "sound-paused";
  } else {
    text = "Sound on";
    cls = "sound-on";
  }
  box.className = `sound ${cls}`;
  box.dataset.state = status === "on" ? (paused ? "paused" : "on") : "off";
  setText($("sound-state"), text);
  $("sound-enable").hidden = status !== "blocked";

  const until = paused ? parseTime(state.audio.paused_until) : NaN;
  const remaining = paused ? countdown((until - serverNow()) / 1000) : "";
  const ceiling = state.audio.paused_priority;
  setText($("audio-countdown"), paused ? `${remaining}${ceiling ? ` (up to ${ceiling.toUpperCase()})` : ""}` : "");
  $("audio-countdown").hidden = !paused;
  $("pause-audio").hidden = paused;
  $("resume-audio").hidden = !paused;
}

// -- actions -----------------------------------------------------------------------------------

function toast(text, kind = "info") {
  showToast(text, kind, kind === "error" ? 8000 : 3000);
}

async function act(method, path, body, done) {
  try {
    const result = await api(method, path, body);
    if (done) toast(done);
    return result;
  } catch (err) {
    if (err.status === 401) checkSignedIn();
    toast(err.detail, "error");
    return null;
  }
}

const VERB = { acknowledge: "Acknowledge", accept: "Take responsibility", reject: "Can't attend" };
const DONE = { acknowledge: "Acknowledged", accept: "Responsibility taken", reject: "Escalated" };

function alarmAction(kind, alarm) {
  const path = `/api/v1/alarms/${encodeURIComponent(alarm.id)}/${kind}`;
  if (canActOnAlarms(state.user)) {
    act("POST", path, undefined, kind === "reject" ? "Escalated: the nurses are notified" : null);
    return;
  }
  // A sitter's tablet: the nurse who walked up confirms with their own name and PIN.
  openPinPrompt({
    title: `${VERB[kind]}: nurse confirmation`,
    detail: `${alarm.marker} ${alarm.message}`,
    submit: async (credentials) => {
      try {
        await api("POST", path, credentials);
      } catch (err) {
        // 401 may be the nurse's PIN or the sitter's own sign-in having ended: ask which.
        if (err.status === 401) checkSignedIn();
        throw err;
      }
      toast(`${DONE[kind]} by ${credentials.username}`);
    },
  });
}

// Audio pause: a sitter may pause an alarm once. The service refuses a second pause of an alarm
// that is still shown (403 "... paused once already: a nurse must confirm"); the nurse who walks
// up confirms with user name and PIN, exactly as for an acknowledgement.
const PAUSE = "/api/v1/audio/pause";

async function pauseAudio() {
  try {
    await api("POST", PAUSE, {});
  } catch (err) {
    if (err.status === 401) checkSignedIn();
    if (err.status === 403 && /paused once already/.test(err.detail || "")) {
      openPinPrompt({
        title: "Pause audio again: nurse confirmation",
        detail: err.detail,
        submit: async (credentials) => {
          try {
            await api("POST", PAUSE, credentials);
          } catch (e) {
            if (e.status === 401) checkSignedIn();
            throw e;
          }
          toast(`Audio paused by ${credentials.username}`);
        },
      });
      return;
    }
    toast(err.detail, "error");
  }
}

const alarmActions = {
  acknowledge: (alarm) => alarmAction("acknowledge", alarm),
  accept: (alarm) => alarmAction("accept", alarm),
  reject: (alarm) => alarmAction("reject", alarm),
};

// -- sign-in state -----------------------------------------------------------------------------

function resetBed() {
  state.infusion = null;
  state.vitals = {};
  state.alarms = new Map();
  state.audible = new Map();
  state.pumps = new Map();
  state.devices = {};
  state.audio = { paused_until: null, paused_by: null, paused_priority: null };
}

function startSession(user) {
  state.user = user;
  showSignedIn(user, "bed");
  link.start();
  keepScreenOn();
  scheduleRender();
}

// A bedside screen that goes dark shows nothing: hold a wake lock while a bed is watched (the
// browser grants it only in a secure context, i.e. over HTTPS or on localhost).
let wakeLock = null;
async function keepScreenOn() {
  if (!state.user || wakeLock || !("wakeLock" in navigator)) return;
  try {
    wakeLock = await navigator.wakeLock.request("screen");
    wakeLock.addEventListener("release", () => {
      wakeLock = null;
    });
  } catch {
    wakeLock = null; // not allowed here (plain HTTP on the LAN): the tablet's settings must do it
  }
}
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") keepScreenOn();
});

function signedOut(notice = "") {
  link.stop();
  state.user = null;
  lost = false;
  audibleWanted = false;
  closePinPrompt();
  resetSessions();
  resetBed();
  decideSound();
  $("lost").hidden = true;
  if (wakeLock) wakeLock.release().catch(() => {});
  showSignIn(notice);
}

async function checkSignedIn() {
  try {
    await api("GET", "/api/v1/auth/me");
  } catch (err) {
    if (err.status === 401 && state.user) {
      signedOut(SESSION_ENDED);
    }
  }
}

async function boot() {
  try {
    const user = await api("GET", "/api/v1/auth/me");
    if (user.must_change_pin) {
      // A sign-in that must change its PIN first: sign in again to give the old PIN.
      await api("POST", "/api/v1/auth/logout").catch(() => {});
      showSignIn();
      return;
    }
    startSession(user);
  } catch (err) {
    if (err.status === 401) {
      showSignIn();
    } else {
      showSignIn("The Vigil unit cannot be reached. Retrying…");
      setTimeout(boot, 2000);
    }
  }
}

// -- rendering and the clock -----------------------------------------------------------------

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(() => {
    renderQueued = false;
    render();
  }, 0);
}

// -- infusion session ----------------------------------------------------------------------------

function applyInfusion(session) {
  const before = state.infusion;
  state.infusion = session;
  if (!before || !session || before.id !== session.id || before.phase !== session.phase) {
    sessionChanged(); // the panel's details (baseline, gate, discharge check, notes) reload
  }
  const baseline = session && session.baseline
    ? { sys: session.baseline.sys, dia: session.baseline.dia, hr: session.baseline.hr }
    : null;
  state.baseline = baseline;
  trends.setBaseline(baseline);
}

function renderInfusion() {
  const s = state.infusion;
  const box = $("infusion");
  box.dataset.phase = s ? s.phase : "none";
  if (!s) {
    setText($("infusion-status"), "No infusion session");
    setText($("infusion-elapsed"), "--:--");
    setText($("infusion-planned"), "--:--");
    return;
  }
  const dose = `${s.dose_mg_per_kg} mg/kg · ${s.expected_rate_ml_h} mL/h`;
  setText($("infusion-status"), `${PHASES[s.phase] || s.phase} · ${s.patient} · ${s.drug} ${dose}`);
  const started = parseTime(s.started_at);
  const ended = parseTime(s.infusion_ended_at);
  const end = Number.isNaN(ended) ? serverNow() : ended;
  setText($("infusion-elapsed"), Number.isNaN(started) ? "--:--" : duration((end - started) / 1000));
  setText($("infusion-planned"), duration(s.duration_min * 60));
}

function render() {
  if (!state.user) return;
  setText($("bed"), state.bed || "—");
  renderInfusion();
  renderSessionPanel();
  renderVitals();
  renderAlarms(alarmActions);
  renderPumps();
  renderDevices();
  renderSound();
}

function renderDevices() {
  const box = $("devices");
  const seen = new Set();
  for (const d of Object.values(state.devices)) {
    seen.add(d.source);
    let item = box.querySelector(`[data-source="${CSS.escape(d.source)}"]`);
    if (!item) {
      item = document.createElement("span");
      item.dataset.source = d.source;
      box.append(item);
    }
    const availability = d.availability || "starting";
    item.className = `device device-${availability}`;
    const detail = d.detail && availability !== "connected" ? ` — ${d.detail}` : "";
    setText(item, `${d.source}${d.driver ? ` (${d.driver})` : ""}: ${availability}${detail}`);
  }
  for (const item of [...box.children]) if (!seen.has(item.dataset.source)) item.remove();
}

function renderConnection(silentMs) {
  const conn = $("connection");
  const overlay = $("lost");
  if (silentMs !== null) {
    conn.className = "conn conn-lost";
    setText(conn, "CONNECTION LOST");
    overlay.hidden = false;
    setText($("lost-since"), `No data for ${Math.round(silentMs / 1000)} s — reconnecting…`);
  } else if (link.lastHeard) {
    conn.className = "conn conn-live";
    setText(conn, "Live");
    overlay.hidden = true;
  }
}

function tick() {
  setText($("clock"), clockSeconds(serverNow()));
  if (!state.user) return;
  const silentMs = link.tick();
  const wasLost = lost;
  lost = silentMs !== null;
  renderConnection(silentMs);
  if (lost !== wasLost) document.body.dataset.link = lost ? "lost" : "live";
  if (audibleWanted && !lost) refreshAudible(); // an earlier refresh failed: ask again
  decideSound();
  render();
}

// -- wiring ------------------------------------------------------------------------------------

initSignIn({ onSignedIn: startSession, onSignOut: () => signedOut() });
initPinPrompt();
initSessions({ toast, signedOutCheck: () => checkSignedIn() });
annunciator.onChange = () => renderSound();
$("sound-enable").addEventListener("click", () => annunciator.enable());
// Any tap on the tablet also unlocks sound: the browser allows it only inside a user gesture.
for (const type of ["pointerdown", "keydown"]) {
  document.addEventListener(type, () => {
    if (annunciator.status === "blocked") annunciator.enable();
  }, true);
}
$("pause-audio").addEventListener("click", pauseAudio);
$("resume-audio").addEventListener("click", () => act("POST", "/api/v1/audio/resume"));

// Exposed for debugging from the console and for the browser tests.
window.__vigil = { state, trends, annunciator, RANK };

boot();
setInterval(tick, TICK_MS);
