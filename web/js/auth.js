// The sign-in screen and the user menu. Credentials go to POST /api/v1/auth/login, which sets
// an HttpOnly cookie; the page never sees or stores the session token itself.

import { api } from "./api.js";
import { setText } from "./format.js";

function $(id) {
  return document.getElementById(id);
}

let changing = null; // {user, pin} while a too-short PIN is being replaced (memory only)

export function showSignIn(notice = "") {
  document.body.dataset.view = "signin";
  changing = null;
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signin-form").hidden = false;
  $("pinchange-form").hidden = true;
  setText($("signin-notice"), notice);
  $("signin-notice").hidden = !notice;
  $("signin-pin").value = "";
  $("signin-submit").disabled = false;
  $("signin-user").focus();
}

export function showBed(user) {
  document.body.dataset.view = "bed";
  $("signin").hidden = true;
  $("app").hidden = false;
  setText($("signin-error"), "");
  setText($("user-name"), user.display_name || user.username);
  setText($("user-role"), user.role);
  setText($("user-menu-who"), `${user.display_name || user.username} (${user.username}, ${user.role})`);
  $("user-menu").hidden = true;
}

function showPinChange(user, pin) {
  changing = { user, pin };
  $("signin-form").hidden = true;
  $("pinchange-form").hidden = false;
  setText(
    $("pinchange-notice"),
    `${user.display_name || user.username}: a ${user.role}'s PIN is now longer. Choose a new one to go on.`,
  );
  setText($("pinchange-error"), "");
  $("pinchange-new").focus();
}

/** Wire the sign-in form and the user menu; `onSignedIn(user)` and `onSignOut()` do the rest. */
export function initAuth({ onSignedIn, onSignOut }) {
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = $("signin-user").value.trim();
    const pin = $("signin-pin").value;
    if (!username || !pin) {
      setText($("signin-error"), "Enter your user name and PIN.");
      return;
    }
    $("signin-submit").disabled = true;
    setText($("signin-error"), "");
    try {
      const user = await api("POST", "/api/v1/auth/login", { username, pin });
      $("signin-pin").value = "";
      if (user.must_change_pin) {
        showPinChange(user, pin);
        return;
      }
      onSignedIn(user);
    } catch (err) {
      // Verbatim: the service words it (and says how long to wait after wrong PINs).
      setText($("signin-error"), err.detail);
      $("signin-pin").value = "";
      $("signin-pin").focus();
    } finally {
      $("signin-submit").disabled = false;
    }
  });

  $("pinchange-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!changing) return;
    const fresh = $("pinchange-new").value;
    if (fresh !== $("pinchange-again").value) {
      setText($("pinchange-error"), "The two PINs differ.");
      return;
    }
    $("pinchange-submit").disabled = true;
    try {
      const user = await api("POST", "/api/v1/auth/pin", { pin: changing.pin, new_pin: fresh });
      changing = null;
      $("pinchange-form").hidden = true;
      $("signin-form").hidden = false;
      onSignedIn(user);
    } catch (err) {
      setText($("pinchange-error"), err.detail);
    } finally {
      $("pinchange-new").value = "";
      $("pinchange-again").value = "";
      $("pinchange-submit").disabled = false;
    }
  });

  const menu = $("user-menu");
  $("user-button").addEventListener("click", (event) => {
    event.stopPropagation();
    menu.hidden = !menu.hidden;
    $("user-button").setAttribute("aria-expanded", String(!menu.hidden));
  });
  document.addEventListener("click", (event) => {
    if (!menu.hidden && !menu.contains(event.target)) menu.hidden = true;
  });
  $("sign-out").addEventListener("click", async () => {
    menu.hidden = true;
    try {
      await api("POST", "/api/v1/auth/logout");
    } catch {
      /* signed out locally all the same */
    }
    onSignOut();
  });
}
