"""Browser sessions at /api/session: sign in (POST), who is signed in (GET), sign out (DELETE).

Sign-in answers the same way, in the same time, for an unknown username and a wrong password,
and is throttled per account and per address (signin_throttle.py). The cookie is HttpOnly,
SameSite=Lax, Secure when the page came over HTTPS, and lives as long as the session.
"""

from flask import Blueprint, Response, current_app, jsonify

from . import accounts, passwords, signin_throttle
from .auth import (
    SESSION_COOKIE,
    check_same_site,
    clear_cookie,
    client_address,
    principal,
    secure_request,
    unauthenticated,
)
from .db import get_db
from .documents import iso
from .errors import ApiError
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
    keys = signin_throttle.keys_for(settings, key, client_address(settings.forwarded_hops))
    wait = signin_throttle.locked_for(database, keys)
    if wait > 0:
        raise ApiError(
            429,
            "too_many_attempts",
            "too many failed sign-ins; wait before trying again",
            headers={"Retry-After": signin_throttle.retry_after(wait)},
        )
    signin_throttle.count_attempt(database, keys, settings)
    user = accounts.find_user(database, body.username)
    matched, rehash = passwords.verify(user["password_hash"] if user else None, body.password)
    if not matched or user is None or user["disabled"]:
        raise unauthenticated("invalid_credentials", "the username or password is wrong")
    signin_throttle.succeeded(database, keys)
    if rehash:
        accounts.set_password_hash(database, user, rehash)
    secret, session = accounts.open_session(database, user, settings.session_lifetime_seconds)
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
        accounts.end_session(get_db(), who.credential)
    return clear_cookie(Response(status=204))
