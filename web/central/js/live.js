// The live socket (/api/v1/central/live), honest about whether it works.
//
// The station sends a heartbeat every second; hearing nothing for 5 s means the overview can no
// longer be trusted, and the page says so full screen. The page sends its own heartbeat every
// second (the station drops a page silent for 5 s). A closed socket is reopened with a short
// back-off; one refused because the sign-in ended is reported to `onSignedOut`.

import { api } from "./api.js";

export const LOST_AFTER_MS = 5000;
const BEAT_MS = 1000;
const CLOSED_GRACE_MS = 1500;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 2000;

export class LiveLink {
  constructor({ onMessage, onSignedOut }) {
    this.onMessage = onMessage;
    this.onSignedOut = onSignedOut;
    this.ws = null;
    this.wanted = false;
    this.retryMs = RETRY_MIN_MS;
    this.retryTimer = null;
    this.lastHeard = 0;
    this.closedSince = null;
    this.startedAt = 0;
    this.lastBeat = 0;
    this.everConnected = false;
  }

  start() {
    this.wanted = true;
    this.startedAt = Date.now();
    this.lastHeard = 0;
    this.closedSince = null;
    this.connect();
  }

  stop() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, "signed out");
  }

  connect() {
    if (!this.wanted) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/central/live`);
    let opened = false;
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.retryMs = RETRY_MIN_MS;
    };
    ws.onmessage = (msg) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      this.closedSince = null;
      this.everConnected = true;
      let data;
      try {
        data = JSON.parse(msg.data);
      } catch {
        return;
      }
      this.onMessage(data);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.closedSince === null) this.closedSince = Date.now();
      if (!this.wanted) return;
      if (!opened || event.code === 4401) this.checkSession();
      else this.retry();
    };
    ws.onerror = () => {};
  }

  async checkSession() {
    try {
      await api("GET", "/api/v1/auth/me");
    } catch (err) {
      if (err.status === 401) {
        this.stop();
        this.onSignedOut();
        return;
      }
    }
    this.retry();
  }

  retry() {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  /** Call often: sends the page's heartbeat; returns how long the link has been silent, or null. */
  tick(now = Date.now()) {
    if (!this.wanted) return null;
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN && now - this.lastBeat >= BEAT_MS) {
      this.lastBeat = now;
      ws.send(JSON.stringify({ type: "heartbeat" }));
    }
    const silentMs = now - (this.lastHeard || this.startedAt);
    const closedFor = this.closedSince === null ? 0 : now - this.closedSince;
    const lost = silentMs > LOST_AFTER_MS || (closedFor > CLOSED_GRACE_MS && this.everConnected);
    if (lost && ws && ws.readyState === WebSocket.OPEN) {
      this.ws = null; // open but silent: drop it and try a fresh connection
      this.closedSince = now;
      ws.close();
      this.retry();
    }
    return lost ? silentMs : null;
  }
}
