// The nurse's PIN prompt: a nurse walking up to the sitter's tablet confirms an alarm action
// with user name and PIN. The sitter stays signed in; the service records the nurse's name.
// Errors (wrong PIN, locked, not a nurse) are shown exactly as the service words them.

import { setText } from "../shared/dom.js";

const IDLE_CLOSE_MS = 60_000; // a forgotten prompt does not stay over the bed view

let active = null; // {submit, timer}

function $(id) {
  return document.getElementById(id);
}

export function promptOpen() {
  return active !== null;
}

export function closePinPrompt() {
  if (!active) return;
  clearTimeout(active.timer);
  active = null;
  $("pin-pin").value = ""; // a PIN is never kept on screen
  setText($("pin-error"), "");
  $("pin-prompt").hidden = true;
}

function touch() {
  if (!active) return;
  clearTimeout(active.timer);
  active.timer = setTimeout(closePinPrompt, IDLE_CLOSE_MS);
}

/**
 * Ask for a nurse's credentials. `submit({username, pin})` returns a promise; when it rejects
 * with an error that has `detail`, the prompt stays open and shows it.
 */
export function openPinPrompt({ title, detail, submit }) {
  closePinPrompt();
  active = { submit, timer: null };
  setText($("pin-title"), title);
  setText($("pin-detail"), detail || "");
  $("pin-user").value = "";
  $("pin-pin").value = "";
  $("pin-confirm").disabled = false;
  $("pin-prompt").hidden = false;
  $("pin-user").focus();
  touch();
}

export function initPinPrompt() {
  $("pin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!active) return;
    touch();
    const mine = active;
    const credentials = { username: $("pin-user").value.trim(), pin: $("pin-pin").value };
    if (!credentials.username || !credentials.pin) {
      setText($("pin-error"), "Enter the nurse's user name and PIN.");
      return;
    }
    $("pin-confirm").disabled = true;
    setText($("pin-error"), "");
    try {
      await mine.submit(credentials);
      if (active === mine) closePinPrompt();
    } catch (err) {
      if (active !== mine) return;
      setText($("pin-error"), err.detail || String(err.message || err));
      $("pin-pin").value = "";
      $("pin-pin").focus();
    } finally {
      $("pin-confirm").disabled = false;
    }
  });
  $("pin-cancel").addEventListener("click", closePinPrompt);
  $("pin-prompt").addEventListener("input", touch);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && active) closePinPrompt();
  });
}
