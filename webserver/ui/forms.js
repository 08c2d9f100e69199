// The add/edit form and the delete confirmation (dialogs in the page, not confirm()).

import { api } from "./api.js";
import { $, capitalize, el, hideBanner, showBanner, toast } from "./dom.js";
import { closeDialog, loadList, openDialog } from "./list.js";
import { refreshReplicas } from "./replicas.js";
import { FIELD_LABELS, FIELDS, state } from "./state.js";

// The form: one component for add (POST, every field) and edit (PATCH, only changed fields).
// An edit is sent with If-Match: the version it was loaded at, so that it cannot overwrite a
// change made meanwhile by someone else (the API answers 412 instead). An add is sent with an
// Idempotency-Key, the same one while the same add is retried, so a retry never adds twice.

export const form = () => $("attendee-form");

export function openForm(attendee = null) {
  state.editing = attendee;
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
export function fillForm(values) {
  for (const name of FIELDS) {
    if (values[name] !== undefined) form().elements[name].value = String(values[name] ?? "");
  }
}

/** A fresh random key: randomUUID where the page is a secure context, else 128 random bits. */
export function newIdempotencyKey() {
  if (window.crypto.randomUUID) return window.crypto.randomUUID();
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The key for adding BODY: the pending add's key if this is its retry, else a new one. */
export function idempotencyKeyFor(body) {
  const json = JSON.stringify(body);
  if (state.pendingAdd?.json !== json) state.pendingAdd = { key: newIdempotencyKey(), json };
  return state.pendingAdd.key;
}

/** Whether the answer may not be final (no answer, overload, server error): retry the same key. */
export function mayRetry(error) {
  return error.status === 0 || error.status === 429 || error.status >= 500;
}

/** The year as the API expects it: a number; text it cannot be is sent as-is to be refused. */
export function yearValue(input) {
  if (input.validity.badInput) return input.value || "not a number";
  const raw = input.value.trim();
  if (raw === "") return undefined;
  const number = Number(raw);
  return Number.isFinite(number) ? number : raw;
}

export function formValues() {
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
export function requestFor(values) {
  // JSON.stringify leaves out the undefined (empty) fields.
  if (!state.editing) {
    const headers = { "Idempotency-Key": idempotencyKeyFor(values) };
    return { method: "POST", path: "/api/attendees", body: values, headers };
  }
  const changes = {};
  for (const name of FIELDS) {
    const value = values[name];
    if (String(value ?? "") !== String(state.editing[name])) {
      // A cleared field is sent as an empty value, so the API says why it cannot be empty.
      changes[name] = value ?? (name === "year_of_birth" ? null : "");
    }
  }
  return {
    method: "PATCH",
    path: `/api/attendees/${encodeURIComponent(state.editing.id)}`,
    body: changes,
    headers: ifMatch(state.editing),
  };
}

/** If-Match for a write to ATTENDEE as loaded: its ETag is its version in quotes. */
export function ifMatch(attendee) {
  return attendee.version === undefined ? {} : { "If-Match": `"${attendee.version}"` };
}

/** Clear the form's field errors, its banner, its conflict panel and its note. */
export function clearFormMessages() {
  for (const name of FIELDS) setFieldError(name, "");
  hideBanner($("form-banner"));
  $("form-conflict").hidden = true;
  $("form-note").textContent = "";
}

export function setFieldError(name, message) {
  const input = form().elements[name];
  const slot = $(`error-${name}`);
  if (!input || !slot) return false;
  slot.textContent = message ? capitalize(message) : "";
  input.closest(".field").classList.toggle("has-error", Boolean(message));
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  return true;
}

export async function submitForm(event) {
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
    if (method === "POST") state.pendingAdd = null;
    await afterWrite(
      $("form-dialog"),
      method === "POST" ? `Added ${saved.full_name}.` : `Saved changes to ${saved.full_name}.`,
    );
  } catch (error) {
    if (method === "POST" && !mayRetry(error)) state.pendingAdd = null;
    if (error.status === 412 && state.editing) await showEditConflict(error, body);
    else showFormError(error);
  } finally {
    submit.disabled = false;
    submit.textContent = label;
  }
}

/** After a successful write: close its dialog, clear the page banner, confirm, reload. */
export function afterWrite(dialog, message) {
  closeDialog(dialog);
  hideBanner($("banner"));
  toast(message);
  return Promise.all([loadList(), refreshReplicas()]);
}

/** 412 on save: reload the attendee, show its current values and set the user's aside. */
export async function showEditConflict(error, attempted) {
  let current;
  try {
    current = await api("GET", `/api/attendees/${encodeURIComponent(state.editing.id)}`);
  } catch (readError) {
    showFormError(readError);
    return;
  }
  state.editing = current; // the next save is a change to this version
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
export function reapplyMyValues() {
  fillForm(JSON.parse($("form-conflict").dataset.values || "{}"));
  $("form-conflict").hidden = true;
  hideBanner($("form-banner"));
  $("form-note").textContent =
    `Your values are back; saving applies them to version ${state.editing.version}.`;
}

export function showFormError(error) {
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

export function askDelete(attendee) {
  describeDelete(attendee);
  hideBanner($("delete-banner"));
  openDialog($("delete-dialog"));
  // Focus starts on Cancel, so that Enter alone never deletes.
  $("delete-dialog").querySelector(".dialog-actions [data-close]").focus();
}

/** Ask about state.deleting ATTENDEE as it is now (its version goes into If-Match). */
export function describeDelete(attendee) {
  state.deleting = attendee;
  $("delete-text").textContent =
    `${attendee.full_name} (${attendee.email}) will be removed from the directory. ` +
    "This cannot be undone.";
}

/** 412 on delete: show the attendee as it is now; a second Delete deletes that version. */
export async function showDeleteConflict(error) {
  try {
    describeDelete(await api("GET", `/api/attendees/${encodeURIComponent(state.deleting.id)}`));
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

export async function confirmDelete() {
  const button = $("delete-confirm");
  if (!state.deleting || button.disabled) return;
  button.disabled = true;
  try {
    const path = `/api/attendees/${encodeURIComponent(state.deleting.id)}`;
    await api("DELETE", path, { headers: ifMatch(state.deleting) });
    const { full_name: name } = state.deleting;
    state.deleting = null;
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
