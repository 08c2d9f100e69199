// The VDT 2023 attendee directory UI: plain DOM code against the JSON API under /api.
// Everything is built with createElement/textContent (never innerHTML with data), and no
// inline script, handler or style attribute is used, so the page runs under the strict CSP.

const FIELDS = ["full_name", "email", "year_of_birth", "gender", "university", "major"];
const SORT_FIELDS = ["full_name", "year_of_birth", "university", "major", "email", "created_at"];
const PER_PAGE_CHOICES = [10, 20, 50];
const MAX_PAGE = 100_000; // the API's bound on ?page
const DEFAULTS = { page: 1, per_page: 20, q: "", sort: "full_name", order: "asc" };
const SEARCH_DELAY_MS = 300;
const REPLICA_POLL_MS = 2500;
const RECENT_CALLS = 5;
const TOAST_MS = 4000;
const TONES = 8; // .tone-0 ... .tone-7 in style.css

const FIELD_LABELS = {
  id: "ID",
  full_name: "Full name",
  email: "Email",
  year_of_birth: "Year of birth",
  gender: "Gender",
  university: "University",
  major: "Major",
  created_at: "Created",
  updated_at: "Updated",
};
const ERROR_TITLES = {
  0: "Network error",
  400: "Bad request",
  404: "Not found",
  409: "Conflict",
  412: "Changed elsewhere",
  413: "Too large",
  415: "Unsupported",
  422: "Invalid input",
  429: "Slow down",
  500: "Server error",
  502: "Bad gateway",
  503: "Unavailable",
  504: "Gateway timeout",
};

const $ = (id) => document.getElementById(id);

/** An API error: the HTTP status and the API's {error, message, fields} body. */
class ApiError extends Error {
  constructor(status, code, message, fields, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields || null;
    this.requestId = requestId || "";
  }
}

// ---------------------------------------------------------------------------------------------
// State: the list query lives in the URL, so a reload (or a shared link) shows the same page.

const state = { ...DEFAULTS };
let listController = null; // aborts a list request that a newer one replaces
let listSeq = 0;
let currentItems = new Map(); // id -> attendee, for the rows on screen
let lastServedName = ""; // the replica that answered the last API call
let replicaSplit = null;
let replicaPollBusy = false;
const upstreamOf = new Map(); // replica name -> the ip:port nginx last used for it
const recentCalls = [];

function readUrlState() {
  const params = new URLSearchParams(window.location.search);
  const page = Number.parseInt(params.get("page") || "", 10);
  const perPage = Number.parseInt(params.get("per_page") || "", 10);
  state.page = page >= 1 ? Math.min(page, MAX_PAGE) : DEFAULTS.page;
  state.per_page = PER_PAGE_CHOICES.includes(perPage) ? perPage : DEFAULTS.per_page;
  state.q = (params.get("q") || "").slice(0, 100);
  state.sort = SORT_FIELDS.includes(params.get("sort")) ? params.get("sort") : DEFAULTS.sort;
  state.order = params.get("order") === "desc" ? "desc" : "asc";
}

function writeUrlState() {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(state)) {
    if (value !== DEFAULTS[key]) params.set(key, String(value));
  }
  const query = params.toString();
  window.history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
}

// ---------------------------------------------------------------------------------------------
// Small DOM helpers.

