// The attendee table and the details dialog.

import { api } from "./api.js";
import { $, capitalize, el, formatTime, hideBanner, reportError } from "./dom.js";
import {
  FIELD_LABELS,
  FIELDS,
  PER_PAGE_CHOICES,
  SORT_FIELDS,
  SORT_LABELS,
  state,
  writeUrlState,
} from "./state.js";

// The attendee table.

export async function loadList() {
  writeUrlState();
  state.listController?.abort();
  state.listController = new AbortController();
  const seq = ++state.listSeq;
  const params = new URLSearchParams({
    page: String(state.query.page),
    per_page: String(state.query.per_page),
    sort: state.query.sort,
    order: state.query.order,
  });
  if (state.query.q.trim()) params.set("q", state.query.q.trim());
  $("attendees").setAttribute("aria-busy", "true");
  try {
    const page = await api("GET", `/api/attendees?${params}`, {
      signal: state.listController.signal,
    });
    if (seq !== state.listSeq) return;
    if (page.pages > 0 && state.query.page > page.pages) {
      state.query.page = page.pages; // the last page emptied (a delete): show the new last page
      await loadList();
      return;
    }
    renderList(page);
    if ($("banner").dataset.source === "list") hideBanner($("banner"));
  } catch (error) {
    if (seq === state.listSeq) {
      reportError(error, "list");
      if (error.name !== "AbortError") $("summary").textContent = "The list could not be loaded.";
    }
  } finally {
    if (seq === state.listSeq) $("attendees").removeAttribute("aria-busy");
  }
}

export function renderList(page) {
  state.currentItems = new Map(page.items.map((item) => [item.id, item]));
  const offset = (page.page - 1) * page.per_page;
  const rows = page.items.map((attendee, index) => renderRow(attendee, offset + index + 1));
  if (!rows.length) {
    const text = state.query.q.trim()
      ? `No attendee matches “${state.query.q.trim()}”.`
      : "No attendees yet. Add the first one.";
    rows.push(el("tr", { class: "empty-row" }, el("td", { colspan: "8" }, text)));
  }
  $("rows").replaceChildren(...rows);

  const noun = page.total === 1 ? "attendee" : "attendees";
  // A search stops counting at a cap (total_exact false): the total is then a floor.
  const count = page.total_exact === false ? `${page.total}+` : `${page.total}`;
  $("summary").textContent = state.query.q.trim()
    ? `${count} ${noun} matching “${state.query.q.trim()}”`
    : `${page.total} ${noun}`;
  const pages = Math.max(page.pages, 1);
  $("page-info").textContent = `Page ${Math.min(page.page, pages)} of ${pages}`;
  $("prev-page").disabled = page.page <= 1;
  // A page may skip at most so many attendees (max_page): past it, a search narrows the list.
  const deepest = page.page >= page.max_page && page.page < page.pages;
  $("next-page").disabled = page.page >= page.pages || deepest;
  $("next-page").title = deepest ? "The deepest page; search to narrow the list" : "";
  renderSortState();
}

export function renderRow(attendee, number) {
  const name = attendee.full_name;
  const action = (kind, label, extra = "") =>
    el("button", {
      type: "button",
      class: `button icon-action icon-${kind} ${extra}`.trim(),
      "data-action": kind,
      "aria-label": `${label} ${name}`,
      title: label,
    });
  return el(
    "tr",
    { "data-id": attendee.id, class: "row" },
    el("td", { class: "col-num", "data-label": "#" }, String(number)),
    el("td", { class: "col-name", "data-label": "Full name" }, name),
    el("td", { class: "col-email", "data-label": "Email" }, breakableEmail(attendee.email)),
    el("td", { class: "col-year", "data-label": "Year of birth" }, String(attendee.year_of_birth)),
    el(
      "td",
      { class: "col-gender", "data-label": "Gender" },
      el("span", { class: `pill pill-${attendee.gender}` }, capitalize(attendee.gender)),
    ),
    el("td", { class: "col-university", "data-label": "University" }, attendee.university),
    el("td", { class: "col-major", "data-label": "Major" }, attendee.major),
    el(
      "td",
      { class: "col-actions", "data-label": "Actions" },
      el(
        "div",
        { class: "row-actions" },
        action("view", "View"),
        action("edit", "Edit", "needs-editor"),
        action("delete", "Delete", "button-danger-quiet needs-editor"),
      ),
    ),
  );
}

