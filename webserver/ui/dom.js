// DOM helpers and messages: a page banner for errors, a toast for successes.

import { ApiError } from "./errors.js";
import { ERROR_TITLES, TOAST_MS, TONES } from "./state.js";

export const $ = (id) => document.getElementById(id);

// Small DOM helpers.

/** Create an element with attributes (class, data-*, aria-*, ...) and children (nodes or text). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

/** A stable colour for a replica name (FNV-1a hash), the same in the badge and the panel. */
export function toneOf(name) {
  let hash = 0x811c9dc5;
  for (const char of name) {
    hash ^= char.codePointAt(0);
    hash = Math.imul(hash, 0x01000193);
  }
  return `tone-${(hash >>> 0) % TONES}`;
}

export function setTone(node, name) {
  for (const cls of [...node.classList]) if (cls.startsWith("tone-")) node.classList.remove(cls);
  if (name) node.classList.add(toneOf(name));
}

export function capitalize(text) {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}

export function formatTime(iso) {
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return iso;
  return moment.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function debounce(fn, delay) {
  let timer = 0;
  const debounced = (...args) => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => fn(...args), delay);
  };
  debounced.cancel = () => window.clearTimeout(timer);
  return debounced;
}

// Messages: a page banner for errors, a toast for successes.

/** Show ERROR in the banner TARGET (into its .banner-body, if it has one); MESSAGE overrides. */
export function showBanner(target, error, message = error.message) {
  const title = ERROR_TITLES[error.status] || `Error ${error.status}`;
  const meta = [
    error.status ? `HTTP ${error.status}` : "",
    error.code || "",
    error.requestId ? `request ${error.requestId}` : "",
  ].filter(Boolean);
  (target.querySelector(".banner-body") ?? target).replaceChildren(
    el("strong", { class: "banner-title" }, title),
    el("span", {}, capitalize(message)),
    el("span", { class: "banner-meta" }, meta.join(" · ")),
  );
  target.hidden = false;
}

export function hideBanner(target) {
  target.hidden = true;
}

/** Errors outside the dialogs go to the page banner; aborted requests are not errors. */
export function reportError(error, source = "") {
  if (error.name === "AbortError") return;
  if (!(error instanceof ApiError)) {
    console.error(error);
    error = new ApiError(0, "client_error", String(error.message || error));
  }
  showBanner($("banner"), error);
  $("banner").dataset.source = source; // e.g. "list": the next good list load clears it
}

let toastTimer = 0;
export function toast(message) {
  const node = $("toast");
  node.textContent = message;
  node.hidden = false;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => {
    node.hidden = true;
  }, TOAST_MS);
}
