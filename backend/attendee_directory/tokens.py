"""API tokens at /api/tokens: a signed-in user creates, lists and revokes their own.

A token is shown once, when created; the database keeps only its digest (auth.py). It acts with
its owner's role (and follows role changes); disabling the owner or setting their password ends
it for good. Admins list and revoke any user's tokens at /api/users/<name>/tokens (users.py).
"""

from flask import Blueprint, Response, current_app, jsonify

from . import accounts
from .auth import VIEWER, actor, require, revocation
from .db import get_db
from .errors import ApiError
from .requests_json import validated
from .schemas import TokenIn

bp = Blueprint("tokens", __name__, url_prefix="/api/tokens")


@bp.post("")
@require(VIEWER)
def create_token() -> tuple:
    """Create a token for the signed-in user: 201 with the secret, shown this once."""
    body = validated(TokenIn)
    days = min(body.days, current_app.config["SETTINGS"].token_max_days)
    who = actor()
    database = get_db()
    secret, token = accounts.create_token(database, who.user_id, body.name, days, who.user_version)
    accounts.audit_token(database, "token.create", token, (who.username, who.via))
    return jsonify(token=secret, **accounts.token_json(token)), 201


@bp.get("")
@require(VIEWER)
def list_tokens() -> Response:
    """The signed-in user's tokens (never their secrets)."""
    return jsonify(items=accounts.list_tokens(get_db(), actor().user_id))


@bp.delete("/<token_id>")
@require(VIEWER)
def revoke_token(token_id: str) -> tuple[str, int]:
    """Revoke one of the signed-in user's tokens: 204, or 404 if they have none with that id."""
    who = actor()
    database = get_db()
    with revocation():
        token = accounts.revoke_token(database, who.user_id, token_id)
        if token is None:
            raise ApiError(404, "token_not_found", "you have no token with this id")
    accounts.audit_token(database, "token.revoke", token, (who.username, who.via))
    return "", 204
