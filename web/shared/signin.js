// Sign-in, PIN change and sign-out, shared by the tablet and the central overview. Credentials
// go to POST /api/v1/auth/login, which sets an HttpOnly cookie; the page never sees or stores
// the session token itself. Each page's HTML has the sign-in section (#signin, #signin-form,
// #signin-user, #signin-pin, #signin-error, #signin-notice, #signin-submit), the app (#app,
// #user-name, #user-role, #sign-out); the PIN-change form (#pinchange-…) and the user menu
// (#user-button, #user-menu, #user-menu-who) are used when the page has them (the tablet does).

import { api } from "./api.js";
import { byId as $, setText } from "./dom.js";

let changing = null; // {user, pin} while a too-short PIN is being replaced (memory only)

/** The sign-in screen, with an optional notice ("Your sign-in has ended…"). */
export function showSignIn(notice = "") {
  document.body.dataset.view = "signin";
  changing = null;
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signin-form").hidden = false;
  if ($("pinchange-form")) $("pinchange-form").hidden = true;
  setText($("signin-notice"), notice);
  $("signin-notice").hidden = !notice;
  $("signin-pin").value = "";
  $("signin-submit").disabled = false;
  $("signin-user").focus();
}

/** The page itself (`view`: the body's data-view, e.g. "bed" or "overview") for `user`. */
export function showSignedIn(user, view) {
  document.body.dataset.view = view;
  $("signin").hidden = true;
  $("app").hidden = false;
  setText($("signin-error"), "");
  setText($("user-name"), user.display_name || user.username);
  setText($("user-role"), user.role);
  if ($("user-menu-who")) {
    setText($("user-menu-who"), `${user.display_name || user.username} (${user.username}, ${user.role})`);
  }
  if ($("user-menu")) $("user-menu").hidden = true;
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

/** Wire the forms, the user menu and the sign-out button; `onSignedIn(user)` and `onSignOut()`
 * do the rest. */
export function initSignIn({ onSignedIn, onSignOut }) {
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
      if (user.must_change_pin && $("pinchange-form")) {
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

  if ($("pinchange-form")) {
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
  }

  const menu = $("user-menu");
  if (menu && $("user-button")) {
    $("user-button").addEventListener("click", (event) => {
      event.stopPropagation();
      menu.hidden = !menu.hidden;
      $("user-button").setAttribute("aria-expanded", String(!menu.hidden));
    });
    document.addEventListener("click", (event) => {
      if (!menu.hidden && !menu.contains(event.target)) menu.hidden = true;
    });
  }
  $("sign-out").addEventListener("click", async () => {
    if (menu) menu.hidden = true;
    try {
      await api("POST", "/api/v1/auth/logout");
    } catch {
      /* signed out here all the same */
    }
    onSignOut();
  });
}
