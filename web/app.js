// Vigil tablet view: live numerics, alarms and an honest connection state.
// Protocol: docs/api.md (/api/v1/live). Plain JavaScript, no build step, works offline.
"use strict";

const LOST_AFTER_MS = 5000;        // no message (heartbeats come every second) => connection lost
const CLIENT_HEARTBEAT_MS = 1000;  // the service drops a tablet that stays silent for 5 s
// A value older than this is shown as stale even if its device still looks connected.
const STALE_AFTER_MS = { nibp: 20 * 60 * 1000, default: 30 * 1000 };
const CONTINUOUS = ["hr", "spo2", "pulse_rate", "resp_rate", "etco2", "perfusion_index"];
const NIBP = ["nibp_sys", "nibp_dia", "nibp_mean"];

const state = {
  bed: "", vitals: {}, devices: {}, alarms: new Map(), pumps: new Map(), conditions: {},
  serverOffsetMs: 0, lastHeard: 0, connectedOnce: false, lostSince: null,
};
let socket = null;
let retryMs = 500;

function serverNow() { return Date.now() + state.serverOffsetMs; }
function parseTime(text) { return text ? Date.parse(text) : NaN; }

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/api/v1/live`);
  socket = ws;
  ws.onopen = () => { retryMs = 500; };
  ws.onmessage = (msg) => {
    if (ws !== socket) return;
    state.lastHeard = Date.now();
    let data;
    try { data = JSON.parse(msg.data); } catch { return; }
    handle(data);
  };
  ws.onclose = () => {
    if (ws !== socket) return;
    socket = null;
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 4000);
  };
  ws.onerror = () => { try { ws.close(); } catch { /* already closed */ } };
}

function handle(msg) {
  if (msg.server_time) state.serverOffsetMs = parseTime(msg.server_time) - Date.now();
  switch (msg.type) {
    case "snapshot": {
      state.connectedOnce = true;
      state.bed = msg.bed;
      state.vitals = msg.vitals || {};
      state.devices = {};
      for (const d of msg.devices || []) state.devices[d.source] = d;
      state.alarms = new Map((msg.alarms || []).map((a) => [a.key, a]));
      state.pumps = new Map((msg.pumps || []).map((p) => [`${p.source}/${p.channel}`, p]));
      state.conditions = msg.conditions || {};
      break;
    }
    case "vital": state.vitals[msg.metric] = msg; break;
    case "availability": {
      const d = state.devices[msg.source] || { source: msg.source };
      state.devices[msg.source] = { ...d, availability: msg.availability, detail: msg.detail, since: msg.at };
      break;
    }
    case "conditions": state.conditions[msg.source] = msg; break;
    case "pump": state.pumps.set(`${msg.source}/${msg.channel}`, msg); break;
    case "alarm":
      if (msg.state === "active") state.alarms.set(msg.key, msg);
      else state.alarms.delete(msg.key);
      break;
    default: break;  // heartbeat, service_fault (its alarm arrives as an alarm)
  }
  render();
}

function ageText(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ago` : `${Math.floor(m / 60)} h ${m % 60} min ago`;
}

function fmt(value, metric) {
  if (value === null || value === undefined) return "---";
  return metric === "perfusion_index" ? value.toFixed(2) : String(Math.round(value));
}

function deviceOk(source) {
  const d = state.devices[source];
  return !d || d.availability === "connected";
}

function renderTile(tile, reading, staleAfterMs) {
  const valueEl = tile.querySelector(".value");
  const ageEl = tile.querySelector(".age");
  if (!reading) {
    tile.classList.remove("stale", "questionable");
    ageEl.textContent = "";
    return;
  }
  const age = serverNow() - parseTime(reading.measured_at);
  const stale = !deviceOk(reading.source) || age > staleAfterMs;
  tile.classList.toggle("stale", stale);
  tile.classList.toggle("questionable", reading.validity === "questionable");
  ageEl.textContent = stale ? `no fresh data · ${ageText(age)}` : (reading.validity === "questionable" ? "questionable signal" : "");
  return valueEl;
}

function render() {
  document.getElementById("bed").textContent = state.bed || "—";
  for (const metric of CONTINUOUS) {
    const tile = document.querySelector(`[data-metric="${metric}"]`);
    if (!tile) continue;
    const reading = state.vitals[metric];
    renderTile(tile, reading, STALE_AFTER_MS.default);
    tile.querySelector(".value").textContent = reading ? fmt(reading.value, metric) : "---";
  }
  const nibpTile = document.querySelector('[data-metric="nibp"]');
  const [sys, dia, mean] = NIBP.map((m) => state.vitals[m]);
  renderTile(nibpTile, sys, STALE_AFTER_MS.nibp);
  nibpTile.querySelector(".value").textContent = sys ? `${fmt(sys.value)}/${fmt(dia && dia.value)}` : "---/---";
  nibpTile.querySelector(".mean").textContent = mean && mean.value !== null ? `(${fmt(mean.value)})` : "";
  if (sys && !nibpTile.classList.contains("stale")) {
    nibpTile.querySelector(".age").textContent = `measured ${ageText(serverNow() - parseTime(sys.measured_at))}`;
  }
  renderAlarms();
  renderDevices();
  renderPumps();
}

