// The central station's overview: sign-in, one tile per bed kept current by the live socket,
// the station's own faults, the bed drill-down (/#bed=<name>), and CONNECTION LOST when the
// socket has been silent for 5 s.

import { api, setUnreachableText } from "/shared/api.js";
import { byId as $, setText, showToast } from "/shared/dom.js";
import { clockTime, sinceText } from "/shared/format.js";
import { LiveLink } from "/shared/live.js";
import { initSignIn, showSignedIn, showSignIn as showSignInScreen } from "/shared/signin.js";
import { Detail } from "./detail.js";
import { renderTile } from "./tiles.js";

setUnreachableText("the central station cannot be reached");

const state = {
  user: null,
  beds: new Map(), // name -> the station's bed JSON
  station: null,
  offsetMs: 0, // server time - local time
};

function serverNow() {
  return Date.now() + state.offsetMs;
}

function syncClock(serverTime) {
  const t = Date.parse(serverTime);
  if (Number.isFinite(t)) state.offsetMs = t - Date.now();
}

function toast(text, kind = "info") {
  showToast(text, kind, 6000);
}

async function acknowledge(bed, alarmId, button) {
  if (button) button.disabled = true;
  try {
    await api("POST", `/api/v1/beds/${encodeURIComponent(bed)}/alarms/${encodeURIComponent(alarmId)}/acknowledge`);
    // The live socket shows "acknowledging…" and then the bed's answer.
  } catch (err) {
    toast(`${bed}: acknowledge refused: ${err.detail}`, "error");
  } finally {
    if (button) button.disabled = false;
  }
}

const ctx = {
  now: serverNow,
  since: sinceText,
  canAck: false,
  acknowledge,
  open: (name) => {
    location.hash = `bed=${encodeURIComponent(name)}`;
  },
  toast,
};

const detail = new Detail({ ctx, getBed: (name) => state.beds.get(name) });

// -- views -------------------------------------------------------------------------------------

function renderBed(bed) {
  renderTile($("tiles"), bed, ctx);
  if (detail.name === bed.bed) detail.render();
}

function renderAll() {
  const container = $("tiles");
  for (const bed of state.beds.values()) renderTile(container, bed, ctx);
  $("no-beds").hidden = state.beds.size > 0;
  renderCounts();
  detail.render();
}

function renderCounts() {
  const beds = [...state.beds.values()];
  const count = (status) => beds.filter((b) => b.status === status).length;
  const alarms = beds.filter((b) => b.status === "online" && b.top_alarm && ["on", "latched"].includes(b.top_alarm.signal)).length;
  const parts = [`<span class="c-online">${count("online")} online</span>`];
  if (count("stale")) parts.push(`<span class="c-stale">${count("stale")} stale</span>`);
  if (count("offline")) parts.push(`<span class="c-offline">${count("offline")} offline</span>`);
  if (alarms) parts.push(`<span class="c-alarm">${alarms} alarming</span>`);
  const html = parts.join("");
  if ($("counts").innerHTML !== html) $("counts").innerHTML = html;
}

function renderStation() {
  const s = state.station;
  const box = $("station-faults");
  const faults = [];
  if (s && !s.broker.connected) {
    faults.push(["high", "CENTRAL BROKER UNREACHABLE — bed data is not arriving here", s.broker.detail]);
  }
  if (s && !s.storage.ok) {
    faults.push(["medium", "Central database failing — records are kept and retried", `${s.storage.queued} queued: ${s.storage.last_error}`]);
  }
  for (const n of (s && s.notifiers) || []) {
    if (!n.ok) faults.push(["medium", `Escalation ${n.name} failing`, n.last_error]);
  }
  const key = JSON.stringify(faults);
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren(
    ...faults.map(([level, text, detailText]) => {
      const div = document.createElement("div");
      div.className = `fault fault-${level}`;
      div.dataset.fault = text;
      div.textContent = text;
      const small = document.createElement("span");
      small.className = "fault-detail";
      small.textContent = detailText || "";
      div.append(small);
      return div;
    }),
  );
}

function route() {
  const match = /^#bed=(.+)$/.exec(location.hash);
  if (match && state.user) {
    const name = decodeURIComponent(match[1]);
    document.body.dataset.page = "detail";
    $("detail").hidden = false;
    if (detail.name !== name) detail.open(name);
  } else {
    document.body.dataset.page = "overview";
    $("detail").hidden = true;
    detail.close();
  }
}

// -- the live socket ---------------------------------------------------------------------------

function onMessage(message) {
  switch (message.type) {
    case "snapshot":
      syncClock(message.server_time);
      state.station = message.station;
      state.beds = new Map(message.beds.map((b) => [b.bed, b]));
      $("tiles").replaceChildren();
      renderAll();
      renderStation();
      break;
    case "bed":
      state.beds.set(message.bed.bed, message.bed);
      renderBed(message.bed);
      $("no-beds").hidden = true;
      renderCounts();
      break;
    case "station":
      state.station = message.station;
      renderStation();
      break;
    case "heartbeat":
      syncClock(message.server_time);
      break;
    default:
      break;
  }
}

const link = new LiveLink({
  path: "/api/v1/central/live",
  onMessage,
  onSignedOut: () => showSignIn("Your sign-in has ended. Please sign in again."),
});

function tick() {
  const silent = link.tick();
  const lost = silent !== null && state.user !== null;
  $("lost").hidden = !lost;
  if (lost) setText($("lost-since"), `No data for ${sinceText(silent)}`);
  const conn = $("connection");
  const wanted = lost ? "conn conn-lost" : link.everConnected ? "conn conn-live" : "conn conn-connecting";
  if (conn.className !== wanted) conn.className = wanted;
  setText(conn, lost ? "Connection lost" : link.everConnected ? "Live" : "Connecting…");
  setText($("clock"), clockTime(serverNow(), true));
}

setInterval(tick, 250);
setInterval(() => {
  if (state.user) renderAll(); // ages, elapsed times, "last heard"
}, 1000);

// -- sign-in -----------------------------------------------------------------------------------

function showSignIn(notice = "") {
  state.user = null;
  link.stop();
  $("lost").hidden = true;
  showSignInScreen(notice);
}

function showOverview(user) {
  state.user = user;
  ctx.canAck = user.role === "nurse" || user.role === "admin";
  showSignedIn(user, "overview");
  link.start();
  route();
}

initSignIn({ onSignedIn: showOverview, onSignOut: () => showSignIn() });

$("detail-back").addEventListener("click", () => {
  location.hash = "";
});
window.addEventListener("hashchange", route);

(async () => {
  let clinic = "";
  try {
    clinic = (await api("GET", "/api/v1/health")).clinic;
  } catch {
    /* shown once signed in */
  }
  setText($("clinic"), clinic);
  document.title = clinic ? `Vigil central · ${clinic}` : document.title;
  try {
    showOverview(await api("GET", "/api/v1/auth/me"));
  } catch {
    showSignIn();
  }
})();
