"""Roles, credential secrets and the token cache, shared by the user store (accounts.py) and the
request check (auth.py): no Flask and no database here."""

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


class TokenCache:
    """API tokens this process checked in the last SECONDS: a script's requests cost one
    database read a second per replica instead of one each. Revocation, a role change or a
    disabled owner therefore reaches the other replicas within SECONDS (at once on this one:
    the changes call clear()). Sessions are not cached: a sign-out ends them everywhere at once.
    """

    MAX_ENTRIES = 10_000  # a bound on memory; past it the cache starts afresh

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, object]] = {}

    def get(self, key: str, seconds: float) -> object | None:
        """What was stored under KEY less than SECONDS ago, or None."""
        found = self._entries.get(key)
        if found is None or time.monotonic() - found[0] >= seconds:
            return None
        return found[1]

    def put(self, key: str, value: object) -> None:
        """Remember VALUE under KEY from now on."""
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (time.monotonic(), value)

    def clear(self) -> None:
        """Forget every token (a user or token changed in this process)."""
        with self._lock:
            self._entries.clear()


TOKEN_CACHE = TokenCache()