function renderAlarms() {
  const box = document.getElementById("alarms");
  const rank = { high: 3, medium: 2, low: 1 };
  const alarms = [...state.alarms.values()].sort((a, b) => rank[b.priority] - rank[a.priority] || a.started_at.localeCompare(b.started_at));
  box.replaceChildren();
  if (alarms.length === 0) {
    const none = document.createElement("div");
    none.className = "no-alarms"; none.id = "no-alarms"; none.textContent = "No active alarms";
    box.append(none);
    return;
  }
  for (const a of alarms) {
    const row = document.createElement("div");
    row.className = `alarm alarm-${a.priority}`;
    row.dataset.priority = a.priority;
    row.dataset.kind = a.kind;
    row.dataset.key = a.key;
    const marker = document.createElement("span"); marker.className = "marker"; marker.textContent = a.marker;
    const kind = document.createElement("span"); kind.className = "kind"; kind.textContent = `${a.priority} · ${a.kind}`;
    const text = document.createElement("span"); text.className = "text"; text.textContent = a.message;
    const since = document.createElement("span"); since.className = "since"; since.textContent = ageText(serverNow() - parseTime(a.started_at));
    row.dataset.signal = a.signal || "on";
    const status = document.createElement("span"); status.className = "signal";
    if (a.signal === "acknowledged") status.textContent = `acknowledged${a.acknowledged_by ? ` by ${a.acknowledged_by}` : ""}`;
    else if (a.signal === "latched") status.textContent = "ended — awaiting acknowledgement";
    if (a.escalated) status.textContent += `${status.textContent ? " · " : ""}escalated`;
    row.append(marker, kind, text, status, since);
    box.append(row);
  }
}

function renderDevices() {
  const box = document.getElementById("devices");
  box.replaceChildren();
  for (const d of Object.values(state.devices)) {
    const el = document.createElement("span");
    const availability = d.availability || "starting";
    el.className = `device device-${availability}`;
    el.dataset.source = d.source;
    el.textContent = `${d.source}${d.driver ? ` (${d.driver})` : ""}: ${availability}${d.detail && availability !== "connected" ? ` — ${d.detail}` : ""}`;
    box.append(el);
  }
}

function renderPumps() {
  const box = document.getElementById("pumps");
  box.replaceChildren();
  for (const p of state.pumps.values()) {
    const el = document.createElement("div");
    el.className = "pump";
    const rate = p.rate_ml_h === null ? "---" : p.rate_ml_h.toFixed(1);
    const vi = p.volume_infused_ml === null ? "---" : p.volume_infused_ml.toFixed(1);
    const vtbi = p.vtbi_ml === null ? "---" : p.vtbi_ml.toFixed(1);
    el.textContent = `Pump ${p.channel || p.source}: ${p.state.toUpperCase()} · ${rate} mL/h · ${vi} / ${vtbi} mL${p.drug ? ` · ${p.drug}` : ""}`;
    box.append(el);
  }
}

function tick() {
  const now = Date.now();
  document.getElementById("clock").textContent = new Date(serverNow()).toLocaleTimeString();
  const silentMs = now - (state.lastHeard || pageStart);
  const lost = silentMs > LOST_AFTER_MS;
  const conn = document.getElementById("connection");
  const overlay = document.getElementById("lost");
  if (lost) {
    if (state.lostSince === null) state.lostSince = now - silentMs;
    conn.className = "conn conn-lost";
    conn.textContent = "CONNECTION LOST";
    overlay.hidden = false;
    document.getElementById("lost-since").textContent = `No data for ${Math.round(silentMs / 1000)} s — reconnecting…`;
    if (socket && socket.readyState === WebSocket.OPEN) socket.close();  // force a fresh connection
  } else if (state.lastHeard) {
    state.lostSince = null;
    conn.className = "conn conn-live";
    conn.textContent = "Live";
    overlay.hidden = true;
  }
  if (socket && socket.readyState === WebSocket.OPEN && now - lastBeat >= CLIENT_HEARTBEAT_MS) {
    lastBeat = now;
    socket.send(JSON.stringify({ type: "heartbeat" }));
  }
  render();
}

const pageStart = Date.now();
let lastBeat = 0;
connect();
setInterval(tick, 250);
