// A live socket with an honest idea of whether it is working: the tablet's /api/v1/live and the
// central overview's /api/v1/central/live follow the same rules (docs/api.md, docs/central.md).
//
// The service sends a heartbeat every second; hearing nothing for 5 s means the data on screen
// can no longer be trusted (the page then shows CONNECTION LOST). The page sends its own heartbeat
// every second, since the service drops a client that stays silent for 5 s (so its count of
// listeners stays true). A socket that closes is reopened with a short back-off; one the service
// refuses because the sign-in is over (refused before it opened, or closed with 4401) is reported
// to `onSignedOut` (the page shows the sign-in screen).

import { api } from "./api.js";

export const LOST_AFTER_MS = 5000;
const CLIENT_HEARTBEAT_MS = 1000;
// A closed socket that did not come back within this time is shown as lost at once: waiting
// the full 5 s of silence when we already know the link is down would only hide it.
const CLOSED_GRACE_MS = 1500;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 2000; // a restarted service is found again within 2 s
const SIGN_IN_ENDED = 4401; // the close code of a socket whose sign-in ended

export class LiveLink {
  /** `path`: the socket's path on this origin, e.g. "/api/v1/live". */
  constructor({ path, onMessage, onSignedOut }) {
    this.path = path;
    this.onMessage = onMessage;
    this.onSignedOut = onSignedOut;
    this.ws = null;
    this.wanted = false;
    this.retryMs = RETRY_MIN_MS;
    this.retryTimer = null;
    this.lastHeard = 0;      // Date.now() of the last message
    this.closedSince = null; // Date.now() when the socket was last seen closed
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

  /** Sign-out: close without reconnecting and without claiming the link is lost. */
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
    const ws = new WebSocket(`${scheme}://${location.host}${this.path}`);
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
        return; // one broken frame never stops the page
      }
      this.onMessage(data);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.closedSince === null) this.closedSince = Date.now();
      if (!this.wanted) return;
      if (!opened || event.code === SIGN_IN_ENDED) {
        // Refused before it opened: the service is down, or it no longer knows our sign-in.
        // The handshake does not say which (browsers hide the HTTP status), so ask.
        this.checkSession();
      } else {
        this.retry();
      }
    };
    ws.onerror = () => {
      /* onclose follows and decides */
    };
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
      // status 0: unreachable; anything else: retry and keep showing the link as lost
    }
    this.retry();
  }

  retry() {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  /**
   * Called by the page's tick (a few times a second): sends the page's heartbeat and returns
   * how long the link has been silent, or null while it is fine.
   */
  tick(now = Date.now()) {
    if (!this.wanted) return null;
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN && now - this.lastBeat >= CLIENT_HEARTBEAT_MS) {
      this.lastBeat = now;
      ws.send(JSON.stringify({ type: "heartbeat" }));
    }
    const silentMs = now - (this.lastHeard || this.startedAt);
    const closedFor = this.closedSince === null ? 0 : now - this.closedSince;
    const lost = silentMs > LOST_AFTER_MS || (closedFor > CLOSED_GRACE_MS && this.everConnected);
    if (lost && ws && ws.readyState === WebSocket.OPEN) {
      // Open but silent (a half-dead link): drop it without waiting for a closing handshake
      // that may never come, and try a fresh connection.
      this.ws = null;
      this.closedSince = now;
      ws.close();
      this.retry();
    }
    return lost ? silentMs : null;
  }
}
