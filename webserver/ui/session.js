// Signing in and out: the sign-in dialog, the account in the header, and what the role allows
// (a viewer's page has no add, edit or delete controls: body[data-role] in styles/page.css).

import { api, onSignedOut, revoke } from "./api.js";
import { $, hideBanner, showBanner } from "./dom.js";
import { state } from "./state.js";

let afterSignIn = () => {};
// Who is signed in, kept for this tab: a reload then makes no extra call before the list (the
// replica badge keeps alternating with the reloads). The server stays the judge: a 401 from any
// call forgets it and asks to sign in again.
const STORED = "vdt2023.session";

/** Show who is signed in (or nobody), and the controls their role allows. */
function renderAccount() {
  const user = state.user;
  $("account").hidden = !user;
  document.body.dataset.role = user ? user.role : "";
  if (!user) return;
  $("account-name").textContent = user.username;
  $("account-role").textContent = user.role;
}

function signedIn(session) {
  state.user = session.user;
  state.csrfToken = session.csrf_token || "";
  sessionStorage.setItem(STORED, JSON.stringify(session));
  renderAccount();
}

/** Who is signed in (this tab's record, else the server's answer); true if somebody is. */
export async function loadSession() {
  const stored = sessionStorage.getItem(STORED);
  if (stored) {
    signedIn(JSON.parse(stored));
    return true;
  }
  try {
    signedIn(await api("GET", "/api/session"));
    return true;
  } catch (error) {
    if (error.status !== 401) throw error;
    return false;
  }
}

/** Open the sign-in dialog on top of whatever is open; ONSUCCESS runs once signed in. */
export function showSignIn(onSuccess = () => {}) {
  afterSignIn = onSuccess;
  state.user = null;
  state.csrfToken = "";
  sessionStorage.removeItem(STORED);
  renderAccount();
  const dialog = $("signin-dialog");
  if (!dialog.open) dialog.showModal();
  $("signin-username").focus();
}

async function submitSignIn(event) {
  event.preventDefault();
  const form = $("signin-form");
  const body = { username: form.elements.username.value, password: form.elements.password.value };
  $("signin-submit").disabled = true;
  try {
    signedIn(await api("POST", "/api/session", { body }));
    form.elements.password.value = "";
    hideBanner($("signin-banner"));
    $("signin-dialog").close();
    afterSignIn();
  } catch (error) {
    const message =
      error.status === 429
        ? "Too many failed sign-ins: wait a moment, then try again."
        : error.status === 401
          ? "The username or password is wrong."
          : error.message;
    showBanner($("signin-banner"), error, message);
  } finally {
    $("signin-submit").disabled = false;
  }
}

async function signOut() {
  try {
    await revoke("/api/session");
  } finally {
    for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
    showSignIn(afterSignIn);
  }
}

/** Wire the dialog and the header; an API call answering 401 brings the dialog back. */
export function wireSession(onSuccess) {
  afterSignIn = onSuccess;
  $("signin-form").addEventListener("submit", submitSignIn);
  // The dialog cannot be dismissed without signing in (Escape would leave an empty page).
  $("signin-dialog").addEventListener("cancel", (event) => event.preventDefault());
  $("sign-out").addEventListener("click", signOut);
  onSignedOut(() => showSignIn(afterSignIn));
}