/** Create an element with attributes (class, data-*, aria-*, ...) and children (nodes or text). */
function el(tag, attributes = {}, ...children) {
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
function toneOf(name) {
  let hash = 0x811c9dc5;
  for (const char of name) {
    hash ^= char.codePointAt(0);
    hash = Math.imul(hash, 0x01000193);
  }
  return `tone-${(hash >>> 0) % TONES}`;
}

function setTone(node, name) {
  for (const cls of [...node.classList]) if (cls.startsWith("tone-")) node.classList.remove(cls);
  if (name) node.classList.add(toneOf(name));
}

function capitalize(text) {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}

function formatTime(iso) {
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return iso;
  return moment.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

// ---------------------------------------------------------------------------------------------
// The API client: every call goes through here, so every call updates the "served by" badge.

async function api(method, path, { body, signal, headers = {} } = {}) {
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
  if (!response.ok) {
    const fallback = `${response.status} ${response.statusText}`.trim();
    throw new ApiError(
      response.status,
      data?.error || "http_error",
      data?.message || fallback,
      data?.fields,
      response.headers.get("X-Request-ID"),
    );
  }
  return data;
}

/** Show which replica (X-Served-By) and which upstream address (X-Upstream-Addr) answered. */
function noteServedBy(method, path, response) {
  const name = response.headers.get("X-Served-By") || "";
  const addr = response.headers.get("X-Upstream-Addr") || "";
  lastServedName = name;
  // After a failover nginx lists every address it tried ("a:1, b:2"); the last one answered.
  if (name && addr) upstreamOf.set(name, addr.split(",").pop().trim());

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

  recentCalls.unshift({
    method,
    path: path.replace(/^\/api/, ""),
    status: response.status,
    name,
  });
  recentCalls.length = Math.min(recentCalls.length, RECENT_CALLS);
  renderRecentCalls();
  if (replicaSplit) renderReplicas();
}

// ---------------------------------------------------------------------------------------------
// Messages: a page banner for errors, a toast for successes.

/** Show ERROR in the banner TARGET (into its .banner-body, if it has one); MESSAGE overrides. */
function showBanner(target, error, message = error.message) {
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

function hideBanner(target) {
  target.hidden = true;
}

/** Errors outside the dialogs go to the page banner; aborted requests are not errors. */
function reportError(error, source = "") {
  if (error.name === "AbortError") return;
  if (!(error instanceof ApiError)) {
    console.error(error);
    error = new ApiError(0, "client_error", String(error.message || error));
  }
  showBanner($("banner"), error);
  $("banner").dataset.source = source; // e.g. "list": the next good list load clears it
}

let toastTimer = 0;
function toast(message) {
  const node = $("toast");
  node.textContent = message;
  node.hidden = false;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => {
    node.hidden = true;
  }, TOAST_MS);
}

// ---------------------------------------------------------------------------------------------
// The attendee table.

async function loadList() {
  writeUrlState();
  listController?.abort();
  listController = new AbortController();
  const seq = ++listSeq;
  const params = new URLSearchParams({
    page: String(state.page),
    per_page: String(state.per_page),
    sort: state.sort,
    order: state.order,
  });
  if (state.q.trim()) params.set("q", state.q.trim());
  $("attendees").setAttribute("aria-busy", "true");
  try {
    const page = await api("GET", `/api/attendees?${params}`, { signal: listController.signal });
    if (seq !== listSeq) return;
    if (page.pages > 0 && state.page > page.pages) {
      state.page = page.pages; // the last page emptied (a delete): show the new last page
      await loadList();
      return;
    }
    renderList(page);
    if ($("banner").dataset.source === "list") hideBanner($("banner"));
  } catch (error) {
    if (seq === listSeq) {
      reportError(error, "list");
      if (error.name !== "AbortError") $("summary").textContent = "The list could not be loaded.";
    }
  } finally {
    if (seq === listSeq) $("attendees").removeAttribute("aria-busy");
  }
}

function renderList(page) {
  currentItems = new Map(page.items.map((item) => [item.id, item]));
  const offset = (page.page - 1) * page.per_page;
  const rows = page.items.map((attendee, index) => renderRow(attendee, offset + index + 1));
  if (!rows.length) {
    const text = state.q.trim()
      ? `No attendee matches “${state.q.trim()}”.`
      : "No attendees yet. Add the first one.";
    rows.push(el("tr", { class: "empty-row" }, el("td", { colspan: "8" }, text)));
  }
  $("rows").replaceChildren(...rows);

  const noun = page.total === 1 ? "attendee" : "attendees";
  $("summary").textContent = state.q.trim()
    ? `${page.total} ${noun} matching “${state.q.trim()}”`
    : `${page.total} ${noun}`;
  const pages = Math.max(page.pages, 1);
  $("page-info").textContent = `Page ${Math.min(page.page, pages)} of ${pages}`;
  $("prev-page").disabled = page.page <= 1;
  $("next-page").disabled = page.page >= page.pages;
  renderSortState();
}

function renderRow(attendee, number) {
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
        action("edit", "Edit"),
        action("delete", "Delete", "button-danger-quiet"),
      ),
    ),
  );
}

