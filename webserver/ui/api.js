// The API client: every call goes through here, so every call updates the "served by" badge
// and tells the views that show recent calls (onServedBy).

import { $, setTone } from "./dom.js";
import { ApiError } from "./errors.js";
import { MAX_RETRY_AFTER_S, RECENT_CALLS, state } from "./state.js";

const servedByListeners = [];
const signedOutListeners = [];

/** Call LISTENER when an API call answers 401: the session has ended (session.js). */
export function onSignedOut(listener) {
  signedOutListeners.push(listener);
}

/** Call LISTENER after every answer, once the badge and the recent calls are updated. */
export function onServedBy(listener) {
  servedByListeners.push(listener);
}

export async function api(method, path, { body, signal, headers = {} } = {}) {
  const init = {
    method,
    headers: { Accept: "application/json", ...headers },
    cache: "no-store",
    signal,
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  // Writes carry the session's CSRF token (the cookie alone is not enough).
  if (!["GET", "HEAD"].includes(method) && state.csrfToken) {
    init.headers["X-CSRF-Token"] = state.csrfToken;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network_error", "The server cannot be reached; check the connection.");
  }
  noteServedBy(method, path, response);
  let data = null;
  const text = response.status === 204 ? "" : await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null; // e.g. an HTML error page from something in between
    }
  }
  if (response.status === 401 && path !== "/api/session") {
    for (const listener of signedOutListeners) listener();
  }
  if (!response.ok) {
    const fallback = `${response.status} ${response.statusText}`.trim();
    throw new ApiError(
      response.status,
      data?.error || "http_error",
      data?.message || fallback,
      data?.fields,
      response.headers.get("X-Request-ID"),
      retryAfterSeconds(response.headers.get("Retry-After")),
    );
  }
  return data;
}

/** Retry-After in whole seconds (the API sends delay-seconds, never a date); 0 if absent. */
function retryAfterSeconds(header) {
  const seconds = Number.parseInt(header || "", 10);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
}

/** DELETE PATH, which ends a credential (a session or a token); once more after Retry-After if
 * the replica was waiting out another revocation (429 revocation_busy), so that it really ends. */
export async function revoke(path) {
  try {
    return await api("DELETE", path);
  } catch (error) {
    if (error.code !== "revocation_busy") throw error;
    const seconds = Math.min(error.retryAfter || 1, MAX_RETRY_AFTER_S);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    return api("DELETE", path);
  }
}

/** Show which replica (X-Served-By) and which upstream address (X-Upstream-Addr) answered. */
export function noteServedBy(method, path, response) {
  const name = response.headers.get("X-Served-By") || "";
  const addr = response.headers.get("X-Upstream-Addr") || "";
  state.lastServedName = name;
  // After a failover nginx lists every address it tried ("a:1, b:2"); the last one answered.
  if (name && addr) state.upstreamOf.set(name, addr.split(",").pop().trim());

  const badge = $("served-by");
  $("served-by-name").textContent = name || "nginx (no replica)";
  $("served-by-addr").textContent = addr || "not proxied";
  badge.dataset.replica = name;
  badge.dataset.upstream = addr;
  badge.title = `${method} ${path} answered ${response.status} by ${name || "nginx itself"}`;
  setTone(badge, name);
  badge.classList.remove("flash");
  void badge.offsetWidth; // restart the flash animation
  badge.classList.add("flash");

  state.recentCalls.unshift({
    method,
    path: path.replace(/^\/api/, ""),
    status: response.status,
    name,
  });
  state.recentCalls.length = Math.min(state.recentCalls.length, RECENT_CALLS);
  for (const listener of servedByListeners) listener();
}
