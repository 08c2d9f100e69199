"""Who is asking, and may they: sessions (browser) and API tokens (scripts), roles, CSRF.

A request is authenticated by `Authorization: Bearer <token>` or, failing that, by the session
cookie. Both secrets are random (secrets.token_urlsafe) and stored only as their SHA-256
digest, so a copy of the database holds no usable credential. Each carries its user's id, name,
role and credential version (accounts.py keeps them in step with the user), so that checking
one costs a single read by _id, and a replica keeps what it read for CREDENTIAL_CACHE_SECONDS:
whatever revokes a credential answers only once every replica has let go of it
(credentials.CredentialCache), so a sign-out is refused everywhere from the next request on.

Cookie-authenticated writes must send the session's CSRF token in X-CSRF-Token, and a browser's
Origin (and Sec-Fetch-Site) must say the request comes from this site's own pages.
"""

import hmac
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps

from flask import Flask, Response, current_app, g, request

from .accounts import read_generation
from .collection_names import API_TOKENS, SESSIONS
from .credentials import (
    ADMIN,
    EDITOR,
    TOKEN_PREFIX,
    VIEWER,
    CredentialCache,
    RevocationBusy,
    digest,
    includes,
)
from .db import get_db
from .errors import ApiError

__all__ = ["ADMIN", "EDITOR", "VIEWER"]  # the roles, for the views that require them
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))

SESSION_COOKIE = "vdt_session"
CSRF_HEADER = "X-CSRF-Token"
# token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
_SECRET = "[A-Za-z0-9_-]{43}"  # noqa: S105 (a pattern)
_SESSION_RE = re.compile(_SECRET)
_TOKEN_RE = re.compile(f"{TOKEN_PREFIX}{_SECRET}")
REALM = 'Bearer realm="vdt2023"'


@dataclass(frozen=True)
class Principal:
    """The user a request acts for, and the credential it came with."""

    user_id: str
    username: str
    role: str
    via: str  # "session" or "token"
    credential: str  # the digest that is the session's or token's _id
    csrf_token: str | None  # sessions only
    expires_at: datetime
    user_version: int  # the user's credential version when this credential was made

    def may(self, role: str) -> bool:
        """Whether this user's role includes ROLE."""
        return includes(self.role, role)


def unauthenticated(error: str, message: str) -> ApiError:
    """A 401 that tells the client how to authenticate."""
    return ApiError(401, error, message, headers={"WWW-Authenticate": REALM})


def _invalid_token(message: str) -> ApiError:
    """The 401 for a bearer token that is malformed, unknown, expired or revoked."""
    challenge = f'{REALM}, error="invalid_token"'
    return ApiError(401, "invalid_token", message, headers={"WWW-Authenticate": challenge})


def _usable(doc: dict) -> bool:
    """Whether a stored session or token is still good: unexpired, and not one that an older
    release suspended. (Expired ones are also deleted by a TTL index, but its monitor runs once
    a minute.)"""
    return not doc.get("disabled") and doc["expires_at"] > datetime.now(UTC)


def _principal(doc: dict, via: str) -> Principal:
    """The principal of a stored session or token (only sessions have a CSRF token)."""
    return Principal(
        doc["user_id"],
        doc["username"],
        doc["role"],
        via,
        doc["_id"],
        doc.get("csrf_token"),
        doc["expires_at"],
        int(doc.get("user_version") or 0),
    )


def _stored(collection: str, key: str, via: str) -> Principal | None:
    """The principal of the live session or token stored under KEY, or None: one read by _id,
    or none while this replica's credential cache holds it."""
    cache = _cache()
    cached = cache.get(key)
    if isinstance(cached, Principal) and cached.expires_at > datetime.now(UTC):
        return cached
    read_at = time.monotonic()
    doc = get_db()[collection].find_one({"_id": key})
    if doc is None or not _usable(doc):
        return None
    who = _principal(doc, via)
    cache.put(key, who, read_at)
    return who


def _from_token(header: str) -> Principal:
    """The principal of an Authorization header; 401 for anything but a good bearer token."""
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not _TOKEN_RE.fullmatch(token):
        raise _invalid_token(f"send Authorization: Bearer {TOKEN_PREFIX}... (an API token)")
    who = _stored(API_TOKENS, digest(token), "token")
    if who is None:
        raise _invalid_token("the token is unknown, expired or revoked")
    return who


def _from_session(cookie: str) -> Principal | None:
    """The principal of a session cookie, or None if it names no live session."""
    if not _SESSION_RE.fullmatch(cookie):
        return None
    return _stored(SESSIONS, digest(cookie), "session")