/** An email that may wrap after its @ (and nowhere else) in a narrow column. */
function breakableEmail(email) {
  const at = email.indexOf("@");
  return at < 0 ? [email] : [email.slice(0, at + 1), el("wbr"), email.slice(at + 1)];
}

function renderSortState() {
  for (const th of document.querySelectorAll("th[data-sort]")) {
    const active = th.dataset.sort === state.sort;
    if (active) th.setAttribute("aria-sort", state.order === "asc" ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
  $("sort-select").value = state.sort;
  $("per-page").value = String(state.per_page);
  const ascending = state.order === "asc";
  const button = $("order-button");
  button.textContent = ascending ? "↑ Asc" : "↓ Desc";
  button.setAttribute(
    "aria-label",
    `Order: ${ascending ? "ascending" : "descending"}; switch to ${ascending ? "descending" : "ascending"}`,
  );
}

function sortBy(field) {
  if (state.sort === field) state.order = state.order === "asc" ? "desc" : "asc";
  else Object.assign(state, { sort: field, order: field === "created_at" ? "desc" : "asc" });
  state.page = 1;
  renderSortState();
  loadList();
}

// ---------------------------------------------------------------------------------------------
// Dialogs: details, the add/edit form and the delete confirmation (in the page, not confirm()).

function openDialog(dialog) {
  if (!dialog.open) dialog.showModal();
}

function closeDialog(dialog) {
  if (dialog.open) dialog.close();
}

async function showDetails(id) {
  try {
    const attendee = await api("GET", `/api/attendees/${encodeURIComponent(id)}`);
    renderDetails(attendee);
    openDialog($("details-dialog"));
  } catch (error) {
    reportError(error);
    if (error.status === 404) loadList();
  }
}

let detailsAttendee = null;
function renderDetails(attendee) {
  detailsAttendee = attendee;
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

// The form: one component for add (POST, every field) and edit (PATCH, only changed fields).
// An edit is sent with If-Match: the version it was loaded at, so that it cannot overwrite a
// change made meanwhile by someone else (the API answers 412 instead). An add is sent with an
// Idempotency-Key, the same one while the same add is retried, so a retry never adds twice.

const form = () => $("attendee-form");
let editing = null; // the attendee being edited (as loaded, with its version); null while adding
let pendingAdd = null; // {key, json}: the Idempotency-Key of an add that may be retried

function openForm(attendee = null) {
  editing = attendee;
  const theForm = form();
  theForm.reset();
  clearFormMessages();
  $("form-title").textContent = attendee ? `Edit ${attendee.full_name}` : "Add attendee";
  $("form-submit").textContent = attendee ? "Save changes" : "Add attendee";
  if (attendee) fillForm(attendee);
  openDialog($("form-dialog"));
  theForm.elements.full_name.focus();
}

/** Put VALUES (an attendee, or some of its fields) into the form's fields. */
function fillForm(values) {
  for (const name of FIELDS) {
    if (values[name] !== undefined) form().elements[name].value = String(values[name] ?? "");
  }
}

/** A fresh random key: randomUUID where the page is a secure context, else 128 random bits. */
function newIdempotencyKey() {
  if (window.crypto.randomUUID) return window.crypto.randomUUID();
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The key for adding BODY: the pending add's key if this is its retry, else a new one. */
function idempotencyKeyFor(body) {
  const json = JSON.stringify(body);
  if (pendingAdd?.json !== json) pendingAdd = { key: newIdempotencyKey(), json };
  return pendingAdd.key;
}

/** Whether the answer may not be final (no answer, overload, server error): retry the same key. */
function mayRetry(error) {
  return error.status === 0 || error.status === 429 || error.status >= 500;
}

/** The year as the API expects it: a number; text it cannot be is sent as-is to be refused. */
function yearValue(input) {
  if (input.validity.badInput) return input.value || "not a number";
  const raw = input.value.trim();
  if (raw === "") return undefined;
  const number = Number(raw);
  return Number.isFinite(number) ? number : raw;
}

function formValues() {
  const elements = form().elements;
  const values = {};
  for (const name of FIELDS) {
    // The API refuses spaces at either end of a text (so that maxLength means what it says);
    // the spaces a person types around a name are trimmed here instead.
    values[name] =
      name === "year_of_birth"
        ? yearValue(elements[name])
        : elements[name].value.trim() || undefined;
  }
  return values;
}

/** POST sends every filled field (the API names the missing ones); PATCH only what changed. */
function requestFor(values) {
  // JSON.stringify leaves out the undefined (empty) fields.
  if (!editing) {
    const headers = { "Idempotency-Key": idempotencyKeyFor(values) };
    return { method: "POST", path: "/api/attendees", body: values, headers };
  }
  const changes = {};
  for (const name of FIELDS) {
    const value = values[name];
    if (String(value ?? "") !== String(editing[name])) {
      // A cleared field is sent as an empty value, so the API says why it cannot be empty.
      changes[name] = value ?? (name === "year_of_birth" ? null : "");
    }
  }
  return {
    method: "PATCH",
    path: `/api/attendees/${encodeURIComponent(editing.id)}`,
    body: changes,
    headers: ifMatch(editing),
  };
}

/** If-Match for a write to ATTENDEE as loaded: its ETag is its version in quotes. */
function ifMatch(attendee) {
  return attendee.version === undefined ? {} : { "If-Match": `"${attendee.version}"` };
}

/** Clear the form's field errors, its banner, its conflict panel and its note. */
function clearFormMessages() {
  for (const name of FIELDS) setFieldError(name, "");
  hideBanner($("form-banner"));
  $("form-conflict").hidden = true;
  $("form-note").textContent = "";
}

function setFieldError(name, message) {
  const input = form().elements[name];
  const slot = $(`error-${name}`);
  if (!input || !slot) return false;
  slot.textContent = message ? capitalize(message) : "";
  input.closest(".field").classList.toggle("has-error", Boolean(message));
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  return true;
}

async function submitForm(event) {
  event.preventDefault();
  const submit = $("form-submit");
  if (submit.disabled) return;
  clearFormMessages();
  const { method, path, body, headers } = requestFor(formValues());
  if (method === "PATCH" && Object.keys(body).length === 0) {
    $("form-note").textContent = "Nothing changed yet.";
    return;
  }
  submit.disabled = true;
  const label = submit.textContent;
  submit.textContent = "Saving…";
  try {
    const saved = await api(method, path, { body, headers });
    if (method === "POST") pendingAdd = null;
    await afterWrite(
      $("form-dialog"),
      method === "POST" ? `Added ${saved.full_name}.` : `Saved changes to ${saved.full_name}.`,
    );
  } catch (error) {
    if (method === "POST" && !mayRetry(error)) pendingAdd = null;
    if (error.status === 412 && editing) await showEditConflict(error, body);
    else showFormError(error);
  } finally {
    submit.disabled = false;
    submit.textContent = label;
  }
}

/** After a successful write: close its dialog, clear the page banner, confirm, reload. */
function afterWrite(dialog, message) {
  closeDialog(dialog);
  hideBanner($("banner"));
  toast(message);
  return Promise.all([loadList(), refreshReplicas()]);
}

/** 412 on save: reload the attendee, show its current values and set the user's aside. */
async function showEditConflict(error, attempted) {
  let current;
  try {
    current = await api("GET", `/api/attendees/${encodeURIComponent(editing.id)}`);
  } catch (readError) {
    showFormError(readError);
    return;
  }
  editing = current; // the next save is a change to this version
  fillForm(current);
  showBanner(
    $("form-banner"),
    error,
    "Someone else changed this attendee while you were editing, so your changes were not " +
      "saved. The form now shows the current values.",
  );
  const items = Object.entries(attempted).map(([name, value]) =>
    el(
      "li",
      { "data-field": name },
      el("strong", { class: "conflict-label" }, FIELD_LABELS[name]),
      el("span", { class: "conflict-yours" }, "yours: ", el("q", {}, String(value ?? ""))),
      el("span", { class: "conflict-now" }, "now: ", el("q", {}, String(current[name]))),
    ),
  );
  $("conflict-list").replaceChildren(...items);
  $("form-conflict").dataset.values = JSON.stringify(attempted);
  $("form-conflict").hidden = false;
  loadList();
}

/** Put the values the user tried to save back into the form, over the current version. */
function reapplyMyValues() {
  fillForm(JSON.parse($("form-conflict").dataset.values || "{}"));
  $("form-conflict").hidden = true;
  hideBanner($("form-banner"));
  $("form-note").textContent =
    `Your values are back; saving applies them to version ${editing.version}.`;
}

function showFormError(error) {
  if (error.name === "AbortError") return;
  const unplaced = {};
  let first = null;
  for (const [name, message] of Object.entries(error.fields || {})) {
    if (setFieldError(name, message)) first ??= name;
    else unplaced[name] = message;
  }
  const extra = Object.entries(unplaced).map(([name, message]) => `${name}: ${message}`);
  showBanner($("form-banner"), error, [error.message, ...extra].join("; "));
  if (first) form().elements[first].focus();
  if (error.status === 404) loadList();
}

// Delete, confirmed in the page.

let deleting = null; // the attendee to delete, as shown (DELETE sends If-Match with its version)
function askDelete(attendee) {
  describeDelete(attendee);
  hideBanner($("delete-banner"));
  openDialog($("delete-dialog"));
  // Focus starts on Cancel, so that Enter alone never deletes.
  $("delete-dialog").querySelector(".dialog-actions [data-close]").focus();
}

/** Ask about deleting ATTENDEE as it is now (its version goes into If-Match). */
function describeDelete(attendee) {
  deleting = attendee;
  $("delete-text").textContent =
    `${attendee.full_name} (${attendee.email}) will be removed from the directory. ` +
    "This cannot be undone.";
}

/** 412 on delete: show the attendee as it is now; a second Delete deletes that version. */
async function showDeleteConflict(error) {
  try {
    describeDelete(await api("GET", `/api/attendees/${encodeURIComponent(deleting.id)}`));
    showBanner(
      $("delete-banner"),
      error,
      "Someone else changed this attendee since it was shown, so it was not deleted. " +
        "Above is what it holds now; Delete again to delete it as it is.",
    );
  } catch (readError) {
    showBanner($("delete-banner"), readError);
  }
  loadList();
}

async function confirmDelete() {
  const button = $("delete-confirm");
  if (!deleting || button.disabled) return;
  button.disabled = true;
  try {
    const path = `/api/attendees/${encodeURIComponent(deleting.id)}`;
    await api("DELETE", path, { headers: ifMatch(deleting) });
    const { full_name: name } = deleting;
    deleting = null;
    await afterWrite($("delete-dialog"), `Deleted ${name}.`);
  } catch (error) {
    if (error.status === 412) {
      await showDeleteConflict(error);
      return;
    }
    showBanner($("delete-banner"), error);
    if (error.status === 404) loadList();
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// The live load-balancing panel.

async function refreshReplicas() {
  if (replicaPollBusy) return;
  replicaPollBusy = true;
  try {
    replicaSplit = await api("GET", "/api/replicas");
    const { total, replicas } = replicaSplit;
    const noun = replicas.length === 1 ? "replica" : "replicas";
    $("replica-status").textContent =
      `${total.toLocaleString()} requests over ${replicas.length} ${noun}`;
    renderReplicas();
  } catch (error) {
    if (error.name !== "AbortError") {
      $("replica-status").textContent = `The split cannot be loaded: ${error.message}`;
    }
  } finally {
    replicaPollBusy = false;
  }
}

function renderReplicas() {
  const items = replicaSplit.replicas.map((replica) => {
    const isLast = replica.replica === lastServedName;
    const percent = `${(replica.share * 100).toFixed(1)}%`;
    const fill = el("span", { class: "bar-fill" });
    // CSSOM, not a style attribute: the CSP allows it.
    fill.style.setProperty("--share", String(replica.share));
    const upstream = upstreamOf.get(replica.replica);
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
      el(
        "div",
        { class: "bar", role: "img", "aria-label": `${percent} of all requests` },
        fill,
      ),
      el("div", { class: "replica-meta" }, where.filter(Boolean).join(" · ")),
    );
    setTone(item, replica.replica);
    return item;
  });
  if (!items.length) items.push(el("li", { class: "muted" }, "No requests counted yet."));
  $("replica-list").replaceChildren(...items);
}

function renderRecentCalls() {
  const items = recentCalls.map((call) => {
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

// ---------------------------------------------------------------------------------------------
// Wiring.

function debounce(fn, delay) {
  let timer = 0;
  const debounced = (...args) => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => fn(...args), delay);
  };
  debounced.cancel = () => window.clearTimeout(timer);
  return debounced;
}

function wire() {
  const search = $("search");
  search.value = state.q;
  const runSearch = () => {
    if (search.value === state.q) return;
    state.q = search.value;
    state.page = 1;
    loadList();
  };
  const debouncedSearch = debounce(runSearch, SEARCH_DELAY_MS);
  search.addEventListener("input", debouncedSearch);
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      debouncedSearch.cancel();
      runSearch();
    }
  });

  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.querySelector("button").addEventListener("click", () => sortBy(th.dataset.sort));
  }
  $("sort-select").addEventListener("change", (event) => sortBy(event.target.value));
  $("order-button").addEventListener("click", () => sortBy(state.sort));
  $("per-page").addEventListener("change", (event) => {
    state.per_page = Number(event.target.value);
    state.page = 1;
    loadList();
  });
  $("prev-page").addEventListener("click", () => {
    state.page = Math.max(1, state.page - 1);
    loadList();
  });
  $("next-page").addEventListener("click", () => {
    state.page += 1;
    loadList();
  });

  $("rows").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    const row = event.target.closest("tr[data-id]");
    if (!row) return;
    if (!button) {
      if (!window.getSelection()?.toString()) showDetails(row.dataset.id);
      return;
    }
    const attendee = currentItems.get(row.dataset.id);
    if (!attendee) return;
    if (button.dataset.action === "view") showDetails(attendee.id);
    else if (button.dataset.action === "edit") openForm(attendee);
    else if (button.dataset.action === "delete") askDelete(attendee);
  });

  $("add-button").addEventListener("click", () => openForm(null));
  $("attendee-form").addEventListener("submit", submitForm);
  for (const name of FIELDS) {
    form().elements[name].addEventListener("input", () => setFieldError(name, ""));
  }
  $("details-edit").addEventListener("click", () => {
    closeDialog($("details-dialog"));
    openForm(detailsAttendee);
  });
  $("details-delete").addEventListener("click", () => {
    closeDialog($("details-dialog"));
    askDelete(detailsAttendee);
  });
  $("delete-confirm").addEventListener("click", confirmDelete);
  $("conflict-reapply").addEventListener("click", reapplyMyValues);

  for (const closer of document.querySelectorAll("[data-close]")) {
    closer.addEventListener("click", () => closeDialog(closer.closest("dialog")));
  }
  // A click on the backdrop (outside the dialog box) closes it too.
  for (const dialog of document.querySelectorAll("dialog")) {
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) {
        const box = dialog.getBoundingClientRect();
        const inside =
          event.clientX >= box.left &&
          event.clientX <= box.right &&
          event.clientY >= box.top &&
          event.clientY <= box.bottom;
        if (!inside) closeDialog(dialog);
      }
    });
  }
  $("banner-close").addEventListener("click", () => hideBanner($("banner")));

  window.setInterval(() => {
    if (!document.hidden) refreshReplicas();
  }, REPLICA_POLL_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refreshReplicas();
  });
}

readUrlState();
wire();
renderSortState();
// The list first, then the split, so that the panel already counts this page's first call.
loadList().finally(refreshReplicas);
