"""User management at /api/users, for admins: list, create, read, change role, access or
password, and list or revoke a user's API tokens. The command line does the same
(`python -m attendee_directory users`)."""

import math

from flask import Blueprint, Response, jsonify

from . import accounts
from .auth import ADMIN, actor, require, revocation
from .db import get_db
from .errors import ApiError
from .requests_json import validated, validated_query
from .schemas import PageQuery, UserIn, UserPatch

bp = Blueprint("users", __name__, url_prefix="/api/users")


def _actor() -> tuple[str, str]:
    """The signed-in admin, as the audit trail names them."""
    who = actor()
    return who.username, who.via


@bp.get("")
@require(ADMIN)
def list_users() -> Response:
    """A page of users, by name."""
    query = validated_query(PageQuery)
    found, total = accounts.list_users(get_db(), (query.page - 1) * query.per_page, query.per_page)
    return jsonify(
        items=[accounts.to_json(user) for user in found],
        total=total,
        page=query.page,
        per_page=query.per_page,
        pages=math.ceil(total / query.per_page),
    )


@bp.post("")
@require(ADMIN)
def create_user() -> tuple:
    """Create a user: 201, or 409 if the name is taken."""
    body = validated(UserIn)
    user = accounts.create_user(get_db(), body.username, body.password, body.role, _actor())
    return jsonify(accounts.to_json(user)), 201


@bp.get("/<username>")
@require(ADMIN)
def get_user(username: str) -> Response:
    """One user, by name (any case)."""
    user = accounts.find_user(get_db(), username)
    if user is None:
        raise ApiError(404, "user_not_found", f"no user called {username!r}")
    return jsonify(accounts.to_json(user))


@bp.patch("/<username>")
@require(ADMIN)
def update_user(username: str) -> Response:
    """Change a user's role, access (disabled) or password; their sessions follow at once."""
    changes = validated(UserPatch).model_dump(exclude_unset=True)
    if not changes:
        raise ApiError(422, "validation_failed", "send at least one field to change")
    with revocation(exclusive=False):  # admins only: no bound needed
        user = accounts.update_user(get_db(), username, changes, _actor())
    return jsonify(accounts.to_json(user))


@bp.get("/<username>/tokens")
@require(ADMIN)
def list_user_tokens(username: str) -> Response:
    """A user's API tokens (never their secrets), newest first."""
    user_id, _ = accounts.user_id_of(get_db(), username)
    return jsonify(items=accounts.list_tokens(get_db(), user_id))


@bp.delete("/<username>/tokens/<token_id>")
@require(ADMIN)
def revoke_user_token(username: str, token_id: str) -> tuple[str, int]:
    """Revoke one of a user's tokens: 204, or 404 if they have none with that id."""
    database = get_db()
    user_id, _ = accounts.user_id_of(database, username)
    with revocation(exclusive=False):
        token = accounts.revoke_token(database, user_id, token_id)
        if token is None:
            raise ApiError(404, "token_not_found", f"{username!r} has no token with this id")
    accounts.audit_token(database, "token.revoke", token, _actor())
    return "", 204
