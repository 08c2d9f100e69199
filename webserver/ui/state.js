// Settings of the UI and its one state object: the list query (kept in the URL, so a reload
// or a shared link shows the same page) and what the page is doing now.

export const FIELDS = ["full_name", "email", "year_of_birth", "gender", "university", "major"];
export const SORT_FIELDS = [
  "full_name",
  "year_of_birth",
  "university",
  "major",
  "email",
  "created_at",
];
export const PER_PAGE_CHOICES = [10, 20, 50];
export const MAX_PAGE = 100_000; // the API's bound on ?page
export const DEFAULTS = { page: 1, per_page: 20, q: "", sort: "full_name", order: "asc" };
export const SEARCH_DELAY_MS = 300;
export const REPLICA_POLL_MS = 2500;
export const RECENT_CALLS = 5;
export const TOAST_MS = 4000;
export const MAX_RETRY_AFTER_S = 5; // a revocation waits at most this long before its one retry
export const USERS_PER_PAGE = 50; // the Users panel's page (the API allows up to 100)
export const TONES = 8; // .tone-0 ... .tone-7 in styles/dialogs.css

// The one list of sort fields (the API's ListQuery.sort) and page sizes: the page's <select>s
// are filled from them.
export const FIELD_LABELS = {
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
export const SORT_LABELS = { ...FIELD_LABELS, created_at: "Date added" };
export const ERROR_TITLES = {
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

/** Everything the page keeps between events, in one place. */
export const state = {
  query: { ...DEFAULTS }, // the list's page, per_page, q, sort and order
  listController: null, // aborts a list request that a newer one replaces
  listSeq: 0,
  currentItems: new Map(), // id -> attendee, for the rows on screen
  lastServedName: "", // the replica that answered the last API call
  user: null, // who is signed in: {username, role}, or null
  csrfToken: "", // the session's CSRF token, sent on every write
  replicaSplit: null,
  replicaPollBusy: false,
  upstreamOf: new Map(), // replica name -> the ip:port nginx last used for it
  recentCalls: [],
  detailsAttendee: null, // the attendee the details dialog shows
  editing: null, // the attendee being edited (as loaded, with its version); null while adding
  pendingAdd: null, // {key, json}: the Idempotency-Key of an add that may be retried
  deleting: null, // the attendee to delete, as shown (DELETE sends If-Match with its version)
};

export function readUrlState() {
  const params = new URLSearchParams(window.location.search);
  const page = Number.parseInt(params.get("page") || "", 10);
  const perPage = Number.parseInt(params.get("per_page") || "", 10);
  state.query.page = page >= 1 ? Math.min(page, MAX_PAGE) : DEFAULTS.page;
  state.query.per_page = PER_PAGE_CHOICES.includes(perPage) ? perPage : DEFAULTS.per_page;
  state.query.q = (params.get("q") || "").slice(0, 100);
  state.query.sort = SORT_FIELDS.includes(params.get("sort")) ? params.get("sort") : DEFAULTS.sort;
  state.query.order = params.get("order") === "desc" ? "desc" : "asc";
}

export function writeUrlState() {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(state.query)) {
    if (value !== DEFAULTS[key]) params.set(key, String(value));
  }
  const query = params.toString();
  window.history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
}
