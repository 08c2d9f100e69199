"""Roles, credential secrets and the credential cache, shared by the user store (accounts.py)
and the request check (auth.py): no Flask and no database here."""

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


class RevocationBusy(Exception):
    """This process is already waiting out a revocation; the caller should retry shortly."""


class CredentialCache:
    """Sessions and API tokens this process checked in the last SECONDS: a client's requests
    cost one database read per SECONDS per replica instead of one each.

    Revocation stays immediate as the client sees it. Whatever ends or changes a credential
    bumps a generation number in the database (accounts.py). A cached entry is trusted only
    while this process has read that number within STALE_AFTER seconds, and a new number clears
    every entry read before it was seen; the request that finds the last read too old reads it
    (one tiny read per POLL_SECONDS per process under load, none when idle). So a revocation
    only has to wait STALE_AFTER before it answers (`revoking`), and no replica trusts the
    credential after that. Of the revocations any user may make (sign-out, their own tokens),
    only one per process waits at a time: another is refused before it changes anything
    (RevocationBusy), so users can never hold more than one worker thread of a replica this way.
    """

    MAX_ENTRIES = 10_000  # a bound on memory; past it the cache starts afresh
    POLL_SECONDS = 0.05
    STALE_AFTER = 0.1

    def __init__(
        self, seconds: float = 0.0, read_generation: Callable[[], object] | None = None
    ) -> None:
        self.seconds = seconds
        self._read_generation = read_generation
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._revoking = threading.Lock()
        self._entries: dict[str, tuple[float, object]] = {}
        self._generation: object = None
        self._polled_at = float("-inf")  # when the last successful read of it began
        self._cleared_at = float("-inf")  # entries read before this are not trusted

    def _poll(self) -> bool:
        """Read the generation if the last read is older than POLL_SECONDS (unless another
        thread is reading it: nobody queues behind a slow database here); False if this process
        has not read it within STALE_AFTER (then no entry is trusted)."""
        if self._read_generation is None:
            return True
        started = time.monotonic()
        if started - self._polled_at >= self.POLL_SECONDS and self._poll_lock.acquire(
            blocking=False
        ):
            try:
                generation = self._read_generation()  # a database error reaches the caller
                with self._lock:
                    if generation != self._generation:
                        self._generation = generation
                        self._entries.clear()
                        self._cleared_at = started
                    self._polled_at = started
            finally:
                self._poll_lock.release()
        return time.monotonic() - self._polled_at < self.STALE_AFTER

    def get(self, key: str) -> object | None:
        """What was read under KEY less than SECONDS ago, or None."""
        if self.seconds <= 0 or not self._poll():
            return None
        found = self._entries.get(key)
        now = time.monotonic()
        if found is None or now - found[0] >= self.seconds or found[0] < self._cleared_at:
            return None
        return found[1]

    def put(self, key: str, value: object, read_at: float) -> None:
        """Remember VALUE under KEY, read from the database at READ_AT (time.monotonic())."""
        if self.seconds <= 0:
            return
        with self._lock:
            if read_at < self._cleared_at:
                return  # read before a revocation this process has already seen
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (read_at, value)

    @contextmanager
    def revoking(self, exclusive: bool = True) -> Iterator[None]:
        """Around a change that ends or changes credentials (and bumps the generation): forget
        every entry afterwards and return once no replica trusts an entry read before the
        change. EXCLUSIVE (what any user may do: sign out, revoke their token): refused at once
        if another such revocation is waiting here."""
        if exclusive and not self._revoking.acquire(blocking=False):
            raise RevocationBusy
        try:
            yield
            with self._lock:
                self._entries.clear()
                self._cleared_at = time.monotonic()
            if self.seconds > 0:
                time.sleep(self.STALE_AFTER)
        finally:
            if exclusive:
                self._revoking.release()
