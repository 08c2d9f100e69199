"""The users: stored in the `users` collection, unique by case-folded username, with a role.

Every session and API token carries a copy of its user's name, role and credential version, so
that a request is checked with one read (auth.py). Every change to a user's role, access or
password bumps the version, and the functions here bring the copies in step in the same call: a
new role applies to open sessions and tokens at once; disabling a user or setting a password
ends all their sessions and tokens for good (enabling them again brings none back). A session or
token is created only if the user's version is, after the insert, the one it was copied from:
a sign-in that raced a change never outlives it.
"""

import logging
import unicodedata
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from . import audit_log, passwords
from .collection_names import API_TOKENS, META, SESSIONS, USERS
from .credentials import ADMIN, ROLES, TOKEN_PREFIX, digest, new_secret
from .documents import iso
from .errors import ApiError

log = logging.getLogger(__name__)

# The most API tokens one user may hold at once: enough for any script, and a bound on what a
# stolen session can create.
MAX_TOKENS_PER_USER = 50
USER_FIELDS = ("role", "disabled")
# The meta document whose number every revocation bumps (credentials.CredentialCache).
GENERATION_ID = "credential_generation"
# A sign-in or token creation that raced a role change tries again this many times.
CREATE_ATTEMPTS = 3


class CredentialsChanged(Exception):
    """The user changed while a credential was being made for them, and may no longer have it."""


def username_key(username: str) -> str:
    """The form a username is unique in: NFKC case fold (`Admin` and `ADMIN` are one user)."""
    return unicodedata.normalize("NFKC", username).casefold()