def principal() -> Principal | None:
    """Who this request acts for (None: anonymous), read once per request.

    A malformed or unknown bearer token is a 401 at once; a dead session cookie is anonymous
    (the answer then clears it).
    """
    if "principal" not in g:
        header = request.headers.get("Authorization")
        if header is not None:
            g.principal = _from_token(header)
        else:
            cookie = request.cookies.get(SESSION_COOKIE)
            g.principal = _from_session(cookie) if cookie is not None else None
            g.stale_cookie = cookie is not None and g.principal is None
    return g.principal


def _scheme() -> str:
    """The scheme the browser used: nginx's X-Forwarded-Proto, else this request's own."""
    return request.headers.get("X-Forwarded-Proto", request.scheme)


def secure_request() -> bool:
    """Whether the page came over HTTPS."""
    return _scheme() == "https"


def clear_cookie(response: Response) -> Response:
    """Tell the browser to forget the session cookie."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=secure_request(), httponly=True, samesite="Lax"
    )
    return response


def _forget_stale_cookie(response: Response) -> Response:
    """A cookie that named no live session is cleared by whatever answer follows."""
    if g.get("stale_cookie"):
        clear_cookie(response)
    return response


# The API's answers that are the same for everyone and hold no secret; every other /api answer
# (attendees, sessions with their CSRF token, new tokens' secrets, users, audit) is no-store.
PUBLIC_API_PATHS = ("/api/openapi.json", "/api/docs")


def _no_store(response: Response) -> Response:
    """Keep what a user sees under /api out of every cache (browser, proxy, disk)."""
    path = request.path
    if path.startswith("/api/") and not path.startswith(PUBLIC_API_PATHS):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _cache() -> CredentialCache:
    """This application's credential cache."""
    return current_app.extensions["credential_cache"]


@contextmanager
def revocation(exclusive: bool = True) -> Iterator[None]:
    """Around a view's change that ends or changes credentials: it answers only once no
    replica trusts what it ended. EXCLUSIVE (a revocation any user may make): 429 if this
    replica is already waiting out another one."""
    try:
        with _cache().revoking(exclusive):
            yield
    except RevocationBusy:
        raise ApiError(
            429,
            "revocation_busy",
            "another sign-out or revocation is in progress here; retry in a moment",
            headers={"Retry-After": "1"},
        ) from None


def init_app(app: Flask) -> None:
    """Give the app its credential cache, which learns of revocations from the database; clear
    dead session cookies on the way out."""
    settings = app.config["SETTINGS"]
    holder = app.extensions["mongo"]  # db.init_app ran first
    app.extensions["credential_cache"] = CredentialCache(
        settings.credential_cache_seconds,
        lambda: read_generation(holder.database()),
    )
    app.after_request(_forget_stale_cookie)
    app.after_request(_no_store)


def own_origin() -> str:
    """This site's origin as the browser sees it: the scheme nginx was reached by, and Host."""
    return f"{_scheme()}://{request.host}"


def check_same_site() -> None:
    """403 for a browser request that another site's page made (Origin, Sec-Fetch-Site).

    Clients that send neither header (curl, scripts) pass; they carry no ambient cookie of a
    victim's, and cookie-authenticated writes need the CSRF token anyway.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if (fetch_site is not None and fetch_site not in ("same-origin", "none")) or (
        origin is not None and origin != own_origin()
    ):
        raise ApiError(403, "cross_site_request", "requests from another site's pages are refused")


def _check_csrf(who: Principal) -> None:
    """A cookie-authenticated write: same site, and the session's CSRF token in its header."""
    check_same_site()
    sent = request.headers.get(CSRF_HEADER, "")
    if not (who.csrf_token and hmac.compare_digest(sent.encode(), who.csrf_token.encode())):
        raise ApiError(
            403,
            "csrf_token_missing",
            f"send the session's CSRF token (GET /api/session) in the {CSRF_HEADER} header",
        )


def authorize(role: str) -> Principal:
    """The principal of this request if it may act as ROLE: 401 without one, 403 with a role
    that may not (or a cookie-authenticated write without its CSRF token)."""
    who = principal()
    if who is None:
        raise unauthenticated(
            "authentication_required",
            "sign in (POST /api/session) or send Authorization: Bearer <API token>",
        )
    if who.via == "session" and request.method not in SAFE_METHODS:
        _check_csrf(who)
    if not who.may(role):
        raise ApiError(
            403, "forbidden", f"the {who.role} role may not do this; it needs {role} or above"
        )
    return who


def require(role: str) -> Callable:
    """A view decorator: the view runs only for a principal who may act as ROLE."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args, **kwargs):
            authorize(role)
            return view(*args, **kwargs)

        return guarded

    return decorate


def actor() -> Principal:
    """The principal of a request that has been authorized already."""
    who = g.get("principal")
    assert who is not None, "actor() before authorize()"
    return who


def client_address(hops: int) -> str:
    """The client's address: the entry HOPS places from the end of X-Forwarded-For (the one
    the nearest trusted proxy wrote), or the peer's address."""
    if hops:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= hops:
            return forwarded[-hops][:64]
    return request.remote_addr or "-"
