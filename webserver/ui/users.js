// The Users panel (admins: every user with their role and access, and each user's API tokens,
// revocable) and "My API tokens" (anyone signed in: their own). The lists hold names and
// times only: a token's secret is shown once, when it is made, and never listed.

import { api, revoke } from "./api.js";
import { $, el, formatTime, hideBanner, showBanner, toast } from "./dom.js";
import { closeDialog, openDialog } from "./list.js";
import { state, USERS_PER_PAGE } from "./state.js";

const usersPanel = { page: 1, seq: 0 };

function timeOf(iso) {
  return el("time", { datetime: iso, title: iso }, formatTime(iso));
}

/** The table of TOKENS, each with a Revoke button; OWNER names whose they are (null: yours). */
function tokenTable(tokens, owner) {
  if (!tokens.length) return el("p", { class: "muted token-empty" }, "No API tokens.");
  const whose = owner ? `${owner}'s` : "your";
  const rows = tokens.map((token) =>
    el(
      "tr",
      { "data-token-id": token.id },
      el("th", { scope: "row", class: "token-name" }, token.name),
      el("td", {}, timeOf(token.created_at)),
      el("td", {}, timeOf(token.expires_at)),
      el(
        "td",
        { class: "token-actions" },
        el(
          "button",
          {
            type: "button",
            class: "button button-small button-danger-quiet",
            "data-action": "revoke",
            "aria-label": `Revoke ${whose} token ${token.name}`,
          },
          "Revoke",
        ),
      ),
    ),
  );
  const head = ["Name", "Created", "Expires"].map((label) => el("th", { scope: "col" }, label));
  const actions = el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, "Actions"));
  const caption = owner ? `API tokens of ${owner}` : "Your API tokens";
  return el(
    "table",
    { class: "token-table" },
    el("caption", { class: "visually-hidden" }, caption),
    el("thead", {}, el("tr", {}, ...head, actions)),
    el("tbody", {}, rows),
  );
}

/** Load the tokens SLOT lists (its data-tokens-path) into it; errors go to BANNER. */
async function loadTokens(slot, banner) {
  const seq = String(Number(slot.dataset.seq || 0) + 1);
  slot.dataset.seq = seq;
  slot.setAttribute("aria-busy", "true");
  try {
    const { items } = await api("GET", slot.dataset.tokensPath);
    if (slot.dataset.seq !== seq) return; // a newer load or a closed panel replaced this one
    slot.replaceChildren(tokenTable(items, slot.dataset.owner || null));
  } catch (error) {
    if (slot.dataset.seq === seq) showBanner(banner, error);
  } finally {
    if (slot.dataset.seq === seq) slot.removeAttribute("aria-busy");
  }
}

/** A click on a Revoke button in a tokens slot: revoke that token, then list what remains. */
async function revokeClicked(event, banner) {
  const button = event.target.closest('button[data-action="revoke"]');
  const row = button?.closest("tr[data-token-id]");
  const slot = button?.closest("[data-tokens-path]");
  if (!row || !slot || button.disabled) return;
  const name = row.querySelector(".token-name").textContent;
  button.disabled = true;
  hideBanner(banner);
  try {
    await revoke(`${slot.dataset.tokensPath}/${encodeURIComponent(row.dataset.tokenId)}`);
    toast(`Revoked the token ${name}.`);
  } catch (error) {
    // 404 token_not_found: it ended meanwhile (revoked elsewhere); the list below shows that.
    if (error.status !== 404) {
      showBanner(banner, error);
      button.disabled = false;
      return;
    }
  }
  await loadTokens(slot, banner);
  // The button that had the focus is gone: keep it in the panel, for keyboard users.
  const next =
    slot.querySelector('button[data-action="revoke"]') ??
    slot.closest("li")?.querySelector('button[data-action="tokens"]') ??
    slot.closest("dialog").querySelector("[data-close]");
  next.focus();
}

