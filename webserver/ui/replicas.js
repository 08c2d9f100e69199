// The live load-balancing panel.

import { api } from "./api.js";
import { $, el, formatTime, setTone } from "./dom.js";
import { state } from "./state.js";

// The live load-balancing panel.

export async function refreshReplicas() {
  if (state.replicaPollBusy) return;
  state.replicaPollBusy = true;
  try {
    state.replicaSplit = await api("GET", "/api/replicas");
    const { total, replicas } = state.replicaSplit;
    const noun = replicas.length === 1 ? "replica" : "replicas";
    $("replica-status").textContent =
      `${total.toLocaleString()} requests over ${replicas.length} ${noun}`;
    renderReplicas();
  } catch (error) {
    if (error.name !== "AbortError") {
      $("replica-status").textContent = `The split cannot be loaded: ${error.message}`;
    }
  } finally {
    state.replicaPollBusy = false;
  }
}

export function renderReplicas() {
  const items = state.replicaSplit.replicas.map((replica) => {
    const isLast = replica.replica === state.lastServedName;
    const percent = `${(replica.share * 100).toFixed(1)}%`;
    const fill = el("span", { class: "bar-fill" });
    // CSSOM, not a style attribute: the CSP allows it.
    fill.style.setProperty("--share", String(replica.share));
    const upstream = state.upstreamOf.get(replica.replica);
    const where = [replica.addresses.join(", ") || replica.hostname, upstream && `via ${upstream}`];
    const noun = replica.requests === 1 ? "request" : "requests";
    const item = el(
      "li",
      {
        class: `replica${isLast ? " is-last" : ""}`,
        "data-replica": replica.replica,
        title: `hostname ${replica.hostname}, last counted ${formatTime(replica.last_seen)}`,
      },
      el(
        "div",
        { class: "replica-head" },
        el("span", { class: "dot", "aria-hidden": "true" }),
        el("span", { class: "replica-name" }, replica.replica),
        isLast ? el("span", { class: "last-call" }, "last call") : null,
      ),
      el(
        "div",
        { class: "replica-figures" },
        el("span", { class: "replica-share" }, percent),
        el("span", { class: "replica-requests" }, `${replica.requests.toLocaleString()} ${noun}`),
      ),
      el("div", { class: "bar", role: "img", "aria-label": `${percent} of all requests` }, fill),
      el("div", { class: "replica-meta" }, where.filter(Boolean).join(" · ")),
    );
    setTone(item, replica.replica);
    return item;
  });
  if (!items.length) items.push(el("li", { class: "muted" }, "No requests counted yet."));
  $("replica-list").replaceChildren(...items);
}

export function renderRecentCalls() {
  const items = state.recentCalls.map((call) => {
    const item = el(
      "li",
      { class: "recent-call" },
      el("span", { class: "dot", "aria-hidden": "true" }),
      el("span", { class: "recent-method" }, call.method),
      el("span", { class: "recent-path", title: call.path }, call.path),
      el(
        "span",
        { class: `recent-status status-${String(call.status).charAt(0)}xx` },
        String(call.status),
      ),
      el("span", { class: "recent-replica" }, call.name || "nginx"),
    );
    setTone(item, call.name);
    return item;
  });
  $("recent-calls").replaceChildren(...items);
}