/** An email that may wrap after its @ (and nowhere else) in a narrow column. */
export function breakableEmail(email) {
  const at = email.indexOf("@");
  return at < 0 ? [email] : [email.slice(0, at + 1), el("wbr"), email.slice(at + 1)];
}

/** Fill the sort and page-size choices from SORT_FIELDS and PER_PAGE_CHOICES. */
export function renderChoices() {
  const option = (value, label) => el("option", { value }, label);
  $("sort-select").replaceChildren(...SORT_FIELDS.map((f) => option(f, SORT_LABELS[f])));
  $("per-page").replaceChildren(...PER_PAGE_CHOICES.map((n) => option(n, String(n))));
}

export function renderSortState() {
  for (const th of document.querySelectorAll("th[data-sort]")) {
    const active = th.dataset.sort === state.query.sort;
    if (active)
      th.setAttribute("aria-sort", state.query.order === "asc" ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
  $("sort-select").value = state.query.sort;
  $("per-page").value = String(state.query.per_page);
  const ascending = state.query.order === "asc";
  const button = $("order-button");
  button.textContent = ascending ? "↑ Asc" : "↓ Desc";
  button.setAttribute(
    "aria-label",
    `Order: ${ascending ? "ascending" : "descending"}; switch to ${ascending ? "descending" : "ascending"}`,
  );
}

export function sortBy(field) {
  if (state.query.sort === field) state.query.order = state.query.order === "asc" ? "desc" : "asc";
  else Object.assign(state.query, { sort: field, order: field === "created_at" ? "desc" : "asc" });
  state.query.page = 1;
  renderSortState();
  loadList();
}

export function openDialog(dialog) {
  if (!dialog.open) dialog.showModal();
}

export function closeDialog(dialog) {
  if (dialog.open) dialog.close();
}

export async function showDetails(id) {
  try {
    const attendee = await api("GET", `/api/attendees/${encodeURIComponent(id)}`);
    renderDetails(attendee);
    openDialog($("details-dialog"));
    renderHistory(await api("GET", `/api/attendees/${encodeURIComponent(id)}/history`));
  } catch (error) {
    reportError(error);
    if (error.status === 404) loadList();
  }
}

export function renderDetails(attendee) {
  state.detailsAttendee = attendee;
  $("details-title").textContent = attendee.full_name;
  const value = (key) => {
    const raw = attendee[key];
    if (key === "created_at" || key === "updated_at") {
      return el("time", { datetime: raw, title: raw }, formatTime(raw));
    }
    if (key === "email") return el("a", { href: `mailto:${raw}` }, raw);
    if (key === "gender") return capitalize(raw);
    if (key === "id") return el("code", {}, raw);
    return String(raw);
  };
  const rows = [...FIELDS, "created_at", "updated_at", "id"].map((key) =>
    el("div", { class: "details-row" }, el("dt", {}, FIELD_LABELS[key]), el("dd", {}, value(key))),
  );
  $("details-list").replaceChildren(...rows);
}

/** The attendee's audit entries: who did what, when, and which fields changed. */
export function renderHistory(history) {
  const items = history.items.map((entry) =>
    el(
      "li",
      {},
      el("time", { datetime: entry.at, title: entry.at }, formatTime(entry.at)),
      ` ${entry.action.replace("attendee.", "")} by ${entry.actor}`,
      Object.keys(entry.changes).length
        ? `: ${Object.keys(entry.changes).map((key) => FIELD_LABELS[key] || key).join(", ")}`
        : "",
    ),
  );
  if (!items.length) items.push(el("li", { class: "muted" }, "No recorded changes."));
  $("details-history").replaceChildren(...items);
}
