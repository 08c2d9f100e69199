"""Roles, credential secrets and the credential cache, shared by the user store (accounts.py)
and the request check (auth.py): no Flask and no database here."""

import hashlib
import secrets
import threading
import time

VIEWER, EDITOR, ADMIN = "viewer", "editor", "admin"
ROLES = (VIEWER, EDITOR, ADMIN)
_RANK = {role: rank for rank, role in enumerate(ROLES)}

TOKEN_PREFIX = "vdt_"  # noqa: S105 (a prefix, not a secret)


def includes(role: str, needed: str) -> bool:
    """Whether ROLE may do what NEEDED may (viewer < editor < admin)."""
    return _RANK[role] >= _RANK[needed]


def new_secret() -> str:
    """A new random secret of 256 bits: 43 characters of the URL-safe base64 alphabet."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The stored form of a secret: its SHA-256 in hex (a random secret needs no slow hash)."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


class CredentialCache:
    """Sessions and API tokens this process checked in the last SECONDS: a client's requests
    cost one database read per SECONDS per replica instead of one each.

    Revocation stays immediate as the client sees it: whatever ends or changes a credential
    (sign-out, token revocation, a user's new role, password or disabled flag) clears this
    process's entries and then waits SECONDS before it answers (`revoked`), by which time every
    other replica has dropped the entries it read before the change. An entry's age counts from
    the moment its database read began, so a read that raced the change expires in time too.
    """

    MAX_ENTRIES = 10_000  # a bound on memory; past it the cache starts afresh

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, object]] = {}

    def get(self, key: str) -> object | None:
        """What was read under KEY less than SECONDS ago, or None."""
        found = self._entries.get(key)
        if found is None or time.monotonic() - found[0] >= self.seconds:
            return None
        return found[1]

    def put(self, key: str, value: object, read_at: float) -> None:
        """Remember VALUE under KEY, read from the database at READ_AT (time.monotonic())."""
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (read_at, value)

    def revoked(self) -> None:
        """A credential was just ended or changed in the database: forget every entry here, and
        return once every replica's entries from before the change have expired."""
        with self._lock:
            self._entries.clear()
        if self.seconds > 0:
            time.sleep(self.seconds)


CREDENTIAL_CACHE = CredentialCache()
