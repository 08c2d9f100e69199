"""Roles and credential secrets, shared by the user store (accounts.py) and the request check
(auth.py): no Flask and no database here."""

import hashlib
import secrets

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