/** One user of the Users panel: name, role, access, and a button that shows their tokens. */
function userEntry(user, index) {
  const slotId = `user-tokens-${index}`;
  return el(
    "li",
    { class: "user-entry", "data-username": user.username },
    el(
      "div",
      { class: "user-head" },
      el("span", { class: "user-name" }, user.username),
      el("span", { class: "pill" }, user.role),
      user.disabled ? el("span", { class: "pill pill-disabled" }, "disabled") : null,
      el("span", { class: "spacer" }),
      el(
        "button",
        {
          type: "button",
          class: "button button-small button-quiet",
          "data-action": "tokens",
          "aria-expanded": "false",
          "aria-controls": slotId,
          "aria-label": `API tokens of ${user.username}`,
        },
        "Tokens",
      ),
    ),
    el("div", {
      id: slotId,
      class: "token-slot",
      "data-tokens-path": `/api/users/${encodeURIComponent(user.username)}/tokens`,
      "data-owner": user.username,
      hidden: true,
    }),
  );
}

/** Load the Users panel's page of users. */
export async function loadUsers() {
  const seq = ++usersPanel.seq;
  const list = $("users-list");
  list.setAttribute("aria-busy", "true");
  try {
    const query = new URLSearchParams({
      page: String(usersPanel.page),
      per_page: String(USERS_PER_PAGE),
    });
    const page = await api("GET", `/api/users?${query}`);
    if (seq !== usersPanel.seq) return;
    if (page.pages > 0 && usersPanel.page > page.pages) {
      usersPanel.page = page.pages; // users went away since the last page was shown
      await loadUsers();
      return;
    }
    hideBanner($("users-banner"));
    list.replaceChildren(...page.items.map(userEntry));
    $("users-summary").textContent = `${page.total} ${page.total === 1 ? "user" : "users"}`;
    const pages = Math.max(page.pages, 1);
    $("users-page-info").textContent = `Page ${Math.min(page.page, pages)} of ${pages}`;
    $("users-prev").disabled = page.page <= 1;
    $("users-next").disabled = page.page >= page.pages;
  } catch (error) {
    if (seq === usersPanel.seq) showBanner($("users-banner"), error);
  } finally {
    if (seq === usersPanel.seq) list.removeAttribute("aria-busy");
  }
}

function openUsers() {
  if (state.user?.role !== "admin") return;
  usersPanel.page = 1;
  openDialog($("users-dialog"));
  loadUsers();
}

function openMyTokens() {
  if (!state.user) return;
  openDialog($("tokens-dialog"));
  loadTokens($("my-tokens"), $("tokens-banner"));
}

/** Show or hide one user's tokens (read afresh each time they are shown). */
function toggleTokens(button) {
  const slot = $(button.getAttribute("aria-controls"));
  const show = button.getAttribute("aria-expanded") !== "true";
  button.setAttribute("aria-expanded", String(show));
  slot.hidden = !show;
  if (show) loadTokens(slot, $("users-banner"));
}

/** Forget what a closed panel showed, so that nothing of it lingers for the next user. */
function clearPanel(dialog) {
  if (dialog.id === "users-dialog") {
    usersPanel.seq += 1; // an answer still on its way is dropped
    $("users-list").replaceChildren();
    $("users-summary").textContent = "";
    $("users-page-info").textContent = "";
    hideBanner($("users-banner"));
  } else {
    const slot = $("my-tokens");
    slot.dataset.seq = String(Number(slot.dataset.seq || 0) + 1);
    slot.replaceChildren();
    hideBanner($("tokens-banner"));
  }
}

/** After a sign-in (maybe as someone else): the open panels show the new user's view. */
export function accountChanged() {
  if ($("users-dialog").open) {
    if (state.user?.role === "admin") loadUsers();
    else closeDialog($("users-dialog"));
  }
  if ($("tokens-dialog").open) loadTokens($("my-tokens"), $("tokens-banner"));
}

export function wireUsers() {
  $("users-button").addEventListener("click", openUsers);
  $("tokens-button").addEventListener("click", openMyTokens);
  $("users-prev").addEventListener("click", () => {
    usersPanel.page = Math.max(1, usersPanel.page - 1);
    loadUsers();
  });
  $("users-next").addEventListener("click", () => {
    usersPanel.page += 1;
    loadUsers();
  });
  $("users-list").addEventListener("click", (event) => {
    const toggle = event.target.closest('button[data-action="tokens"]');
    if (toggle) toggleTokens(toggle);
    else revokeClicked(event, $("users-banner"));
  });
  $("my-tokens").addEventListener("click", (event) => revokeClicked(event, $("tokens-banner")));
  for (const dialog of [$("users-dialog"), $("tokens-dialog")]) {
    dialog.addEventListener("close", () => clearPanel(dialog));
  }
}
