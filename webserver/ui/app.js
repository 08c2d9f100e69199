// The VDT 2023 attendee directory UI: plain DOM code against the JSON API under /api.
// Everything is built with createElement/textContent (never innerHTML with data), and no
// inline script, handler or style attribute is used, so the page runs under the strict CSP.

import { onServedBy } from "./api.js";
import { $, debounce, hideBanner } from "./dom.js";
import {
  askDelete,
  confirmDelete,
  form,
  openForm,
  reapplyMyValues,
  setFieldError,
  submitForm,
} from "./forms.js";
import {
  closeDialog,
  loadList,
  renderChoices,
  renderSortState,
  showDetails,
  sortBy,
} from "./list.js";
import { refreshReplicas, renderRecentCalls, renderReplicas } from "./replicas.js";
import { loadSession, showSignIn, wireSession } from "./session.js";
import { FIELDS, readUrlState, REPLICA_POLL_MS, SEARCH_DELAY_MS, state } from "./state.js";
import { accountChanged, wireUsers } from "./users.js";

function wire() {
  const search = $("search");
  search.value = state.query.q;
  const runSearch = () => {
    if (search.value === state.query.q) return;
    state.query.q = search.value;
    state.query.page = 1;
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
  $("order-button").addEventListener("click", () => sortBy(state.query.sort));
  $("per-page").addEventListener("change", (event) => {
    state.query.per_page = Number(event.target.value);
    state.query.page = 1;
    loadList();
  });
  $("prev-page").addEventListener("click", () => {
    state.query.page = Math.max(1, state.query.page - 1);
    loadList();
  });
  $("next-page").addEventListener("click", () => {
    state.query.page += 1;
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
    const attendee = state.currentItems.get(row.dataset.id);
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
    openForm(state.detailsAttendee);
  });
  $("details-delete").addEventListener("click", () => {
    closeDialog($("details-dialog"));
    askDelete(state.detailsAttendee);
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
  // Every answer updates the recent calls, and the split while it is shown.
  onServedBy(() => {
    renderRecentCalls();
    if (state.replicaSplit) renderReplicas();
  });

  window.setInterval(() => {
    if (!document.hidden) refreshReplicas();
  }, REPLICA_POLL_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refreshReplicas();
  });
}

// After a sign-in (the first, or one after the session ended) the list is loaded again; an
// open form keeps what was typed, to be sent again; an open users or tokens panel shows what
// the new user may see.
function afterSignIn() {
  accountChanged();
  loadList();
}

readUrlState();
renderChoices();
wire();
wireUsers();
wireSession(afterSignIn);
renderSortState();
// Who is signed in first; then the list (or the sign-in dialog), then the split, so that the
// panel already counts this page's first call.
loadSession()
  .then((signed) => (signed ? loadList() : showSignIn(afterSignIn)))
  .catch(() => showSignIn(afterSignIn))
  .finally(refreshReplicas);