def prepare(database: Database) -> None:
    """The indexes of users, sessions and tokens; sessions and tokens expire by TTL too."""
    database[USERS].create_index([("username_key", ASCENDING)], unique=True, name="username_key")
    for name in (SESSIONS, API_TOKENS):
        database[name].create_index([("user_id", ASCENDING)], name="user_id")
        database[name].create_index(
            [("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl"
        )
    database[API_TOKENS].create_index([("token_id", ASCENDING)], unique=True, name="token_id")


def to_json(user: dict) -> dict:
    """A user as admins see it: never the hash."""
    return {
        "username": user["username"],
        "role": user["role"],
        # bool(): the stand-in gives back a boolean written with $set as 0 or 1 (standin.py).
        "disabled": bool(user["disabled"]),
        "created_at": iso(user["created_at"]),
        "updated_at": iso(user["updated_at"]),
    }


def _password_problem(password: str) -> str | None:
    """Why PASSWORD may not be set, or None."""
    if passwords.too_long(password):
        return f"at most {passwords.MAX_PASSWORD_BYTES} bytes"
    if len(password) < passwords.MIN_PASSWORD_CHARACTERS:
        return f"at least {passwords.MIN_PASSWORD_CHARACTERS} characters"
    return None


def _refuse_password(password: str) -> None:
    """422 naming the password field, for a password that may not be set."""
    problem = _password_problem(password)
    if problem:
        raise ApiError(422, "validation_failed", "some fields are invalid", {"password": problem})


def find_user(database: Database, username: str) -> dict | None:
    """The user called USERNAME (any case), or None."""
    return database[USERS].find_one({"username_key": username_key(username)})


def _user_or_404(database: Database, username: str) -> dict:
    """The user called USERNAME, or 404."""
    user = find_user(database, username)
    if user is None:
        raise ApiError(404, "user_not_found", f"no user called {username!r}")
    return user


def create_user(
    database: Database, username: str, password: str, role: str, actor: tuple[str, str]
) -> dict:
    """Create a user; 409 if the name is taken (in any case), 422 for a weak password.

    ACTOR is (username, via) for the audit trail.
    """
    if role not in ROLES:
        raise ApiError(422, "validation_failed", "some fields are invalid", {"role": "unknown"})
    _refuse_password(password)
    now = datetime.now(UTC)
    key = username_key(username)
    user = {
        "_id": ObjectId(),
        "username": username,
        "username_key": key,
        "password_hash": passwords.hash_password(password),
        "role": role,
        "disabled": False,
        "credential_version": 0,
        "created_at": now,
        "updated_at": now,
    }
    try:
        database[USERS].insert_one(user)
    except DuplicateKeyError:
        raise ApiError(
            409, "username_taken", f"a user called {username!r} exists", {"username": "taken"}
        ) from None
    audit_log.record(database, *actor, "user.create", ("user", key), {"role": {"to": role}})
    return user


def ensure_first_admin(database: Database, username: str, password: str) -> bool:
    """Create the admin USERNAME on first start, unless such a user exists; True if created."""
    if find_user(database, username) is not None:
        return False
    try:
        create_user(database, username, password, ADMIN, ("startup", "startup"))
    except ApiError as exc:
        if exc.status == 409:
            return False  # another replica created it a moment ago
        raise
    log.info("created the first admin, %r, from ADMIN_PASSWORD", username)
    return True


def _enabled_admins(database: Database) -> int:
    """How many admins can sign in."""
    return database[USERS].count_documents({"role": ADMIN, "disabled": False})


def version_of(doc: dict, field: str = "credential_version") -> int:
    """A user's credential version (or the one a session or token copied): 0 before versions."""
    return int(doc.get(field) or 0)


def read_generation(database: Database) -> object:
    """The number every revocation bumps (None before the first one)."""
    doc = database[META].find_one({"_id": GENERATION_ID})
    return None if doc is None else doc.get("value")


def _bump_generation(database: Database) -> None:
    """Tell every replica's credential cache that a credential was ended or changed."""
    database[META].update_one({"_id": GENERATION_ID}, {"$inc": {"value": 1}}, upsert=True)


def update_user(
    database: Database,
    username: str,
    changes: dict,
    actor: tuple[str, str],
) -> dict:
    """Apply CHANGES (role, disabled, password) to a user, and to their sessions and tokens.

    409 for a change that would leave no enabled admin, or that an admin makes to their own
    role or access (another admin must do that, so nobody locks themselves out by mistake).
    """
    user = _user_or_404(database, username)
    if "password" in changes:
        _refuse_password(changes["password"])
    demoted = changes.get("role", ADMIN) != ADMIN or changes.get("disabled") is True
    admin_lost = user["role"] == ADMIN and not user["disabled"] and demoted
    if user["role"] == ADMIN and demoted:
        if user["username_key"] == username_key(actor[0]):
            raise ApiError(
                409, "own_account", "an admin cannot demote or disable themselves; ask another"
            )
        if admin_lost and _enabled_admins(database) <= 1:
            raise ApiError(409, "last_admin", "this is the last enabled admin")
    update: dict = {key: changes[key] for key in USER_FIELDS if key in changes}
    if "password" in changes:
        update["password_hash"] = passwords.hash_password(changes["password"])
    updated = database[USERS].find_one_and_update(
        {"_id": user["_id"]},
        {"$set": update, "$inc": {"credential_version": 1}, "$currentDate": {"updated_at": True}},
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        raise ApiError(404, "user_not_found", f"no user called {username!r}")
    if admin_lost and _enabled_admins(database) < 1:
        # Two admins demoted each other at once: each sees the other's change here, so at
        # least the later one undoes its own, and an enabled admin always remains.
        _undo(database, user, updated)
        raise ApiError(409, "last_admin", "this is the last enabled admin")
    _follow(database, updated, changes)
    recorded = audit_log.changes_between(user, {**user, **update}, USER_FIELDS)
    if "password" in changes:
        recorded["password"] = {"to": "(changed)"}
    audit_log.record(database, *actor, "user.update", ("user", user["username_key"]), recorded)
    return updated


def _undo(database: Database, before: dict, after: dict) -> None:
    """Put back what update_user changed, unless the user has been changed again since."""
    restore = {key: before[key] for key in (*USER_FIELDS, "password_hash")}
    database[USERS].update_one(
        {"_id": before["_id"], "credential_version": version_of(after)},
        {"$set": restore, "$inc": {"credential_version": 1}},
    )


def _follow(database: Database, user: dict, changes: dict) -> None:
    """Bring the user's sessions and tokens in step with USER as CHANGES left it."""
    owned = {"user_id": str(user["_id"])}
    if changes.get("disabled") is True or "password" in changes:
        for name in (SESSIONS, API_TOKENS):
            database[name].delete_many(owned)
    version = version_of(user)
    # Only copies older than this change: of two changes racing, the later one's copy stays.
    for name in (SESSIONS, API_TOKENS):
        for older in ({"$lt": version}, {"$exists": False}):
            database[name].update_many(
                {**owned, "user_version": older},
                {"$set": {"role": user["role"], "user_version": version}},
            )
    _bump_generation(database)


def list_users(database: Database, skip: int, limit: int) -> tuple[list[dict], int]:
    """A page of users by name, and how many there are."""
    users = database[USERS]
    found = users.find({}).sort([("username_key", ASCENDING)]).skip(skip).limit(limit)
    return list(found), users.count_documents({})


def set_password_hash(database: Database, user: dict, new_hash: str) -> None:
    """Store a rehash of the same password (new parameters): sessions stay. Not over a password
    set meanwhile."""
    database[USERS].update_one(
        {"_id": user["_id"], "password_hash": user["password_hash"]},
        {"$set": {"password_hash": new_hash}},
    )


def _credential(user: dict, lifetime: timedelta) -> dict:
    """What a session and a token both store: the user's copy and the expiry."""
    now = datetime.now(UTC)
    return {
        "user_id": str(user["_id"]),
        "username": user["username"],
        "role": user["role"],
        "user_version": version_of(user),
        "created_at": now,
        "expires_at": now + lifetime,
    }


def _insert_checked(database: Database, collection: str, user: dict, make) -> tuple[dict, dict]:
    """Insert MAKE(user) into COLLECTION only if the user is, after the insert, still as read.

    A change racing the insert either sees the new document (and sweeps or updates it) or
    bumps the version before our second read (and the document is deleted here). A change of
    role alone makes us try again with the user as they are now; anything else (disabled, a new
    password) raises CredentialsChanged. Returns the document and the user it copied.
    """
    for _ in range(CREATE_ATTEMPTS):
        doc = make(user)
        database[collection].insert_one(doc)
        now = database[USERS].find_one({"_id": user["_id"]})
        if now is not None and version_of(now) == version_of(user):
            return doc, user
        database[collection].delete_one({"_id": doc["_id"]})
        if now is None or now["disabled"] or now["password_hash"] != user["password_hash"]:
            break
        user = now
    raise CredentialsChanged


def open_session(database: Database, user: dict, lifetime_seconds: int) -> tuple[str, dict]:
    """Start a session for USER as read before the password check: the cookie's secret, and
    the stored session; CredentialsChanged if the user changed meanwhile."""
    secret = new_secret()

    def make(current: dict) -> dict:
        return {
            "_id": digest(secret),
            "csrf_token": new_secret(),
            **_credential(current, timedelta(seconds=lifetime_seconds)),
        }

    session, _ = _insert_checked(database, SESSIONS, user, make)
    return secret, session


def end_session(database: Database, credential: str) -> None:
    """End one session (sign-out)."""
    database[SESSIONS].delete_one({"_id": credential})
    _bump_generation(database)


def create_token(
    database: Database, user_id: str, name: str, days: int, user_version: int | None = None
) -> tuple[str, dict]:
    """A new API token for the user: the secret (shown once), and the stored token. With
    USER_VERSION (that of the credential the request came with), 401 if the user changed since
    that credential was made."""
    user = database[USERS].find_one({"_id": ObjectId(user_id)})
    changed = user_version is not None and user is not None and version_of(user) != user_version
    if user is None or user["disabled"] or changed:
        raise ApiError(401, "authentication_required", "the user is gone, disabled or changed")
    tokens = database[API_TOKENS]
    if tokens.count_documents({"user_id": user_id}) >= MAX_TOKENS_PER_USER:
        raise ApiError(
            409, "token_limit", f"at most {MAX_TOKENS_PER_USER} tokens; revoke one first"
        )
    secret = TOKEN_PREFIX + new_secret()

    def make(current: dict) -> dict:
        return {
            "_id": digest(secret),
            "token_id": new_secret()[:16],
            "name": name,
            **_credential(current, timedelta(days=days)),
        }

    try:
        token, _ = _insert_checked(database, API_TOKENS, user, make)
    except CredentialsChanged:
        raise ApiError(
            401, "authentication_required", "the user is gone, disabled or changed"
        ) from None
    return secret, token


def token_json(token: dict) -> dict:
    """A token as listed: its public id, name and times."""
    return {
        "id": token["token_id"],
        "name": token["name"],
        "created_at": iso(token["created_at"]),
        "expires_at": iso(token["expires_at"]),
    }


def list_tokens(database: Database, user_id: str) -> list[dict]:
    """The user's tokens, newest first."""
    found = database[API_TOKENS].find({"user_id": user_id}).sort([("created_at", -1)])
    return [token_json(token) for token in found]


def revoke_token(database: Database, user_id: str, token_id: str) -> dict | None:
    """Delete one of the user's tokens: the token, or None if they have none with that id."""
    token = database[API_TOKENS].find_one_and_delete({"user_id": user_id, "token_id": token_id})
    if token is not None:
        _bump_generation(database)
    return token


def audit_token(database: Database, action: str, token: dict, actor: tuple[str, str]) -> None:
    """An audit entry for a token created or revoked: its owner, id and name, never its secret."""
    changes = {"token": {"to": token["token_id"]}, "name": {"to": token["name"]}}
    target = ("user", username_key(token["username"]))
    audit_log.record(database, *actor, action, target, changes)


def user_id_of(database: Database, username: str) -> tuple[str, str]:
    """The id and name key of the user called USERNAME; 404 if there is none."""
    user = _user_or_404(database, username)
    return str(user["_id"]), user["username_key"]
