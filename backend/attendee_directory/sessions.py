"""Browser sessions at /api/session: sign in (POST), who is signed in (GET), sign out (DELETE).

Sign-in answers the same way, in the same time, for an unknown username and a wrong password,
and is throttled per account and per address (signin_throttle.py). The cookie is HttpOnly,
SameSite=Lax, Secure when the page came over HTTPS, and lives as long as the session.
"""

from flask import Blueprint, Response, current_app, jsonify

from . import accounts, audit_log, passwords, signin_throttle
from .auth import (
    SESSION_COOKIE,
    check_same_site,
    clear_cookie,
    client_address,
    principal,
    revocation,
    secure_request,
    unauthenticated,
)
from .db import get_db
from .documents import iso
from .errors import ApiError
from .metrics import SIGNINS
from .requests_json import validated
from .schemas import SignIn

bp = Blueprint("sessions", __name__, url_prefix="/api/session")


def _answer(who_user: dict, via: str, csrf_token: str | None, expires_at) -> Response:
    """The session's JSON: the user, how they are signed in, the CSRF token, the expiry."""
    return jsonify(
        user={"username": who_user["username"], "role": who_user["role"]},
        via=via,
        csrf_token=csrf_token,
        expires_at=iso(expires_at),
    )


@bp.post("")
def sign_in() -> Response:
    """Check a username and password; 200 with a session cookie, 401 if they do not match."""
    check_same_site()  # no signing a victim in to the attacker's account from another site
    body = validated(SignIn)
    if passwords.too_long(body.password):
        raise ApiError(
            422,
            "validation_failed",
            "some fields are invalid",
            {"password": f"at most {passwords.MAX_PASSWORD_BYTES} bytes"},
        )
    settings = current_app.config["SETTINGS"]
    database = get_db()
    key = accounts.username_key(body.username)
    address = client_address(settings.forwarded_hops)
    attempt = signin_throttle.begin(
        database, signin_throttle.keys_for(database, settings, key, address), settings
    )
    if attempt.wait > 0:
        _record_signin(database, key, "signin.locked", address, attempt.locked_now)
        raise ApiError(
            429,
            "too_many_attempts",
            "too many failed sign-ins; wait before trying again",
            headers={"Retry-After": signin_throttle.retry_after(attempt.wait)},
        )
    user = accounts.find_user(database, body.username)
    matched, rehash = passwords.verify(user["password_hash"] if user else None, body.password)
    if not matched or user is None or user["disabled"]:
        locked = signin_throttle.failed(database, attempt, settings)
        _record_signin(database, key, "signin.failure", address, locked)
        raise unauthenticated("invalid_credentials", "the username or password is wrong")
    if rehash:
        accounts.set_password_hash(database, user, rehash)
        user = {**user, "password_hash": rehash}
    try:
        secret, session = accounts.open_session(database, user, settings.session_lifetime_seconds)
    except accounts.CredentialsChanged:
        _record_signin(database, key, "signin.failure", address, [])
        raise unauthenticated("invalid_credentials", "the username or password is wrong") from None
    signin_throttle.succeeded(database, attempt, key, address)
    _record_signin(database, key, "signin.success", address, [])
    response = _answer(user, "session", session["csrf_token"], session["expires_at"])
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=settings.session_lifetime_seconds,
        path="/",
        secure=secure_request(),
        httponly=True,
        samesite="Lax",
    )
    return response


def _record_signin(
    database, username_key: str, action: str, address: str, locked: list[str]
) -> None:
    """Count a sign-in attempt by outcome, and audit it: who was tried, from where (never the
    password), and a `signin.locked` entry for the locks it set. Attempts refused while locked
    are counted but not entered one by one (an attacker would fill the trail)."""
    target = ("user", username_key)
    where = {"address": {"to": address}}
    SIGNINS.labels(action.partition(".")[2]).inc()
    if action != "signin.locked":
        audit_log.record(database, username_key, "session", action, target, where)
    if locked:
        # pair: this account from this address; address; account: from unknown addresses.
        kinds = sorted(key.partition(":")[0] for key in locked)
        changes = {**where, "locked": {"to": kinds}}
        audit_log.record(database, username_key, "session", "signin.locked", target, changes)


@bp.get("")
def current() -> Response:
    """Who is signed in (by cookie or token); 401 if nobody."""
    who = principal()
    if who is None:
        raise unauthenticated("authentication_required", "nobody is signed in")
    user = {"username": who.username, "role": who.role}
    return _answer(user, who.via, who.csrf_token, who.expires_at)


@bp.delete("")
def sign_out() -> Response:
    """End this browser's session, on every replica at once; 204 even if there was none."""
    who = principal()
    if who is not None and who.via == "session":
        check_same_site()  # a cross-site page cannot sign the user out either
        with revocation():
            accounts.end_session(get_db(), who.credential)
    return clear_cookie(Response(status=204))
